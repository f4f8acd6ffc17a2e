"""Generative reward model: principles -> critique -> score, k-sample voting, meta filter."""

from __future__ import annotations

import pytest

from judges.grm import GenerativeRewardModel, meta_from_judge
from judges.llm import SamplingParams
from judges.verdict import Verdict

TASK = {"prompt": "Name a primary colour."}


class Scripted:
    """Returns the scripted outputs in order, one per conversation, and records the seeds."""

    name = "scripted"

    def __init__(self, outputs):
        self.outputs = list(outputs)
        self.seeds = []

    def generate(self, conversations, sampling=None):
        self.seeds.append(sampling.seed)
        return [self.outputs.pop(0) for _ in conversations]


SAMPLES = ["Principles: be right.\nCritique: fine.\nScore: 8/10",
           "Principles: ...\nCritique: ok.\nScore: 6/10",
           "Principles: ...\nCritique: I cannot decide.",
           "Principles: ...\nCritique: great.\nScore: 10/10"]


def test_sum_vote_counts_unparseable_samples_as_the_lowest_score():
    model = Scripted(SAMPLES)
    v = GenerativeRewardModel(model, k=4, aggregate="sum")("Red.", TASK)
    # (8-1) + (6-1) + 0 + (10-1) = 21 out of 4 * 9
    assert v.score == pytest.approx(21 / 36)
    assert v.details["unparseable"] == 1 and len(v.details["samples"]) == 4
    assert v.details["judge_text"] == SAMPLES and v.details["components"]["grm"] == v.score
    assert len(set(model.seeds)) == 4, "every sample index gets its own seed"


def test_mean_vote_ignores_unparseable_samples_and_falls_back_when_none_parse():
    v = GenerativeRewardModel(Scripted(SAMPLES), k=4, aggregate="mean")("Red.", TASK)
    assert v.score == pytest.approx((8 + 6 + 10) / 3 / 9 - 1 / 9)
    none = GenerativeRewardModel(Scripted(["no score"] * 2), k=2, aggregate="mean",
                                 fallback_score=0.1)("Red.", TASK)
    assert none.score == pytest.approx(0.1) and not none.passed
    assert "unparseable" in none.reason


def test_meta_judge_keeps_the_top_k_meta_samples():
    def meta(text, response, task):  # trusts critiques that say "great" or "fine"
        return 1.0 if ("great" in text or "fine" in text) else 0.0

    v = GenerativeRewardModel(Scripted(SAMPLES), k=4, k_meta=2, meta_judge=meta,
                              aggregate="mean")("Red.", TASK)
    assert v.score == pytest.approx(((8 + 10) / 2 - 1) / 9)
    assert [s["kept"] for s in v.details["samples"]] == [True, False, False, True]
    as_judge = meta_from_judge(lambda text, task: Verdict(0.3, True))
    assert as_judge("critique", "Red.", TASK) == 0.3
    with pytest.raises(ValueError):
        GenerativeRewardModel(Scripted([]), k=2, k_meta=3, meta_judge=meta)


def test_grm_on_the_real_model(smollm2):
    grm = GenerativeRewardModel(smollm2, k=2,
                                sampling=SamplingParams(temperature=0.8, max_new_tokens=12,
                                                        seed=1))
    v = grm("Red.", TASK)
    assert 0.0 <= v.score <= 1.0 and len(v.details["samples"]) == 2
    assert all(isinstance(s["text"], str) and s["text"] for s in v.details["samples"])
    assert "Principles:" in grm.messages("Red.", TASK)[0]["content"]
