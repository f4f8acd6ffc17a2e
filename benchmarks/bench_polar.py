"""POLAR at the embedded model's scale (issue 33): train, then measure held-out ordering accuracy.

Runs the recipe of :mod:`judges.polar_train` end to end on the CPU and reports:

* the rainbow test on prompts never trained on: for a reference from policy P, does P's other
  sample score above every other policy's sample? (pairwise accuracy over the pairs ``(P, Q)``
  and top-1 accuracy), for references from the training policies and from two policies never
  seen in training;
* the closed-form preference accuracy on held-out arithmetic (``r(gold, right) > r(gold, wrong)``);
* the same numbers for the untrained scorer and for two text-statistic baselines (length
  closeness, word overlap with the reference), to show what the training added.

Writes ``benchmarks/results/polar.json`` and ``polar.md``, the trained adapters to
``judges/data/polar_smollm2.safetensors`` (the shipped weights the judge loads) and the held-out
samples the test re-scores to ``tests/judges/data/polar_heldout.json``.

    .venv/bin/python benchmarks/bench_polar.py            # ~15 min on 2 shared cores
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from judges.llm.embedded import load_embedded_model, load_embedded_tokenizer  # noqa: E402
from judges.llm.transformers_backend import TransformersChat  # noqa: E402
from judges.polar import SHIPPED_WEIGHTS, PolarScorer  # noqa: E402
from judges.polar_train import (  # noqa: E402
    HELDOUT_POLICIES,
    HELDOUT_PROMPTS,
    POLICIES,
    TRAIN_POLICIES,
    TRAIN_PROMPTS,
    LowerCache,
    arithmetic_tasks,
    calibrate_offset,
    discrimination_pairs,
    generate_samples,
    ordering_accuracy,
    pair_accuracy,
    preference_pairs,
    train_bradley_terry,
)

RESULTS = ROOT / "benchmarks" / "results"
TEST_DATA = ROOT / "tests" / "judges" / "data" / "polar_heldout.json"
SEED = 0
CONFIG = {"trainable_layers": 4, "rank": 8, "alpha": 16.0, "max_new_tokens": 48,
          "samples_per_policy": 2, "pretrain_epochs": 2, "pretrain_lr": 1e-3,
          "finetune_epochs": 2, "finetune_lr": 3e-4, "batch_size": 8,
          "arith_train": 40, "arith_heldout": 24}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def length_baseline(_q: str, ref: str, cand: str) -> float:
    return -abs(len(ref) - len(cand))


def overlap_baseline(_q: str, ref: str, cand: str) -> float:
    a, b = _words(ref), _words(cand)
    return len(a & b) / max(1, len(a | b))


def evaluate(reward, samples, arith_pairs) -> dict:  # type: ignore[no-untyped-def]
    seen = ordering_accuracy(reward, samples, HELDOUT_PROMPTS, TRAIN_POLICIES, TRAIN_POLICIES)
    unseen = ordering_accuracy(reward, samples, HELDOUT_PROMPTS, HELDOUT_POLICIES, tuple(POLICIES))
    rainbow = ordering_accuracy(reward, samples, HELDOUT_PROMPTS, ("concise", "detailed", "playful"),
                                ("concise", "detailed", "playful"))
    arith = sum(reward(p["prompt"], p["reference"], p["chosen"])
                > reward(p["prompt"], p["reference"], p["rejected"]) for p in arith_pairs)
    return {"heldout_prompts_train_policies": seen, "heldout_prompts_heldout_policies": unseen,
            "rainbow_concise_detailed_playful": rainbow,
            "arithmetic_preference_accuracy": arith / len(arith_pairs)}


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", type=int, choices=(1, 2), default=2,
                        help="reference choices per (prompt, policy) in pretraining (1 halves it)")
    parser.add_argument("--pretrain-epochs", type=int, default=CONFIG["pretrain_epochs"])
    parser.add_argument("--synthetic-arithmetic", action="store_true",
                        help="preference pairs without the model's own arithmetic replies")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a loaded shared machine two threads waited "
                             "on each other and ran ~10x slower per forward)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    CONFIG["references_per_policy"] = args.references
    CONFIG["arithmetic_model_replies"] = not args.synthetic_arithmetic
    CONFIG["pretrain_epochs"] = args.pretrain_epochs
    torch.manual_seed(SEED)
    started = time.time()
    load_start = os.getloadavg()
    log(f"load average at start {load_start}; torch threads {torch.get_num_threads()}")
    chat = TransformersChat.from_embedded(batch_size=16)
    t0 = time.time()
    samples = generate_samples(chat, n=CONFIG["samples_per_policy"],
                               max_new_tokens=CONFIG["max_new_tokens"], seed=SEED)
    arith_chat = chat if CONFIG["arithmetic_model_replies"] else None
    arith_train = preference_pairs(arith_chat, arithmetic_tasks(CONFIG["arith_train"], seed=1),
                                   seed=1)
    arith_held = preference_pairs(arith_chat, arithmetic_tasks(CONFIG["arith_heldout"], seed=2),
                                  seed=2)
    gen_s = time.time() - t0
    log(f"samples ready in {gen_s:.0f} s")
    del chat

    scorer = PolarScorer(load_embedded_model(), load_embedded_tokenizer(),
                         trainable_layers=CONFIG["trainable_layers"], rank=CONFIG["rank"],
                         alpha=CONFIG["alpha"], seed=SEED)
    cache = LowerCache(scorer)
    results: dict = {"config": CONFIG, "seed": SEED, "policies": POLICIES,
                     "train_policies": TRAIN_POLICIES, "heldout_policies": HELDOUT_POLICIES,
                     "train_prompts": len(TRAIN_PROMPTS), "heldout_prompts": len(HELDOUT_PROMPTS),
                     "baselines": {"length_closeness": evaluate(length_baseline, samples, arith_held),
                                   "word_overlap": evaluate(overlap_baseline, samples, arith_held)}}
    t0 = time.time()
    results["untrained"] = evaluate(cache.reward, samples, arith_held)
    log(f"untrained: {json.dumps(results['untrained'])[:300]} ({time.time() - t0:.0f} s)")

    pairs = discrimination_pairs(samples, TRAIN_PROMPTS, TRAIN_POLICIES,
                                 references=(0, 1)[:CONFIG["references_per_policy"]])
    t0 = time.time()
    results["pretrain_loss"] = train_bradley_terry(
        scorer, pairs, cache, epochs=CONFIG["pretrain_epochs"], lr=CONFIG["pretrain_lr"],
        batch_size=CONFIG["batch_size"], seed=SEED, log=log)
    results["pretrain_pairs"] = len(pairs)
    results["pretrain_s"] = time.time() - t0
    results["after_pretrain"] = evaluate(cache.reward, samples, arith_held)
    log(f"after pretraining: {json.dumps(results['after_pretrain'])[:400]}")

    t0 = time.time()
    results["finetune_loss"] = train_bradley_terry(
        scorer, arith_train, cache, epochs=CONFIG["finetune_epochs"], lr=CONFIG["finetune_lr"],
        batch_size=CONFIG["batch_size"], seed=SEED, log=log)
    results["finetune_pairs"] = len(arith_train)
    results["finetune_model_chosen"] = sum(p["chosen_is_model"] for p in arith_train)
    results["finetune_model_rejected"] = sum(p["rejected_is_model"] for p in arith_train)
    results["finetune_s"] = time.time() - t0
    results["after_finetune"] = evaluate(cache.reward, samples, arith_held)
    results["train_pair_accuracy"] = pair_accuracy(cache, pairs[::4])
    scorer.offset = calibrate_offset(cache, pairs[::4])
    log(f"after fine-tune: {json.dumps(results['after_finetune'])[:400]}")

    scorer.save(SHIPPED_WEIGHTS, {"seed": SEED, "recipe": "benchmarks/bench_polar.py"})
    results["weights_bytes"] = SHIPPED_WEIGHTS.stat().st_size
    results["offset"] = scorer.offset
    results["total_s"] = time.time() - started
    results["machine"] = {"cpus": os.cpu_count(), "load_at_start": load_start,
                          "load_at_end": os.getloadavg(), "torch_threads": torch.get_num_threads(),
                          "shared": "2 cores shared with other sessions' jobs"}
    results["generation_s"] = gen_s

    # the held-out samples the test re-scores with the shipped weights, and what we measured
    test_prompts = list(HELDOUT_PROMPTS[:4])
    test_policies = ("concise", "detailed", "playful", "formal")
    heldout = {"prompts": test_prompts, "policies": list(test_policies),
               "samples": {p: {q: samples[p][q] for q in test_prompts} for p in test_policies},
               "arithmetic": arith_held[:8]}
    heldout["measured"] = {
        "ordering": ordering_accuracy(cache.reward, samples, test_prompts, test_policies,
                                      test_policies),
        "arithmetic": pair_accuracy(cache, heldout["arithmetic"])}
    TEST_DATA.parent.mkdir(parents=True, exist_ok=True)
    TEST_DATA.write_text(json.dumps(heldout, ensure_ascii=False, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "polar.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    (RESULTS / "polar.md").write_text(markdown(results))
    log(f"done in {results['total_s']:.0f} s")
    return 0


def markdown(r: dict) -> str:
    rows = [("length closeness (baseline)", r["baselines"]["length_closeness"]),
            ("word overlap (baseline)", r["baselines"]["word_overlap"]),
            ("untrained scorer", r["untrained"]), ("after pretraining", r["after_pretrain"]),
            ("after preference fine-tune", r["after_finetune"])]
    out = ["# POLAR at SmolLM2-135M scale (benchmarks/bench_polar.py)", "",
           f"{len(TRAIN_PROMPTS)} training prompts x {len(TRAIN_POLICIES)} policies "
           f"({', '.join(TRAIN_POLICIES)}) x 2 samples -> {r['pretrain_pairs']} policy-"
           f"discrimination pairs, {r['config']['pretrain_epochs']} epochs; preference "
           f"fine-tune on {r['finetune_pairs']} arithmetic pairs. Held out: "
           f"{len(HELDOUT_PROMPTS)} prompts, policies {', '.join(HELDOUT_POLICIES)}. "
           f"Seed {r['seed']}, one run.", "",
           "| scorer | held-out prompts, train policies: pairwise / top-1 | held-out policies: "
           "pairwise / top-1 | rainbow (3 styles): pairwise / top-1 | arithmetic pref. acc. |",
           "|---|---|---|---|---|"]
    for name, e in rows:
        a, b, c = (e["heldout_prompts_train_policies"], e["heldout_prompts_heldout_policies"],
                   e["rainbow_concise_detailed_playful"])
        out.append(f"| {name} | {a['pairwise']:.3f} / {a['top1']:.3f} | {b['pairwise']:.3f} / "
                   f"{b['top1']:.3f} | {c['pairwise']:.3f} / {c['top1']:.3f} | "
                   f"{e['arithmetic_preference_accuracy']:.3f} |")
    f = r["after_finetune"]
    out += ["", f"Chance: pairwise 0.5; top-1 {f['heldout_prompts_train_policies']['chance_top1']:.2f}"
            f" (4 candidates), {f['heldout_prompts_heldout_policies']['chance_top1']:.2f} "
            f"(6), {f['rainbow_concise_detailed_playful']['chance_top1']:.2f} (3).", "",
            f"Pretraining loss by epoch {[round(x, 4) for x in r['pretrain_loss']]}, "
            f"fine-tune {[round(x, 4) for x in r['finetune_loss']]}. Times: generation "
            f"{r['generation_s']:.0f} s, pretraining {r['pretrain_s']:.0f} s, fine-tune "
            f"{r['finetune_s']:.0f} s, total {r['total_s']:.0f} s on {r['machine']['cpus']} CPU "
            f"cores shared with other jobs (load average at start "
            f"{r['machine']['load_at_start'][0]:.2f}, at end {r['machine']['load_at_end'][0]:.2f})."
            f" Shipped weights: {r['weights_bytes']} bytes.", ""]
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
