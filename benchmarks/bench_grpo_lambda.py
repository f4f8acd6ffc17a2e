"""GRPO-λ vs plain GRPO vs a plain length penalty at the same budget (issue 33): pass rate and
completion length per step, over seeds.

The three presets (``grpo``, ``length_penalty``, ``grpo_lambda``; ``agents/run/presets.py``)
run with the same settings -- SmolLM2-135M-Instruct, ``rlenvs/Arithmetic-v0``, the same prompts
per step, ``num_generations`` rollouts per prompt, optimizer steps and seeds -- and differ only
in the reward: 0/1 (GRPO), 0/1 + Kimi's length reward for every group (LP), or for the top-λ
groups by accuracy (GRPO-λ). Reported per run and step: the sampled pass rate, the mean
completion length, the share of groups under the length reward.

    python benchmarks/bench_grpo_lambda.py --seeds 0 1 --steps 8 \\
        --out benchmarks/results/grpo_lambda.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ALGOS = ("grpo", "length_penalty", "grpo_lambda")


def run(algo: str, seed: int, steps: int, prompts: int, generations: int, max_tokens: int,
        lr: float, level: int) -> dict[str, Any]:
    import torch

    from agents import CausalLMPolicy
    from agents.run.metrics import read_metrics
    from agents.run.presets import make_trainer

    torch.manual_seed(seed)
    start = time.time()
    with tempfile.TemporaryDirectory() as out:
        config = dict(output_dir=out, max_steps=steps, per_device_train_batch_size=prompts *
                      generations, num_generations=generations, max_completion_length=max_tokens,
                      learning_rate=lr, progress=False, save_final_checkpoint=False, seed=seed,
                      save_steps=0, generation_dtype="float32")
        trainer = make_trainer(algo, CausalLMPolicy.from_embedded(), "rlenvs/Arithmetic-v0",
                               config, env_kwargs={"level": level, "lenient": True})
        summary = trainer.train()
        records = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]
    return {"algo": algo, "seed": seed, "minutes": (time.time() - start) / 60,
            "pass_rate": [r["pass_rate"] for r in records],
            "mean_length": [r["completions/mean_length"] for r in records],
            "length_groups_frac": [r.get("length_reward/groups_frac") for r in records]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--prompts", type=int, default=4)
    p.add_argument("--generations", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--level", type=int, default=1)
    p.add_argument("--algos", nargs="+", default=list(ALGOS))
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    runs = []
    for seed in args.seeds:
        for algo in args.algos:
            r = run(algo, seed, args.steps, args.prompts, args.generations, args.max_tokens,
                    args.lr, args.level)
            runs.append(r)
            print(json.dumps(r), flush=True)
    for algo in args.algos:
        mine = [r for r in runs if r["algo"] == algo]
        half = max(1, args.steps // 2)
        late_pass = statistics.mean(x for r in mine for x in r["pass_rate"][-half:])
        late_len = statistics.mean(x for r in mine for x in r["mean_length"][-half:])
        first_len = statistics.mean(r["mean_length"][0] for r in mine)
        print(f"{algo:15s} last {half} steps: pass rate {late_pass:.3f}, mean length "
              f"{late_len:.1f} tokens (step 1: {first_len:.1f}), {len(mine)} seed(s)")
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)},
                                        "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
