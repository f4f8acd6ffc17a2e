"""Held-out accuracy before/after the GRPO demo, over several seeds (issue 7's "done when").

Runs :func:`agents.run.demo.run_training_demo` (SmolLM2-135M-Instruct + LoRA, level-1 arithmetic,
dense-then-binary reward) once per seed, each in its own process, and reports greedy held-out
pass@1 before and after, the paired gain, its mean and standard deviation over seeds, the steps
taken, the step of the dense->binary switch and the minutes each run took.

    python benchmarks/bench_demo_seeds.py --seeds 0 1 2 --minutes 4 --eval-episodes 60 \\
        --out benchmarks/results/demo_seeds.json

Issue 20's measurement (the demo's long-budget settings; the two evaluations fit in 20 minutes)::

    python benchmarks/bench_demo_seeds.py --seeds 0 1 2 --minutes 18.5 --eval-episodes 200 \\
        --threads 2 --cpu avx2 --out benchmarks/results/demo_seeds_avx2_long.json

``--threads``: without it a busy machine at start gives a seed one thread (the demo's rule).
``--cpu avx2`` runs each seed as on an AVX2-only CPU (bf16 emulated); the CPU facts (model,
torch's capability, threads, the dtypes chosen) are recorded with every row.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from _cpu import add_cpu_argument, cpu_env  # this folder is on sys.path when run as a script

_CHILD = """
import json, sys
from agents.run.demo import run_training_demo
args = json.loads(sys.argv[1])
from judges.llm.cpu_dtype import cpu_facts, resolve_dtype
result = run_training_demo(args["out_dir"], minutes=args["minutes"], seed=args["seed"],
                           eval_episodes=args["eval_episodes"], progress=False,
                           threads=args["threads"])
result["cpu"] = cpu_facts(resolve_dtype("auto"))
print("RESULT " + json.dumps(result, default=str), flush=True)
"""


def run_seed(seed: int, minutes: float, eval_episodes: int, out_dir: Path,
             threads: int | None, cpu: str = "native") -> dict[str, Any]:
    payload = json.dumps({"out_dir": str(out_dir / f"seed-{seed}"), "minutes": minutes,
                          "seed": seed, "eval_episodes": eval_episodes, "threads": threads})
    from bench_grpo import run_worker  # this folder is on sys.path when run as a script

    return run_worker([sys.executable, "-c", _CHILD, payload],
                      {**os.environ, "TOKENIZERS_PARALLELISM": "false", **cpu_env(cpu)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--eval-episodes", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--run-dir", default="runs/demo-seeds")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    add_cpu_argument(parser)
    args = parser.parse_args()

    rows = []
    print(f"{'seed':>4} {'before':>7} {'after':>7} {'gain':>6} {'steps':>5} {'switch':>6} "
          f"{'minutes':>7}", flush=True)
    for seed in args.seeds:
        r = run_seed(seed, args.minutes, args.eval_episodes, Path(args.run_dir), args.threads,
                     args.cpu)
        gain = r["accuracy_after"] - r["accuracy_before"]
        rows.append({"seed": seed, "before": r["accuracy_before"], "after": r["accuracy_after"],
                     "gain": gain, "steps": r["steps"], "switched_at": r.get("switched_at"),
                     "minutes": r["minutes"], "threads": r.get("threads"),
                     "plot": r.get("plot"), "cpu": r.get("cpu")})
        print(f"{seed:>4} {r['accuracy_before']:>7.3f} {r['accuracy_after']:>7.3f} "
              f"{gain:>+6.3f} {r['steps']:>5} {str(r.get('switched_at')):>6} "
              f"{r['minutes']:>7.1f}", flush=True)
    gains = [r["gain"] for r in rows]
    summary = {
        "seeds": args.seeds, "train_minutes": args.minutes, "eval_episodes": args.eval_episodes,
        "before_mean": statistics.mean(r["before"] for r in rows),
        "after_mean": statistics.mean(r["after"] for r in rows),
        "gain_mean": statistics.mean(gains),
        "gain_std": statistics.stdev(gains) if len(gains) > 1 else 0.0,
        "rows": rows,
    }
    print(f"\nbefore {summary['before_mean']:.3f}  after {summary['after_mean']:.3f}  "
          f"gain {summary['gain_mean']:+.3f} ± {summary['gain_std']:.3f} (std over seeds)")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
