"""Asynchronous vs synchronous GRPO at equal cores (issue 32): seconds per optimizer step.

Both runs train SmolLM2-135M-Instruct on ``rlenvs/Arithmetic-v0`` with the same settings and
seeds. *sync*: one process, ``--threads`` torch threads, rollouts then optimizer step in turn.
*sync_half* (reference): the same with ``threads // 2`` threads.
*async*: the trainer with ``threads // 2`` threads plus a rollout producer process
(``agents.run.async_rollouts``) with the other half, ``max_staleness`` rounds ahead. Reported
per run: the wall seconds of each round after the first (the first pays the producer's start-up
and has nothing to overlap), their mean, the ratio sync / async (steps per hour gained), the
producer's and trainer's idle seconds per round (where the time goes), the sampled pass rate
and, with ``--eval-episodes``, the greedy held-out accuracy at the end.

    python benchmarks/bench_async_grpo.py --seeds 0 --steps 4 \\
        --out benchmarks/results/async_grpo.json

On a machine whose cores other work also uses, the ratio says little: say so with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def run(mode: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from agents import CausalLMPolicy, GRPOConfig, GRPOTrainer
    from agents.run.metrics import read_metrics

    threads = args.threads if mode == "sync" else max(1, args.threads // 2)  # sync_half: the
    # synchronous run with the trainer's share of the cores only (on a busy machine 2 threads
    # can be slower than 1: the reference that says whether a gain is overlap or threading)
    extra: dict[str, Any] = {}
    if mode == "async":
        extra = dict(async_rollouts=True, max_staleness=args.max_staleness,
                     async_producer_threads=max(1, args.threads - threads))
    start = time.time()
    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(
            output_dir=out, max_steps=args.steps, per_device_train_batch_size=args.prompts *
            args.generations, num_generations=args.generations,
            max_completion_length=args.max_tokens, learning_rate=args.lr, progress=False,
            save_final_checkpoint=False, save_steps=0, seed=seed, torch_num_threads=threads,
            generation_dtype=args.dtype, eval_episodes=args.eval_episodes, **extra)
        trainer = GRPOTrainer(CausalLMPolicy.from_embedded(), "rlenvs/Arithmetic-v0", config,
                              env_kwargs={"level": args.level, "lenient": True})
        summary = trainer.train()
        records = read_metrics(summary["metrics"])
    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    steady = [r["time/step"] for r in train[1:]] or [train[0]["time/step"]]
    return {
        "mode": mode, "seed": seed, "trainer_threads": threads,
        "producer_threads": extra.get("async_producer_threads"),
        "minutes": (time.time() - start) / 60,
        "round_s": [r["time/step"] for r in train],
        "generation_s": [r["time/generation"] for r in train],  # async: the wait for episodes
        "train_s": [r["time/train"] for r in train],
        "s_per_step": statistics.mean(steady),
        "pass_rate": [r["pass_rate"] for r in train],
        "staleness_mean": [r.get("async/staleness_mean") for r in train],
        "producer_idle_s": [r.get("async/producer_idle_s") for r in train],
        "trainer_idle_s": [r.get("async/trainer_idle_s") for r in train],
        "generation_dtype": train[0].get("generation/dtype"),
        "held_out": [{k: v for k, v in e.items() if k.startswith("eval/")} for e in evals],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--prompts", type=int, default=2)
    p.add_argument("--generations", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--level", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="cores for either mode in all")
    p.add_argument("--max-staleness", type=int, default=1)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "auto"])
    p.add_argument("--eval-episodes", type=int, default=0)
    p.add_argument("--modes", nargs="+", default=["sync", "async"],
                   choices=["sync", "async", "sync_half"])
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    runs = []
    load_before = os.getloadavg()
    for seed in args.seeds:
        for mode in args.modes:
            r = run(mode, seed, args)
            runs.append(r)
            print(json.dumps(r), flush=True)
    by_mode = {m: statistics.mean(r["s_per_step"] for r in runs if r["mode"] == m)
               for m in args.modes}
    for m, s in by_mode.items():
        print(f"{m:6s} {s:7.2f} s per optimizer step (rounds 2..{args.steps}, "
              f"{len(args.seeds)} seed(s))")
    for ref in ("sync", "sync_half"):
        if {ref, "async"} <= by_mode.keys():
            print(f"steps per hour, async / {ref}: {by_mode[ref] / by_mode['async']:.2f}x")
    load_after = os.getloadavg()
    print(f"load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f} "
          f"on {os.cpu_count()} cores")
    if args.out:
        args.out.write_text(json.dumps({"args": {**vars(args), "out": str(args.out)},
                                        "load_before": load_before, "load_after": load_after,
                                        "s_per_step": by_mode, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
