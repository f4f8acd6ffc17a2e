"""Rollout generation speed: agents' TorchSampler vs plain ``model.generate``, side by side.

The peer is one ``model.generate`` call per batch (no scores kept, no post-processing beyond
cutting each row at its stop token), on the model as loaded (fp32) and on a bf16 copy (the
faster variant where the CPU has native bf16); ours is the trainer's sampler in its default
``dtype="auto"`` (bf16 or fp32, whichever this CPU runs faster), which also returns per-token
log-probabilities, prefills the head all prompts of a call share (the chat template's system
prompt) and each distinct prompt once, and drops finished rows; ``generate`` prefills every row
in full and decodes until the last row ends. The peer's *best* dtype is the one to compare
with. ``--cpu avx2`` runs both sides as on an AVX2-only CPU (bf16 emulated); the output records
the CPU facts.

Same model (SmolLM2-135M-Instruct), same prompts (rlenvs Arithmetic level 2, chat
template), same ``max_new_tokens``; runs alternate (ours, generate, ours, ...) so machine noise
hits both. "Rollout tokens/s" counts generated tokens up to and including the stop token (what a
trainer consumes). Two prompt layouts: ``distinct`` (B different prompts) and ``groups``
(B/4 prompts x 4 samples, a GRPO group layout). Both sides report total generated tokens /
total time, and the ratio of median seconds per batch. Greedy tokens need not be identical on
both sides: the fused bf16 decoder rounds differently from ``transformers``' forward, so
near-ties can flip and the sides may then stop at different lengths (hence both measures).

    python benchmarks/bench_rollout.py --batches 8 32 --reps 2 --threads 1 --modes sample \\
        --cpu avx2 --out benchmarks/results/rollout_avx2.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch
from _cpu import add_cpu_argument, reexec_with

import rlenvs
from agents.rollout.chat_tokens import ChatTokenizer
from judges.llm.cpu_dtype import cpu_facts
from judges.llm.embedded import load_embedded_model, load_embedded_tokenizer
from judges.llm.sampler import SamplingConfig, TorchSampler


def prompts_for(tok: Any, batch: int, layout: str) -> list[list[int]]:
    env = rlenvs.make("rlenvs/Arithmetic-v0", level=2)
    chat = ChatTokenizer(tok)
    distinct = batch if layout == "distinct" else batch // 4
    out = []
    for i in range(distinct):
        obs, _ = env.reset(seed=1000 + i)
        ids = chat.prompt_ids(obs)
        out.extend([ids] * (1 if layout == "distinct" else 4))
    return out


class PlainGenerate:
    """The peer: one ``model.generate`` call per batch, nothing else (no scores kept)."""

    def __init__(self, model: Any, stop: list[int], pad: int) -> None:
        self.model, self.stop, self.pad = model, stop, pad

    @torch.inference_mode()
    def generate(self, prompts: list[list[int]], cfg: SamplingConfig, seed: int) -> list[Any]:
        torch.manual_seed(seed)
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[self.pad] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        kwargs: dict[str, Any] = {"do_sample": True, "temperature": cfg.temperature,
                                  "top_p": 1.0, "top_k": 0} if cfg.temperature > 0 else \
            {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        out = self.model.generate(input_ids=ids, attention_mask=mask,
                                  max_new_tokens=cfg.max_new_tokens, pad_token_id=self.pad,
                                  eos_token_id=self.stop, **kwargs)[:, width:]
        gens = []
        for row in out.tolist():
            n = next((k + 1 for k, t in enumerate(row) if t in self.stop), len(row))
            gens.append(type("G", (), {"token_ids": row[:n]}))
        return gens


def run_once(sampler: Any, prompts: list[list[int]], cfg: SamplingConfig, seed: int
             ) -> tuple[float, int, list[list[int]]]:
    start = time.perf_counter()
    gens = sampler.generate(prompts, cfg, seed=seed)
    elapsed = time.perf_counter() - start
    return elapsed, sum(len(g.token_ids) for g in gens), [g.token_ids for g in gens]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--layouts", nargs="+", default=["distinct", "groups"])
    parser.add_argument("--modes", nargs="+", default=["greedy", "sample"])
    parser.add_argument("--peer-dtypes", nargs="+", default=["float32", "bfloat16"],
                        help="dtypes of the model.generate peer (float32 is the model's own)")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"],
                        help="our sampler's dtype (auto: measured fastest on this CPU)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    add_cpu_argument(parser)
    args = parser.parse_args()
    reexec_with(args.cpu)
    torch.set_num_threads(args.threads)

    tok = load_embedded_tokenizer()
    model = load_embedded_model(torch.float32)
    ours = TorchSampler(model, [tok.eos_token_id], tok.pad_token_id, dtype=args.dtype,
                        max_batch_size=64)
    facts = cpu_facts(ours.dtype)
    print("cpu:", json.dumps(facts), flush=True)
    sides: dict[str, Any] = {"ours": ours}
    for name in args.peer_dtypes:
        dtype = getattr(torch, name)
        copy = model if dtype == torch.float32 else load_embedded_model(dtype)
        sides[f"generate-{name}"] = PlainGenerate(copy.eval(), [tok.eos_token_id],
                                                  tok.pad_token_id)
    peers = [k for k in sides if k != "ours"]
    results = []
    print(f"ours={facts['generation_dtype']} threads={args.threads} max_new_tokens={args.max_new_tokens} reps={args.reps}; "
          f"ratio = ours tokens/s / peer tokens/s (s/batch: peer median / ours median)")
    print(f"{'batch':>5} {'layout':>8} {'mode':>6} {'ours tok/s':>10} " + " ".join(
        f"{p + ' tok/s':>22} {'ratio':>5} {'s/batch':>7}" for p in peers))
    for batch in args.batches:
        for layout in args.layouts:
            prompts = prompts_for(tok, batch, layout)
            for mode in args.modes:
                cfg = SamplingConfig(args.max_new_tokens, 0.0 if mode == "greedy" else 1.0)
                times: dict[str, list[float]] = {k: [] for k in sides}
                tokens: dict[str, list[int]] = {k: [] for k in sides}
                for rep in range(args.reps):  # alternate the sides so noise hits them all
                    for name, sampler in sides.items():
                        elapsed, count, _ = run_once(sampler, prompts, cfg, seed=rep)
                        times[name].append(elapsed)
                        tokens[name].append(count)
                rate = {k: sum(tokens[k]) / sum(times[k]) for k in sides}
                median = {k: statistics.median(times[k]) for k in sides}
                row: dict[str, Any] = {"batch": batch, "layout": layout, "mode": mode,
                                       "tokens_per_s": rate, "median_s": median,
                                       "tokens": tokens}
                row["ratio"] = {p: rate["ours"] / rate[p] for p in peers}
                row["batch_time_ratio"] = {p: median[p] / median["ours"] for p in peers}
                results.append(row)
                print(f"{batch:>5} {layout:>8} {mode:>6} {rate['ours']:>10.1f} " + " ".join(
                    f"{rate[p]:>22.1f} {row['ratio'][p]:>5.2f} {row['batch_time_ratio'][p]:>7.2f}"
                    for p in peers), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"cpu": facts, "threads": args.threads,
                       "max_new_tokens": args.max_new_tokens,
                       "reps": args.reps, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
