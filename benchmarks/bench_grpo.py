"""Seconds per GRPO optimizer step and peak memory: agents' GRPOTrainer vs TRL's GRPOTrainer.

The config is the one in the shared reference (reference/baselines.md): SmolLM2-135M-Instruct,
per_device_train_batch_size=8, gradient_accumulation_steps=4, num_generations=4 (8 prompts x 4 =
32 completions per step), max_completion_length=128, T=1.0, top_p=1, top_k=0, beta=0,
loss_type="dapo", scale_rewards="group", num_iterations=1, epsilon=0.2, constant lr, no warm-up,
max_grad_norm=1, fp32 training, no gradient checkpointing; LoRA r=16/alpha=32/all-linear at
lr 1e-4 (``--mode lora``) or full fine-tuning at lr 5e-6 (``--mode full``). Reward: 1 if the last
\\boxed{} holds the right integer, on 2-digit +/- problems.

Each side runs in its own fresh process (TRL in a separate venv: ``--trl-python``), one after the
other, ``--rounds`` times alternating, and reports per-step wall times, the generation share,
and the process's peak RSS. Our generation uses our sampler in its default ``dtype="auto"`` (bf16
where the CPU runs it natively, else fp32; TRL generates with the fp32 training model, as it does
on CPU); everything else is the same. ``--cpu avx2`` runs both sides as on an AVX2-only CPU (torch
and oneDNN limited to AVX2, bf16 emulated); the result records each side's CPU facts.

    python benchmarks/bench_grpo.py --steps 4 --mode lora --threads 1 --cpu avx2 \\
        --out benchmarks/results/grpo_lora_avx2.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _cpu import add_cpu_argument, cpu_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def make_prompts(n: int) -> list[dict[str, str]]:
    import rlenvs

    env = rlenvs.make("rlenvs/Arithmetic-v0", level=2)
    rows = []
    for seed in range(n):
        obs, info = env.reset(seed=seed)
        rows.append({"prompt": obs[-1]["content"], "answer": info["task"]["answer"]})
    return rows


def run_worker(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"worker failed ({proc.returncode}): {' '.join(cmd)}\n"
                       f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def summarize(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    steps = [t for r in runs for t in r["step_times"][1:]] or \
        [t for r in runs for t in r["step_times"]]
    gens = [t for r in runs for t in r["generation_times"][1:]] or \
        [t for r in runs for t in r["generation_times"]]
    per_step_gen = statistics.median(gens) if gens else float("nan")
    return {"name": name, "median_step_s": statistics.median(steps),
            "min_step_s": min(steps), "max_step_s": max(steps),
            "median_generation_s": per_step_gen,
            "peak_rss_gb": max(r["peak_rss_bytes"] for r in runs) / 1e9,
            "steps_measured": len(steps), "trainable": runs[0].get("trainable")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per run "
                        "(the first is reported apart as warm-up)")
    parser.add_argument("--mode", choices=["lora", "full"], default="lora")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="alternating runs per side")
    parser.add_argument("--trl-python", default=sys.executable,
                        help="python with trl installed (default: this one)")
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--generation-dtype", default="auto",
                        choices=["auto", "bfloat16", "float32"], help="our sampler's dtype")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    add_cpu_argument(parser)
    args = parser.parse_args()

    from judges.llm.embedded import embedded_model_dir

    model_dir = embedded_model_dir()
    import os

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false",
           **cpu_env(args.cpu)}
    with tempfile.TemporaryDirectory() as tmp:
        prompts = Path(tmp) / "prompts.json"
        prompts.write_text(json.dumps(make_prompts(max(64, args.steps * 8 * 2))))
        ours_cmd = [sys.executable, str(HERE / "_agents_grpo_worker.py"), "--steps",
                    str(args.steps), "--mode", args.mode, "--threads", str(args.threads),
                    "--generation-dtype", args.generation_dtype]
        trl_cmd = [args.trl_python, str(HERE / "_trl_grpo_worker.py"), "--model", str(model_dir),
                   "--prompts", str(prompts), "--steps", str(args.steps), "--mode", args.mode,
                   "--threads", str(args.threads), "--out", str(Path(tmp) / "trl-out")]
        ours_runs, trl_runs = [], []
        for r in range(args.rounds):
            print(f"round {r + 1}: agents ...", flush=True)
            ours_runs.append(run_worker(ours_cmd, env))
            print(f"  step times {[round(t, 1) for t in ours_runs[-1]['step_times']]}",
                  flush=True)
            if not args.skip_trl:
                print(f"round {r + 1}: trl ...", flush=True)
                trl_runs.append(run_worker(trl_cmd, env))
                print(f"  step times {[round(t, 1) for t in trl_runs[-1]['step_times']]}",
                      flush=True)
    ours = summarize("agents", ours_runs)
    rows = [ours]
    if trl_runs:
        trl = summarize("trl", trl_runs)
        rows.append(trl)
    print(f"\ncpu: {json.dumps(ours_runs[0].get('cpu'))}")
    print(f"mode={args.mode} threads={args.threads} steps/run={args.steps} "
          f"rounds={args.rounds} (median over steps after the first)")
    print(f"{'':8} {'s/step':>8} {'gen s/step':>11} {'peak RSS GB':>12}")
    for row in rows:
        print(f"{row['name']:8} {row['median_step_s']:>8.1f} {row['median_generation_s']:>11.1f} "
              f"{row['peak_rss_gb']:>12.2f}")
    result: dict[str, Any] = {"mode": args.mode, "threads": args.threads, "cpu": args.cpu,
                              "cpu_facts": ours_runs[0].get("cpu"), "agents": ours,
                              "runs": {"agents": ours_runs, "trl": trl_runs}}
    if trl_runs:
        result["trl"] = trl
        result["speedup"] = trl["median_step_s"] / ours["median_step_s"]
        result["rss_ratio"] = ours["peak_rss_gb"] / trl["peak_rss_gb"]
        print(f"\nspeed-up (TRL s/step / agents s/step): {result['speedup']:.2f}x")
        print(f"peak RSS agents/TRL: {result['rss_ratio']:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
