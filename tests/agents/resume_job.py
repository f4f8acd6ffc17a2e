"""A tiny run for the kill-and-resume tests: ``python -m tests.agents.resume_job OUT [--resume]``
(GRPO) or ``... --algo cgpo`` (multi-task CGPO: CRPG, CODPO and CRRAFT with its baseline
fallback, one task under a dense-then-binary reward schedule).

Sleeps ``--delay`` seconds after every round so the test can kill it mid-run.
"""

from __future__ import annotations

import argparse
import time

import torch

from agents import CGPOConfig, CGPOTask, CGPOTrainer, GRPOConfig, GRPOTrainer
from judges import Verdict
from tests.agents.toy_envs import register_toy_envs, tiny_policy


class Slow:
    """Sleeps ``delay`` seconds after every round."""

    delay = 0.0

    def _round(self):
        record = super()._round()  # type: ignore[misc]
        time.sleep(self.delay)
        return record


class SlowGRPOTrainer(Slow, GRPOTrainer):
    pass


class SlowCGPOTrainer(Slow, CGPOTrainer):
    pass


def exact_shout(response: str, task) -> Verdict:
    """Constraint + reward: 1 and passed only for exactly the shouted word."""
    ok = response.strip() == task["word"].upper()
    return Verdict(1.0 if ok else 0.0, ok, "exact" if ok else "not the shouted word")


def cgpo(args: argparse.Namespace) -> None:
    config = CGPOConfig(
        output_dir=args.out, max_steps=args.steps, max_completion_length=8, learning_rate=3e-4,
        save_steps=1, save_total_limit=2, progress=False, seed=7, eval_episodes=2, eval_steps=2,
        eval_max_new_tokens=4, resume_from_checkpoint=True if args.resume else None,
        generation_dtype="float32")  # (see the GRPO job)
    tasks = [
        CGPOTask("agents-test/Uppercase-v0", "crpg", num_generations=4, kl_threshold=50.0,
                 baseline_reward=0.5, name="upper"),
        CGPOTask("agents-test/Retry-v0", "codpo", num_generations=3, weight=0.5,
                 env_kwargs={"reward": {"name": "dense_then_binary", "switch_step": 3}},
                 name="retry"),
        CGPOTask("agents-test/Uppercase-v0", "crraft", judge=exact_shout, num_generations=2,
                 prompts_per_step=1, kl_threshold=50.0, baseline=lambda task: task["word"].upper(),
                 name="shout"),
    ]
    SlowCGPOTrainer.delay = args.delay
    SlowCGPOTrainer(tiny_policy(seed=1, letters_only=True), tasks, config).train()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--algo", default="grpo", choices=["grpo", "cgpo"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    register_toy_envs()
    if args.algo == "cgpo":
        cgpo(args)
        return
    config = GRPOConfig(
        output_dir=args.out, max_steps=args.steps, per_device_train_batch_size=4,
        gradient_accumulation_steps=2, num_generations=4, max_completion_length=8,
        learning_rate=3e-3, save_steps=1, save_total_limit=2, progress=False, seed=7,
        resume_from_checkpoint=True if args.resume else None, eval_episodes=2, eval_steps=2,
        eval_max_new_tokens=4,
        # "auto" is measured per process and may differ between two processes on a busy CPU;
        # the straight and the killed run must sample alike to be compared
        generation_dtype="float32",
    )
    SlowGRPOTrainer.delay = args.delay
    trainer = SlowGRPOTrainer(tiny_policy(seed=1), "agents-test/Retry-v0", config,
                              env_kwargs={"reward": {"name": "dense_then_binary",
                                                     "switch_step": 3}})
    trainer.train()


if __name__ == "__main__":
    main()
