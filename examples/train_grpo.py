"""Train SmolLM2-135M-Instruct with GRPO on level-1 arithmetic (CPU, a few minutes).

    python examples/train_grpo.py --steps 10 --out-dir runs/example

SmolLM2 almost never writes \\boxed{} on its own, so a strict pass/fail reward gives every GRPO
group zero variance (no gradient). The environment's dense options fix that: accept the last
number (``lenient``), give 0.1 for a boxed wrong answer (``format_credit``), and switch to the
plain binary reward after a few steps (``dense_then_binary``).
"""

from __future__ import annotations

import argparse

from agents import CausalLMPolicy, GRPOConfig, GRPOTrainer, LoraSettings
from agents.run.plot import plot_run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out-dir", default="runs/example")
    args = parser.parse_args()

    policy = CausalLMPolicy.from_embedded(lora=LoraSettings(r=16, lora_alpha=32))
    config = GRPOConfig(
        output_dir=args.out_dir,
        overwrite_output_dir=True,       # a rerun starts over (resume_from_checkpoint to continue)
        max_steps=args.steps,
        learning_rate=2e-4,
        num_generations=6,               # G completions per prompt
        per_device_train_batch_size=8,   # 8 x 3 = 24 completions = 4 prompts per step
        gradient_accumulation_steps=3,
        max_completion_length=64,
        loss_type="dapo",                # TRL's default token-level normalisation
        bf16="auto",                     # bf16 autocast where this CPU/GPU runs bf16 fast
        eval_episodes=40,                # greedy accuracy on held-out seeds, before and after
    )
    env_kwargs = {
        "level": 1,
        "lenient": True,
        "format_credit": 0.1,
        "reward": {"name": "dense_then_binary", "switch_step": max(1, args.steps // 2)},
    }
    trainer = GRPOTrainer(policy, "rlenvs/Arithmetic-v0", config, env_kwargs=env_kwargs)
    summary = trainer.train()
    before, after = summary["evals"][0], summary["evals"][-1]
    print(f"held-out greedy accuracy: {before['eval/pass@1']:.2f} -> {after['eval/pass@1']:.2f}")
    print(f"curves: {plot_run(args.out_dir)}")


if __name__ == "__main__":
    main()
