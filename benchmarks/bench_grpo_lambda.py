"""GRPO-λ vs plain GRPO vs a plain length penalty at the same budget (issue 33): pass rate and
completion length per step, and greedy held-out accuracy and length before/after, over seeds.

The three presets (``grpo``, ``length_penalty``, ``grpo_lambda``; ``agents/run/presets.py``)
run with the same settings -- SmolLM2-135M-Instruct, ``rlenvs/Arithmetic-v0``, the same prompts
per step, ``num_generations`` rollouts per prompt, optimizer steps and seeds -- and differ only
in the reward: 0/1 (GRPO), 0/1 + Kimi's length reward for every group (LP), or for the top-λ
groups by accuracy (GRPO-λ). Reported per run and step: the sampled pass rate, the mean
completion length, the share of groups under the length reward; per run: greedy pass@1 and mean
completion length (tokens) on a fixed held-out set of task seeds (10,000,000 onwards, far from
the training seeds) before and after training, and the load averages at start and end.

Each finished run is appended as one JSON line to ``--jsonl`` at once, so a killed run keeps
what finished; ``--summarize`` folds such lines (several files: parallel jobs) into ``--out``.

    nice -n 10 python benchmarks/bench_grpo_lambda.py --seeds 0 1 2 --steps 8 \\
        --jsonl /tmp/grpo_lambda.jsonl
    python benchmarks/bench_grpo_lambda.py --summarize /tmp/grpo_lambda.jsonl \\
        --out benchmarks/results/grpo_lambda.json
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

ALGOS = ("grpo", "length_penalty", "grpo_lambda")
EVAL_SEED = 10_000_000
_BEFORE: dict[tuple, dict[str, Any]] = {}  # greedy eval of the untrained model, per setting


def held_out(trainer: Any, episodes: int, max_tokens: int, env_kwargs: dict[str, Any]
             ) -> dict[str, Any]:
    """Greedy pass@1 and mean completion length (tokens) on task seeds EVAL_SEED, +1, ..."""
    from agents.policy import PolicyChat
    from judges.llm.base import SamplingParams
    from rlenvs.evaluation import evaluate

    start = time.time()
    tok = trainer.policy.tokenizer
    result = evaluate("rlenvs/Arithmetic-v0", PolicyChat(trainer.policy, trainer.backend),
                      episodes=episodes, seed=EVAL_SEED, env_kwargs=env_kwargs, progress=False,
                      sampling=SamplingParams(temperature=0.0, max_new_tokens=max_tokens,
                                              seed=EVAL_SEED))
    lengths = [len(tok(r["messages"][-1]["content"], add_special_tokens=False)["input_ids"])
               for r in result.records]
    return {"accuracy": statistics.mean(bool(r["passed"]) for r in result.records),
            "mean_length": statistics.mean(lengths), "episodes": len(result.records),
            "seconds": time.time() - start}


def run(algo: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from agents import CausalLMPolicy
    from agents.run.metrics import read_metrics
    from agents.run.presets import make_trainer

    torch.manual_seed(seed)
    start, load_start = time.time(), os.getloadavg()
    env_kwargs = {"level": args.level, "lenient": args.lenient}
    with tempfile.TemporaryDirectory() as out:
        config = dict(output_dir=out, max_steps=args.steps,
                      per_device_train_batch_size=args.prompts * args.generations,
                      num_generations=args.generations, max_completion_length=args.max_tokens,
                      learning_rate=args.lr, temperature=args.temperature, progress=False,
                      save_final_checkpoint=False, seed=seed, save_steps=0,
                      generation_dtype="float32")
        trainer = make_trainer(algo, CausalLMPolicy.from_embedded(), "rlenvs/Arithmetic-v0",
                               config, env_kwargs=env_kwargs)
        key = (args.level, args.lenient, args.eval_episodes, args.max_tokens)
        if args.eval_episodes and args.before and key not in _BEFORE:
            # greedy decoding of the same initial weights: the same for every algo and seed
            _BEFORE[key] = held_out(trainer, args.eval_episodes, args.max_tokens, env_kwargs)
        summary = trainer.train()
        after = (held_out(trainer, args.eval_episodes, args.max_tokens, env_kwargs)
                 if args.eval_episodes else None)
        records = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]
    return {"algo": algo, "seed": seed, "minutes": (time.time() - start) / 60,
            "load_avg_start": load_start, "load_avg_end": os.getloadavg(),
            "pass_rate": [r["pass_rate"] for r in records],
            "mean_length": [r["completions/mean_length"] for r in records],
            "length_groups_frac": [r.get("length_reward/groups_frac") for r in records],
            "eval_before": _BEFORE.get(key), "eval_after": after}


def _sd(xs: list[float]) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per algo: mean and sd over seeds of the held-out numbers and the per-step curves."""
    table: dict[str, Any] = {}
    for algo in ALGOS:
        mine = sorted((r for r in runs if r["algo"] == algo), key=lambda r: r["seed"])
        if not mine:
            continue
        steps = min(len(r["pass_rate"]) for r in mine)
        half = max(1, steps // 2)
        row: dict[str, Any] = {"seeds": [r["seed"] for r in mine], "steps": steps}
        for name in ("pass_rate", "mean_length"):
            row[f"{name}_curve_mean"] = [statistics.mean(r[name][i] for r in mine)
                                         for i in range(steps)]
            first = [r[name][0] for r in mine]
            late = [statistics.mean(r[name][steps - half:steps]) for r in mine]
            row[f"{name}_first_step"] = [statistics.mean(first), _sd(first)]
            row[f"{name}_last_half"] = [statistics.mean(late), _sd(late)]
        fracs = [x for r in mine for x in r["length_groups_frac"][:steps] if x is not None]
        row["length_groups_frac_mean"] = statistics.mean(fracs) if fracs else None
        evald = [r for r in mine if r.get("eval_after")]
        if evald:
            for name in ("accuracy", "mean_length"):
                after = [r["eval_after"][name] for r in evald]
                row[f"eval_after_{name}"] = [statistics.mean(after), _sd(after)]
                before = [r["eval_before"][name] for r in runs if r.get("eval_before")]
                row[f"eval_before_{name}"] = before[0] if before else None
        table[algo] = row
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--prompts", type=int, default=4)
    p.add_argument("--generations", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--level", type=int, default=1)
    p.add_argument("--strict", dest="lenient", action="store_false",
                   help="score only \\boxed{} answers (default: lenient, the last number counts)")
    p.add_argument("--eval-episodes", type=int, default=16,
                   help="held-out greedy episodes before/after each run (0: none)")
    p.add_argument("--no-before", dest="before", action="store_false",
                   help="skip the held-out eval before training (greedy decoding of the same "
                        "initial weights: parallel jobs need it once)")
    p.add_argument("--algos", nargs="+", default=list(ALGOS))
    p.add_argument("--jsonl", type=Path, help="append one JSON line per finished run")
    p.add_argument("--summarize", type=Path, nargs="+",
                   help="only fold these JSON-lines files into --out (no training)")
    p.add_argument("--note", default="", help="free text stored in --out")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    if args.summarize:
        runs = [json.loads(line) for f in args.summarize
                for line in f.read_text().splitlines() if line.strip()]
    else:
        runs = []
        for seed in args.seeds:
            for algo in args.algos:
                r = run(algo, seed, args)
                r["settings"] = {k: v for k, v in vars(args).items()
                                 if k not in ("seeds", "algos", "jsonl", "summarize", "out",
                                              "note")}
                runs.append(r)
                print(json.dumps(r), flush=True)
                if args.jsonl:
                    with args.jsonl.open("a") as f:
                        f.write(json.dumps(r) + "\n")
    table = summarize(runs)
    for algo, row in table.items():
        line = (f"{algo:15s} {len(row['seeds'])} seed(s), {row['steps']} steps: sampled pass "
                f"{row['pass_rate_first_step'][0]:.3f} -> {row['pass_rate_last_half'][0]:.3f}, "
                f"length {row['mean_length_first_step'][0]:.1f} -> "
                f"{row['mean_length_last_half'][0]:.1f}")
        if "eval_after_accuracy" in row:
            line += (f"; held-out greedy acc {row['eval_before_accuracy']} -> "
                     f"{row['eval_after_accuracy'][0]:.3f}±{row['eval_after_accuracy'][1]:.3f}, "
                     f"length {row['eval_before_mean_length']} -> "
                     f"{row['eval_after_mean_length'][0]:.1f}")
        print(line)
    if args.out:
        settings = runs[0].get("settings", {}) if runs else {}
        args.out.write_text(json.dumps({"note": args.note, "settings": settings,
                                        "summary": table, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
