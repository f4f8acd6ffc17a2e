"""agents side of ``bench_grpo.py``: the same GRPO config as the TRL worker, in our trainer.

Prints one JSON line: seconds per optimizer step, generation seconds per step, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile

from agents.run.metrics import read_metrics


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--mode", choices=["lora", "full"], default="lora")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--generation-dtype", default="auto", choices=["auto", "bfloat16", "float32"])
    args = p.parse_args()

    import torch

    from agents import CausalLMPolicy, GRPOConfig, GRPOTrainer, LoraSettings
    from judges.llm.cpu_dtype import cpu_facts

    torch.set_num_threads(args.threads)
    lora = LoraSettings(r=16, lora_alpha=32, lora_dropout=0.0) if args.mode == "lora" else None
    policy = CausalLMPolicy.from_embedded(lora=lora)
    out = tempfile.mkdtemp(prefix="bench-agents-")
    config = GRPOConfig(
        output_dir=out, per_device_train_batch_size=8, gradient_accumulation_steps=4,
        num_generations=4, max_completion_length=128, temperature=1.0, top_p=1.0, top_k=0,
        beta=0.0, loss_type="dapo", scale_rewards="group", num_iterations=1, epsilon=0.2,
        learning_rate=1e-4 if args.mode == "lora" else 5e-6, lr_scheduler_type="constant",
        max_grad_norm=1.0, max_steps=args.steps, seed=0, progress=False,
        save_final_checkpoint=False, generation_dtype=args.generation_dtype,
    )
    # strict binary reward on 2-digit +/- problems (the baseline's "2-digit addition" family)
    trainer = GRPOTrainer(policy, "rlenvs/Arithmetic-v0", config, env_kwargs={"level": 2})
    trainer.train()
    records = [r for r in read_metrics(f"{out}/metrics.jsonl") if r["kind"] == "train"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("RESULT " + json.dumps({
        "step_times": [r["time/step"] for r in records],
        "generation_times": [r["time/generation"] for r in records],
        "peak_rss_bytes": rss, "mode": args.mode,
        "mean_length": [r["completions/mean_length"] for r in records],
        "trainable": policy.num_trainable_parameters(),
        "cpu": cpu_facts(trainer.backend.dtype),
    }), flush=True)


if __name__ == "__main__":
    main()
