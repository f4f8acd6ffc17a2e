"""GiGPO vs GRPO at the same budget on a multi-turn environment, over several seeds.

The environment is ``rlenvs/ArithmeticFeedback-v0`` (level-1 arithmetic, lenient answers, up to
``--max-attempts`` attempts with unary "incorrect, try again" feedback; a right answer at attempt
k earns 0.8^(k-1)): every episode that fails its first attempt lands in the same environment
state as the other failures of its task, so GiGPO's anchor-state step groups form there.

Per seed, both runs start from the same SmolLM2-135M-Instruct + LoRA weights and see the same
task seeds, sampling seed, batch sizes, learning rate and number of optimizer steps; the only
difference is the advantage: GRPO's episode-level ``A^E`` or GiGPO's ``A^E + ω·A^S``. Both use
the same normalisation (``--scale-rewards``, default ``none``: GiGPO's mean_norm and Dr. GRPO's
centring), so the comparison isolates the step-level term. Reported per run: held-out greedy
success (``eval/pass@1`` on task seeds from 10,000,000: once before, identical for every run as
LoRA starts at B = 0, and after each run), the training reward
of the last rounds, the step groups per batch (GiGPO's metrics; GRPO's rollouts are measured the
same way by recomputing them), and the wall time.

    OMP_NUM_THREADS=2 python benchmarks/bench_gigpo.py --seeds 0 1 2 --steps 4 --prompts 3 \\
        --max-completion-length 32 --eval-episodes 16 --bf16 --out benchmarks/results/gigpo.json

(what produced ``benchmarks/results/gigpo.json``: about 2 hours on two busy shared cores)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ENV = "rlenvs/ArithmeticFeedback-v0"


def run_one(algo: str, seed: int, args: argparse.Namespace, out_dir: Path,
            baseline: dict[str, Any]) -> dict[str, Any]:
    import torch

    from agents import CausalLMPolicy, LoraSettings
    from agents.algorithms.gigpo import anchor_states, gigpo_advantages
    from agents.run.metrics import read_metrics
    from agents.run.presets import make_trainer

    torch.manual_seed(seed)
    policy = CausalLMPolicy.from_embedded(lora=LoraSettings(r=16, lora_alpha=32))
    settings = dict(
        output_dir=str(out_dir / f"{algo}_seed{seed}"), overwrite_output_dir=True,
        max_steps=args.steps, learning_rate=args.lr,
        per_device_train_batch_size=args.prompts * args.num_generations,
        num_generations=args.num_generations, max_completion_length=args.max_completion_length,
        scale_rewards=args.scale_rewards, seed=seed, train_seed=seed * 100_000,
        eval_max_new_tokens=args.max_completion_length, progress=False, save_final_checkpoint=False, bf16=args.bf16)
    env_kwargs = {"max_attempts": args.max_attempts,
                  "env_kwargs": {"level": args.level, "lenient": True}}
    trainer = make_trainer("gigpo" if algo == "gigpo" else "grpo", policy, ENV, settings,
                           env_kwargs=env_kwargs)
    groups_seen: list[dict[str, float]] = []
    collect = trainer.collect

    def measured_collect(n: int) -> Any:  # step groups of every batch, for GRPO too
        trajs = collect(n)
        _, stats = gigpo_advantages([t.rewards for t in trajs],
                                    [anchor_states(t.infos) for t in trajs],
                                    [t.group for t in trajs])
        groups_seen.append(stats)
        return trajs

    trainer.collect = measured_collect
    if not baseline and args.eval_episodes:  # LoRA starts at B = 0: every run starts here
        baseline.update(trainer.evaluate(args.eval_episodes))
    started = time.perf_counter()
    summary = trainer.train()
    seconds = time.perf_counter() - started
    after = trainer.evaluate(args.eval_episodes) if args.eval_episodes else {}
    train = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]
    last = train[-args.last_rounds:]
    return {
        "algo": algo, "seed": seed, "train_seconds": round(seconds, 1),
        "eval_before": baseline.get("eval/pass@1"),
        "eval_after": after.get("eval/pass@1"),
        "eval_reward_after": after.get("eval/mean_reward"),
        "train_reward_first": train[0]["reward"],
        "train_reward_last": statistics.mean(r["reward"] for r in last),
        "train_pass_rate_last": statistics.mean(r["pass_rate"] for r in last),
        "mean_turns": statistics.mean(r["completions/mean_turns"] for r in train),
        **{f"per_batch/{k.split('/', 1)[1]}": statistics.mean(g[k] for g in groups_seen)
           for k in groups_seen[0]},
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for algo in ("grpo", "gigpo"):
        mine = [r for r in rows if r["algo"] == algo]
        if not mine:
            continue
        out[algo] = {k: round(statistics.mean(r[k] for r in mine), 4)
                     for k in mine[0] if k not in ("algo", "seed") and mine[0][k] is not None}
    paired = {}
    for key in ("eval_after", "train_reward_last"):
        diffs = []
        for seed in sorted({r["seed"] for r in rows}):
            pair = {r["algo"]: r[key] for r in rows if r["seed"] == seed}
            if pair.get("grpo") is not None and pair.get("gigpo") is not None:
                diffs.append(pair["gigpo"] - pair["grpo"])
        if diffs:
            paired[key] = {"gigpo_minus_grpo": [round(d, 4) for d in diffs],
                           "mean": round(statistics.mean(diffs), 4),
                           "stdev": round(statistics.stdev(diffs), 4) if len(diffs) > 1 else None}
    out["paired"] = paired
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--prompts", type=int, default=4, help="tasks per step")
    p.add_argument("--num-generations", type=int, default=4)
    p.add_argument("--max-completion-length", type=int, default=48)
    p.add_argument("--max-attempts", type=int, default=3)
    p.add_argument("--level", type=int, default=1)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--scale-rewards", default="none", choices=["none", "group"])
    p.add_argument("--eval-episodes", type=int, default=32)
    p.add_argument("--last-rounds", type=int, default=2)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--algos", nargs="+", default=["grpo", "gigpo"], choices=["grpo", "gigpo"])
    p.add_argument("--out", default="runs/bench_gigpo.json")
    args = p.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path("runs") / "bench_gigpo"
    rows: list[dict[str, Any]] = []
    baseline: dict[str, Any] = {}
    for seed in args.seeds:
        for algo in args.algos:
            row = run_one(algo, seed, args, work, baseline)
            rows.append(row)
            print(json.dumps(row), flush=True)
            out.write_text(json.dumps({"settings": vars(args), "runs": rows,
                                       "summary": summarise(rows)}, indent=2))
    print(json.dumps(summarise(rows), indent=2))


if __name__ == "__main__":
    main()
