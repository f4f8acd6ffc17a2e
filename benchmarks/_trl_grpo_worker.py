"""TRL GRPOTrainer side of ``bench_grpo.py`` (runs inside the separate TRL venv).

Prints one JSON line: seconds per optimizer step, seconds of generation per step, peak RSS.
Config: the shared reference (reference/baselines.md) ("TRL GRPOTrainer").
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import time


def boxed_int_reward(completions, answer, **_):
    """1.0 if the last \\boxed{...} holds the right integer (strict, like rlenvs Arithmetic)."""
    out = []
    for completion, gold in zip(completions, answer, strict=True):
        text = completion[0]["content"] if isinstance(completion, list) else completion
        found = re.findall(r"\\boxed\s*\{([^{}]*)\}", text)
        value = found[-1].strip().replace(",", "").replace(" ", "").replace("$", "") if found \
            else None
        out.append(1.0 if value == str(gold) else 0.0)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--prompts", required=True, help="JSON list of {question, answer}")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--mode", choices=["lora", "full"], default="lora")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(args.threads)
    rows = json.load(open(args.prompts))
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}],
                               "answer": r["answer"]} for r in rows])
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    peft_config = None
    lr = 5e-6
    if args.mode == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
        lr = 1e-4
    config = GRPOConfig(
        output_dir=args.out, per_device_train_batch_size=8, gradient_accumulation_steps=4,
        num_generations=4, max_completion_length=128, temperature=1.0, top_p=1.0, top_k=0,
        use_vllm=False, beta=0.0, loss_type="dapo", scale_rewards="group", num_iterations=1,
        epsilon=0.2, learning_rate=lr, lr_scheduler_type="constant", warmup_steps=0,
        max_grad_norm=1.0, use_cpu=True, bf16=False, fp16=False, gradient_checkpointing=False,
        max_steps=args.steps, logging_steps=1, save_strategy="no", report_to=[],
        seed=0, dataloader_num_workers=0, disable_tqdm=True,
    )
    step_times: list[float] = []
    gen_times: list[float] = []

    class Timer(TrainerCallback):
        last = None

        def on_step_begin(self, *a, **k):
            if Timer.last is None:
                Timer.last = time.perf_counter()

        def on_step_end(self, *a, **k):
            now = time.perf_counter()
            step_times.append(now - Timer.last)
            Timer.last = now

    trainer = GRPOTrainer(model=model, reward_funcs=boxed_int_reward, args=config,
                          train_dataset=data, processing_class=tok, peft_config=peft_config,
                          callbacks=[Timer()])
    original = trainer._generate_and_score_completions

    def timed(*a, **k):
        t0 = time.perf_counter()
        out = original(*a, **k)
        gen_times.append(time.perf_counter() - t0)
        return out

    trainer._generate_and_score_completions = timed
    trainer.train()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("RESULT " + json.dumps({"step_times": step_times, "generation_times": gen_times,
                                  "peak_rss_bytes": rss, "mode": args.mode,
                                  "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                                  "trainable": sum(p.numel() for p in trainer.model.parameters()
                                                   if p.requires_grad)}), flush=True)


if __name__ == "__main__":
    main()
