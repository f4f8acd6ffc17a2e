"""Data-parallel GRPO (issue 32): 2 ranks × 1 thread against 1 process × 2 threads, side by side.

The same GRPO run (a randomly initialised 4-layer Llama with SmolLM2's tokenizer, so the
rollouts are full-length; rlenvs/Arithmetic-v0 level 1; the same global batch) once in one
process with ``--threads`` torch threads and once under ``torch.distributed.run`` with
``--nproc`` ranks of ``threads / nproc`` threads each (gloo). Reported per mode: seconds per
optimizer step (median over the rounds after the first), its generation / train split, and for
the data-parallel run the seconds rank 0 spent in the gradient all-reduce and in the object
gathers (rollouts, scoring passes, statistics) -- both include waiting for the slower rank.

    python benchmarks/bench_data_parallel.py                 # 2 ranks x 1 thread vs 1 x 2
    python benchmarks/bench_data_parallel.py --steps 6 --hidden 512
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _policy(hidden: int, layers: int) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from agents.policy import CausalLMPolicy
    from judges.llm.embedded import load_embedded_tokenizer

    tok = load_embedded_tokenizer()
    config = LlamaConfig(hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=8, num_key_value_heads=4,
                         vocab_size=len(tok), eos_token_id=tok.eos_token_id, bos_token_id=1,
                         pad_token_id=tok.pad_token_id, max_position_embeddings=2048)
    torch.manual_seed(0)
    return CausalLMPolicy(LlamaForCausalLM(config), tok, name="bench-random-llama")


def worker(args: argparse.Namespace) -> None:
    import torch

    from agents import GRPOConfig, GRPOTrainer

    torch.set_num_threads(args.threads)
    config = GRPOConfig(output_dir=args.out, max_steps=args.steps, num_generations=4,
                        per_device_train_batch_size=4, gradient_accumulation_steps=4,
                        max_completion_length=args.tokens, learning_rate=1e-5, progress=False,
                        save_steps=0, save_final_checkpoint=False, seed=0,
                        torch_num_threads=args.threads, generation_dtype="float32", bf16=False)
    trainer = GRPOTrainer(_policy(args.hidden, args.layers), "rlenvs/Arithmetic-v0", config,
                          env_kwargs={"level": 1})
    started = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - started
    if trainer.dp is not None and not trainer.dp.is_main:
        return
    lines = (Path(args.out) / "metrics.jsonl").read_text().splitlines()
    records = [r for r in map(json.loads, lines) if r["kind"] == "train"]
    result = {"wall_s": wall, "records": [{k: r[k] for k in ("time/step", "time/generation",
                                                             "time/train")} for r in records],
              "comm_s": dict(trainer.dp.seconds) if trainer.dp is not None else {},
              "params": sum(p.numel() for p in trainer.policy.parameters())}
    (Path(args.out) / "bench.json").write_text(json.dumps(result))


def _run(nproc: int, threads: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    common = ["--worker", "--threads", str(threads), "--out", str(out), "--steps",
              str(args.steps), "--hidden", str(args.hidden), "--layers", str(args.layers),
              "--tokens", str(args.tokens)]
    me = str(Path(__file__).resolve())
    cmd = [sys.executable, me, *common] if nproc == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         f"--nproc_per_node={nproc}", me, *common]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads))
    subprocess.run(cmd, env=env, check=True)
    return json.loads((out / "bench.json").read_text())


def _summary(name: str, result: dict[str, Any], steps: int) -> dict[str, Any]:
    later = result["records"][1:] or result["records"]
    row = {"mode": name,
           "s_per_step": statistics.median(r["time/step"] for r in later),
           "generation_s": statistics.median(r["time/generation"] for r in later),
           "train_s": statistics.median(r["time/train"] for r in later)}
    if result["comm_s"]:
        row["all_reduce_s_per_step"] = result["comm_s"]["all_reduce"] / steps
        row["gather_s_per_step"] = result["comm_s"]["gather"] / steps
        row["all_reduce_share"] = row["all_reduce_s_per_step"] / row["s_per_step"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help="total torch threads")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps (= rounds)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32, help="max completion tokens")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    per_rank = max(1, args.threads // args.nproc)
    with tempfile.TemporaryDirectory() as tmp:
        one = _run(1, args.threads, args, Path(tmp) / "one")
        dp = _run(args.nproc, per_rank, args, Path(tmp) / "dp")
        # one process with one rank's threads: what each rank would do alone (a busy machine
        # can make more threads slower, so this row says how much of the gain is threading)
        alone = _run(1, per_rank, args, Path(tmp) / "alone") if per_rank != args.threads \
            else None
    rows = [_summary(f"1 process x {args.threads} threads", one, args.steps),
            _summary(f"{args.nproc} ranks x {per_rank} thread(s)", dp, args.steps)]
    if alone is not None:
        rows.append(_summary(f"1 process x {per_rank} thread(s)", alone, args.steps))
    print(f"GRPO, random Llama {args.layers}x{args.hidden} ({one['params'] / 1e6:.1f}M "
          f"params), 16 completions of <= {args.tokens} tokens per step, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for row in rows:
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v
                          for k, v in row.items()}))
    for row in (rows[0], *rows[2:]):
        print(f"speed-up of data parallel over {row['mode']} (s per step): "
              f"{row['s_per_step'] / rows[1]['s_per_step']:.2f}x")


if __name__ == "__main__":
    main()
