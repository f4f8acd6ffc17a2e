"""A tiny GRPO run for the kill-and-resume test: ``python -m tests.agents.resume_job OUT [--resume]``.

Sleeps ``--delay`` seconds after every round so the test can kill it mid-run.
"""

from __future__ import annotations

import argparse
import time

import torch

from agents import GRPOConfig, GRPOTrainer
from tests.agents.toy_envs import register_toy_envs, tiny_policy


class SlowGRPOTrainer(GRPOTrainer):
    delay = 0.0

    def _round(self):  # type: ignore[override]
        record = super()._round()
        time.sleep(self.delay)
        return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    register_toy_envs()
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
