"""EEPO vs plain GRPO at the same budget: the policy-entropy curve and held-out accuracy.

Both runs use the same settings (SmolLM2-135M-Instruct + LoRA, Arithmetic-v0, the same prompts
per step, ``num_generations`` rollouts per prompt, optimizer steps, seeds); EEPO samples the
second half of each group after a temporary unlearning step (``agents.trainers.eepo``). Each
(algorithm, seed) runs in its own process. Reported per step: the mean token entropy of the
trained rollouts under the policy (``entropy``), the sampled pass rate, and for EEPO its
stage metrics; per run: greedy held-out pass@1 before and after, minutes.

    python benchmarks/bench_eepo.py --seeds 0 1 --steps 12 \\
        --out benchmarks/results/eepo_vs_grpo.json --plot benchmarks/results/eepo_vs_grpo.png
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

_CHILD = """
import json, sys, time
import torch
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
from agents import CausalLMPolicy, LoraSettings
from agents.run.metrics import read_metrics
from agents.run.presets import make_trainer
policy = CausalLMPolicy.from_embedded(lora=LoraSettings(r=16, lora_alpha=32))
settings = dict(args["settings"], seed=args["seed"], train_seed=args["seed"] * 100_000,
                output_dir=args["out_dir"], overwrite_output_dir=True, progress=False)
started = time.perf_counter()
trainer = make_trainer(args["algo"], policy, args["env"], settings, env_kwargs=args["env_kwargs"])
summary = trainer.train()
records = read_metrics(summary["metrics"])
train = [r for r in records if r["kind"] == "train"]
evals = [r for r in records if r["kind"] == "eval"]
keys = ["step", "entropy", "pass_rate", "reward", "frac_reward_zero_std", "time/step",
        "eepo/forgot", "eepo/stage1_entropy", "eepo/stage1_nll", "eepo/stage2_nll",
        "eepo/stage1_distinct", "eepo/stage2_distinct"]
print("RESULT " + json.dumps({
    "algo": args["algo"], "seed": args["seed"],
    "curve": [{k: r.get(k) for k in keys if k in r} for r in train],
    "eval_before": evals[0]["eval/pass@1"] if evals else None,
    "eval_after": evals[-1]["eval/pass@1"] if evals else None,
    "minutes": (time.perf_counter() - started) / 60}), flush=True)
"""


def run(algo: str, seed: int, args: argparse.Namespace, settings: dict[str, Any],
        env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """One (algorithm, seed) run in its own process. While ``--pause-file`` exists (another
    benchmark is being measured on a shared machine) the worker is stopped (SIGSTOP) and
    resumed afterwards; ``paused_s`` says for how long (wall minutes include it)."""
    import signal
    import subprocess

    payload = json.dumps({"algo": algo, "seed": seed, "threads": args.threads,
                          "env": args.env, "env_kwargs": env_kwargs, "settings": settings,
                          "out_dir": str(Path(args.run_dir) / f"{algo}-seed{seed}")})
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, payload], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent,
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    paused = 0.0
    pause = Path(args.pause_file) if args.pause_file else None
    while proc.poll() is None:
        if pause is not None and pause.exists():
            proc.send_signal(signal.SIGSTOP)
            t0 = time.perf_counter()
            while pause.exists():
                time.sleep(5)
            proc.send_signal(signal.SIGCONT)
            paused += time.perf_counter() - t0
        time.sleep(2)
    out, err = proc.communicate()
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return {**json.loads(line[len("RESULT "):]), "paused_s": paused}
    raise RuntimeError(f"{algo} seed {seed} failed ({proc.returncode}):\n{out[-3000:]}\n"
                       f"{err[-3000:]}")


def _mean(values: list[float]) -> float:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--env", default="rlenvs/Arithmetic-v0")
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--num-generations", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=2, help="prompts per optimizer step")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--unlearning-rate", type=float, default=2e-4)
    parser.add_argument("--entropy-threshold", type=float, default=None)
    parser.add_argument("--eval-episodes", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--run-dir", default="runs/bench-eepo")
    parser.add_argument("--pause-file", default="/tmp/bench.lock",
                        help="stop the worker while this file exists ('' to never pause)")
    parser.add_argument("--out", default=None, help="results JSON")
    parser.add_argument("--plot", default=None, help="entropy/pass-rate curves PNG")
    args = parser.parse_args()

    rows = args.num_generations * args.prompts
    settings = {"max_steps": args.steps, "learning_rate": args.lr,
                "num_generations": args.num_generations, "per_device_train_batch_size": rows,
                "gradient_accumulation_steps": 1, "max_completion_length": args.max_new_tokens,
                "temperature": 1.0, "bf16": "auto", "eval_episodes": args.eval_episodes,
                "eval_max_new_tokens": 128, "save_final_checkpoint": False}
    env_kwargs = {"level": args.level, "lenient": True, "format_credit": 0.1,
                  "reward": "dense"}
    eepo = {"unlearning_rate": args.unlearning_rate,
            **({"entropy_threshold": args.entropy_threshold}
               if args.entropy_threshold is not None else {})}
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    for seed in args.seeds:
        for algo in ("grpo", "eepo"):
            r = run(algo, seed, args, {**settings, **(eepo if algo == "eepo" else {})},
                    env_kwargs)
            results.append(r)
            tail = r["curve"][-max(1, args.steps // 3):]
            print(f"{algo:5s} seed {seed}: entropy {r['curve'][0].get('entropy'):.3f} -> "
                  f"{_mean([c.get('entropy') for c in tail]):.3f} (last third), pass rate "
                  f"{_mean([c['pass_rate'] for c in tail]):.3f}, held-out "
                  f"{r['eval_before']} -> {r['eval_after']}, {r['minutes']:.1f} min", flush=True)
    summary: dict[str, Any] = {}
    for algo in ("grpo", "eepo"):
        mine = [r for r in results if r["algo"] == algo]
        third = max(1, args.steps // 3)
        summary[algo] = {
            "entropy_first": _mean([r["curve"][0].get("entropy") for r in mine]),
            "entropy_last_third": _mean([c.get("entropy") for r in mine
                                         for c in r["curve"][-third:]]),
            "entropy_mean": _mean([c.get("entropy") for r in mine for c in r["curve"]]),
            "pass_rate_last_third": _mean([c["pass_rate"] for r in mine
                                           for c in r["curve"][-third:]]),
            "eval_before": _mean([r["eval_before"] for r in mine]),
            "eval_after": _mean([r["eval_after"] for r in mine]),
            "eval_gain_per_seed": [r["eval_after"] - r["eval_before"] for r in mine
                                   if r["eval_before"] is not None],
            "minutes_mean": _mean([r["minutes"] for r in mine]),
        }
    out = {"settings": settings, "env": args.env, "env_kwargs": env_kwargs, "eepo": eepo,
           "seeds": args.seeds, "summary": summary, "runs": results,
           "total_minutes": (time.perf_counter() - started) / 60}
    print(json.dumps(summary, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        colors = {"grpo": "tab:blue", "eepo": "tab:red"}
        for r in results:
            steps = [c["step"] for c in r["curve"]]
            axes[0].plot(steps, [c.get("entropy") for c in r["curve"]], color=colors[r["algo"]],
                         alpha=0.8, label=f"{r['algo']} seed {r['seed']}")
            axes[1].plot(steps, [c["pass_rate"] for c in r["curve"]], color=colors[r["algo"]],
                         alpha=0.8, label=f"{r['algo']} seed {r['seed']}")
        axes[0].set_title("policy token entropy of the trained rollouts")
        axes[1].set_title("sampled pass rate")
        for ax in axes:
            ax.set_xlabel("optimizer step")
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
