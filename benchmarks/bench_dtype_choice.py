"""Does ``dtype="auto"`` pick the faster path? The real generation and training, timed per dtype.

For each CPU kind asked for (``native``: this CPU as it is; ``avx2``: torch/oneDNN limited to AVX2,
bf16 emulated), a fresh worker process (the ISA variables must be set before torch loads):

* reads ``auto``'s decision (:func:`judges.llm.cpu_dtype.measure_paths`: the decoder's paths and
  the training passes, measured once per machine) -- the choice and the timings it was made on;
* times the real thing in each explicit dtype, alternating: the trainer's sampler
  (:class:`~judges.llm.sampler.TorchSampler` on the embedded SmolLM2, GRPO layout: 4 prompts x 4
  samples, sampled, ``--max-new-tokens``) and a training pass (forward+backward of the same model
  on 8x110 tokens, fp32 vs bf16 autocast);
* reports whether ``auto`` is within noise (``--tolerance``, 10%) of the best explicit choice.

    python benchmarks/bench_dtype_choice.py --cpu native avx2 --threads 1 \\
        --out benchmarks/results/dtype_choice.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _cpu import cpu_env

WORKER = r'''
import json, statistics, sys, time, torch
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
import rlenvs
from agents.rollout.chat_tokens import ChatTokenizer
from judges.llm.cpu_dtype import (choose_generation, choose_training, cpu_facts, measure_paths,
                                  DTYPE_NAMES)
from judges.llm.embedded import load_embedded_model, load_embedded_tokenizer
from judges.llm.sampler import SamplingConfig, TorchSampler

m = measure_paths()
gen_choice = choose_generation(m["generation"])
train_choice = choose_training(m["training"])
tok = load_embedded_tokenizer()
model = load_embedded_model(torch.float32)
env = rlenvs.make("rlenvs/Arithmetic-v0", level=2)
chat = ChatTokenizer(tok)
prompts = []
for i in range(4):
    obs, _ = env.reset(seed=1000 + i)
    prompts += [chat.prompt_ids(obs)] * 4
cfg = SamplingConfig(args["max_new_tokens"], 1.0)
samplers = {n: TorchSampler(model, [tok.eos_token_id], tok.pad_token_id, dtype=n)
            for n in DTYPE_NAMES}
gen_s = {n: [] for n in samplers}
for n, s in samplers.items():
    s.generate(prompts[:4], SamplingConfig(8, 1.0), seed=0)  # warm-up
for rep in range(args["reps"]):
    for n, s in samplers.items():
        t = time.perf_counter(); s.generate(prompts, cfg, seed=rep); gen_s[n].append(time.perf_counter() - t)
ids = torch.randint(0, 49152, (8, 110), generator=torch.Generator().manual_seed(0))
train_s = {n: [] for n in DTYPE_NAMES}
def train_pass(bf16):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(input_ids=ids).logits
    out.float().logsumexp(-1).mean().backward()
train_pass(False); train_pass(True)
for rep in range(args["reps"]):
    for n in DTYPE_NAMES:
        t = time.perf_counter(); train_pass(n == "bfloat16"); train_s[n].append(time.perf_counter() - t)
print("RESULT " + json.dumps({
    "auto_generation": {"dtype": gen_choice[0], "packed": gen_choice[1]},
    "auto_training": train_choice,
    "decision_timings": {"generation": m["generation"], "training": m["training"],
                         "source": m["source"]},
    "generation_s": {n: statistics.median(v) for n, v in gen_s.items()},
    "training_s": {n: statistics.median(v) for n, v in train_s.items()},
    "cpu": cpu_facts(),
}))
'''


def run_kind(kind: str, args: argparse.Namespace) -> dict:
    env = {**os.environ, **cpu_env(kind)}
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = f"{root}{os.pathsep}{env.get('PYTHONPATH', '')}"
    payload = json.dumps({"threads": args.threads, "reps": args.reps,
                          "max_new_tokens": args.max_new_tokens})
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", WORKER, payload], env=env, capture_output=True,
                         text=True, timeout=3600, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{out.stderr[-3000:]}")
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    res = json.loads(line[len("RESULT "):])
    res["kind"], res["wall_s"] = kind, round(time.perf_counter() - start, 1)
    for what, key in (("generation", "auto_generation"), ("training", "auto_training")):
        times = res[f"{what}_s"]
        chosen = res[key]["dtype"] if isinstance(res[key], dict) else res[key]
        best = min(times, key=times.get)
        res[f"{what}_verdict"] = {
            "auto": chosen, "fastest": best, "auto_over_best": round(times[chosen] / times[best], 3),
            "within_tolerance": times[chosen] <= (1 + args.tolerance) * times[best]}
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", nargs="+", choices=["native", "avx2"], default=["native", "avx2"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    load = os.getloadavg()
    results = []
    for kind in args.cpu:
        res = run_kind(kind, args)
        results.append(res)
        g, t = res["generation_verdict"], res["training_verdict"]
        print(f"{kind}: generation fp32 {res['generation_s']['float32']:.2f} s, bf16 "
              f"{res['generation_s']['bfloat16']:.2f} s -> auto {g['auto']} "
              f"({g['auto_over_best']:.2f}x the best); training fp32 "
              f"{res['training_s']['float32']:.2f} s, bf16 {res['training_s']['bfloat16']:.2f} s "
              f"-> auto {t['auto']} ({t['auto_over_best']:.2f}x the best)", flush=True)
    summary = {"load_before": load, "load_after": os.getloadavg(), "args": vars(args),
               "results": results}
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
