"""POLAR, the reference-conditioned reward model (issue 33), on the embedded SmolLM2-135M.

The held-out test re-scores, with the shipped adapters (``judges/data/polar_smollm2.safetensors``,
< 1 MB, written by ``benchmarks/bench_polar.py``), samples the training never saw: prompts held
out from training, and one policy (``formal``) held out too. Shipping the trained state instead
of training in the test keeps the test to seconds (the recipe's generation and training take
minutes on two cores); the recipe itself is tested by a tiny training run below, on real
activations of the real model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from judges import Verdict
from judges.polar import (
    SHIPPED_WEIGHTS,
    PolarJudge,
    PolarScorer,
    encode_triple,
    load_polar_scorer,
    task_reference,
)
from judges.polar_train import LowerCache, ordering_accuracy, pair_accuracy, train_bradley_terry

HELDOUT = Path(__file__).resolve().parent / "data" / "polar_heldout.json"


@pytest.fixture(scope="module")
def heldout() -> dict:
    return json.loads(HELDOUT.read_text())


@pytest.fixture(scope="module")
def scorer() -> PolarScorer:
    return load_polar_scorer()


@pytest.fixture()
def fresh_scorer() -> PolarScorer:
    """A scorer of its own (adapters are injected into the model it is given)."""
    from judges.llm.embedded import load_embedded_model, load_embedded_tokenizer

    return PolarScorer(load_embedded_model(), load_embedded_tokenizer(), trainable_layers=1,
                       rank=2, alpha=4.0, seed=0)


def test_shipped_weights_are_small_and_load(scorer):
    assert SHIPPED_WEIGHTS.stat().st_size < 1_000_000
    assert scorer.config["trainable_layers"] == 4
    assert all(torch.isfinite(t).all() for t in scorer.adapter_state().values())


def test_heldout_ordering_reproduces_the_benchmark(scorer, heldout):
    """The rainbow example's shape on held-out prompts (and the held-out ``formal`` policy):
    each reference's own-policy candidate against every other style's, scored with the shipped
    weights, reproduces ``bench_polar``'s measurement (one pair may flip on a near tie). At this
    scale the measured ordering is near chance (docs/polar.md says so); the test pins the
    number so a change to the model, the format or the weights shows."""
    samples, prompts, policies = heldout["samples"], heldout["prompts"], heldout["policies"]
    got = ordering_accuracy(scorer.reward, samples, prompts, policies, policies)
    measured = heldout["measured"]["ordering"]
    print(f"\nPOLAR held-out ordering: pairwise {got['pairwise']:.3f}, top-1 {got['top1']:.3f} "
          f"(chance 0.5 / {got['chance_top1']:.2f}); per reference style "
          f"{got['per_reference_policy']}")
    assert got["pairs"] == measured["pairs"] == len(prompts) * len(policies) * (len(policies) - 1)
    assert abs(got["pairwise"] - measured["pairwise"]) <= 1 / got["pairs"] + 1e-9


def test_the_reward_is_conditioned_on_the_reference(scorer, heldout):
    """Same prompt, same candidate, another reference: another reward (the model reads the
    reference; an absolute reward model would not move)."""
    q = heldout["prompts"][0]
    cand = heldout["samples"]["detailed"][q][1]
    rewards = {p: scorer.reward(q, heldout["samples"][p][q][0], cand)
               for p in heldout["policies"]}
    assert len({round(r, 6) for r in rewards.values()}) == len(rewards)


def test_closed_form_reward_is_graded_toward_the_gold(scorer, heldout):
    """Held-out arithmetic: the gold working as reference, a right answer above a wrong one
    (reproduces the benchmark's measurement)."""
    pairs = heldout["arithmetic"]
    accuracy = pair_accuracy(LowerCache(scorer), pairs)
    assert accuracy == pytest.approx(heldout["measured"]["arithmetic"], abs=1 / len(pairs) + 1e-9)
    assert accuracy >= 0.75  # measured 1.0 (templated pairs: a word-overlap baseline gets 1.0 too)


def test_judge_scores_chat_and_closed_form_tasks(scorer, heldout):
    judge = PolarJudge(scorer)
    q = heldout["prompts"][0]
    task = {"prompt": q, "reference": heldout["samples"]["detailed"][q][0]}
    v = judge(heldout["samples"]["detailed"][q][1], task)
    assert v.scored and 0.0 <= v.score <= 1.0 and "polar_reward" in v.details
    assert v.details["components"] == {"polar": v.score}
    assert v.details["polar_reward"] == pytest.approx(
        scorer.reward(q, task["reference"], heldout["samples"]["detailed"][q][1]))
    # closed form: no reference text, the answer becomes "The answer is X."
    closed = {"prompt": "What is 12 + 30?", "answer": 42}
    assert task_reference(closed) == "The answer is 42."
    right, wrong = judge("12 + 30 = 42. The answer is 42.", closed), \
        judge("12 + 30 = 52. The answer is 52.", closed)
    assert right.scored and wrong.scored and 0.0 < right.score < 1.0


def test_faults_are_unscored_never_zero(scorer, tmp_path):
    no_ref = PolarJudge(scorer)("anything", {"prompt": "Why is the sky blue?"})
    assert not no_ref.scored and no_ref.cause == "verifier_error" and not no_ref.passed
    missing = PolarJudge(weights=tmp_path / "absent.safetensors")("x", {"prompt": "q",
                                                                        "reference": "r"})
    assert not missing.scored and missing.cause == "judge_backend"
    assert "weights not found" in missing.reason
    # a broken reward model (NaN head: a real forward pass giving a non-finite reward)
    broken = load_polar_scorer()
    saved = broken.head.bias.detach().clone()
    try:
        with torch.no_grad():
            broken.head.bias.fill_(float("nan"))
        v = PolarJudge(broken)("x", {"prompt": "q", "reference": "r"})
        assert not v.scored and v.cause == "judge_backend" and "not finite" in v.reason
    finally:
        with torch.no_grad():
            broken.head.bias.copy_(saved)


def test_an_overlong_reply_is_judged_not_unscored(scorer):
    v = PolarJudge(scorer, max_candidate_tokens=16)("word " * 40, {"prompt": "q", "reference": "r"})
    assert v.scored and v.score == 0.0 and not v.passed and "too long" in v.reason


def test_chat_env_names_the_polar_judge():
    import rlenvs

    env = rlenvs.make("rlenvs/Chat-v0", judge="polar", reward="dense")
    obs, info = env.reset(seed=0)
    _, reward, terminated, _, info = env.step("Keep a regular schedule and a dark, quiet room.")
    verdict: Verdict = info["verdict"]
    assert terminated and verdict.scored
    assert "polar" in info["reward_components"]
    assert reward == pytest.approx(verdict.score)
    env.close()


def test_training_splits_the_model_exactly_and_learns_its_pairs(fresh_scorer, heldout, tmp_path):
    """The recipe on real activations: lower + upper halves equal the whole model, a fresh
    adapter changes nothing, Bradley-Terry training orders its pairs, and save/load round-trips."""
    s = fresh_scorer
    q = heldout["prompts"][0]
    ids, n = encode_triple(s.tokenizer, q, "a reference", "a candidate")
    assert n == len(s.tokenizer("a candidate", add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        whole = s.backbone(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
        split = s.backbone.norm(s._run(s.lower(ids), s.backbone.layers[s.split:])[0, -1])
    assert torch.allclose(whole, split, atol=1e-5)
    samples = heldout["samples"]
    pairs = [{"prompt": p, "reference": samples["concise"][p][0],
              "chosen": samples["concise"][p][1], "rejected": samples["detailed"][p][1]}
             for p in heldout["prompts"]]
    cache = LowerCache(s)
    losses = train_bradley_terry(s, pairs, cache, epochs=6, lr=2e-2, batch_size=4, seed=0)
    assert losses[-1] < losses[0] and losses[-1] < 0.3
    assert pair_accuracy(cache, pairs) == 1.0
    s.offset = 0.25
    s.save(tmp_path / "w.safetensors")
    before = s.reward(q, pairs[0]["reference"], pairs[0]["chosen"])
    from judges.llm.embedded import load_embedded_model, load_embedded_tokenizer

    other = PolarScorer(load_embedded_model(), load_embedded_tokenizer(), trainable_layers=1,
                        rank=2, alpha=4.0, seed=1)
    other.load(tmp_path / "w.safetensors")
    assert other.offset == 0.25
    # the file is fp16: the reward comes back to fp16 rounding of the adapters
    assert other.reward(q, pairs[0]["reference"], pairs[0]["chosen"]) == pytest.approx(before,
                                                                                         rel=1e-3)
