"""Rollout generation speed: agents' TorchSampler vs plain ``model.generate``, side by side.

The peer is one ``model.generate`` call per batch on a bf16 copy of the model (no scores kept,
no post-processing beyond cutting each row at its stop token); ours is the trainer's sampler,
which also returns per-token log-probabilities.

Same model (SmolLM2-135M-Instruct, bf16 copy), same prompts (rlenvs Arithmetic level 2, chat
template), same ``max_new_tokens``; runs alternate (ours, generate, ours, ...) so machine noise
hits both. "Rollout tokens/s" counts generated tokens up to and including the stop token (what a
trainer consumes). Two prompt layouts: ``distinct`` (B different prompts) and ``groups``
(B/4 prompts x 4 samples, a GRPO group layout). Both sides report total generated tokens /
total time. Greedy tokens are compared and reported, but they need not be identical: the fused
bf16 decoder rounds differently from ``transformers``' bf16 forward, so near-ties can flip and
the two sides may then stop at different lengths.

    python benchmarks/bench_rollout.py --batches 8 32 --reps 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch

import rlenvs
from agents.chat_tokens import ChatTokenizer
from agents.generation import SamplingConfig, TorchSampler
from judges.llm.embedded import load_embedded_model, load_embedded_tokenizer


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
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    tok = load_embedded_tokenizer()
    model = load_embedded_model(torch.float32)
    ours = TorchSampler(model, [tok.eos_token_id], tok.pad_token_id, dtype=torch.bfloat16,
                        max_batch_size=64)
    plain = PlainGenerate(model.to(torch.bfloat16).eval(), [tok.eos_token_id],
                          tok.pad_token_id)
    results = []
    print(f"threads={args.threads} max_new_tokens={args.max_new_tokens} reps={args.reps}")
    print(f"{'batch':>5} {'layout':>8} {'mode':>6} {'ours tok/s':>11} {'generate tok/s':>15} "
          f"{'ratio':>6} {'s/batch ratio':>13}  same tokens")
    for batch in args.batches:
        for layout in args.layouts:
            prompts = prompts_for(tok, batch, layout)
            for mode in args.modes:
                cfg = SamplingConfig(args.max_new_tokens, 0.0 if mode == "greedy" else 1.0)
                times: dict[str, list[float]] = {"ours": [], "generate": []}
                tokens: dict[str, list[int]] = {"ours": [], "generate": []}
                same = True
                for rep in range(args.reps):
                    a = run_once(ours, prompts, cfg, seed=rep)
                    b = run_once(plain, prompts, cfg, seed=rep)
                    for name, res in (("ours", a), ("generate", b)):
                        times[name].append(res[0])
                        tokens[name].append(res[1])
                    same = same and a[2] == b[2]
                rate = {k: sum(tokens[k]) / sum(times[k]) for k in times}
                row = {
                    "batch": batch, "layout": layout, "mode": mode,
                    "ours_tokens_per_s": rate["ours"], "generate_tokens_per_s": rate["generate"],
                    "ratio": rate["ours"] / rate["generate"],
                    "ours_median_s": statistics.median(times["ours"]),
                    "generate_median_s": statistics.median(times["generate"]),
                    "ours_tokens": tokens["ours"], "generate_tokens": tokens["generate"],
                    "identical_tokens": same if mode == "greedy" else None,
                }
                results.append(row)
                print(f"{batch:>5} {layout:>8} {mode:>6} {rate['ours']:>11.1f} "
                      f"{rate['generate']:>15.1f} {row['ratio']:>6.2f} "
                      f"{row['generate_median_s'] / row['ours_median_s']:>13.2f}  "
                      f"{'yes' if same and mode == 'greedy' else '-'}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"threads": args.threads, "max_new_tokens": args.max_new_tokens,
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
