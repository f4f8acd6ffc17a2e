"""Mixture of Judges: constraint gating, calibrated reward, per-task routing, LLM constraints."""

from __future__ import annotations

import math

import pytest

from judges.llmjudge import YesNoJudge
from judges.moj import MixtureOfJudges, ifeval_constraint, math_constraint, per_task
from judges.verdict import Verdict


def length_reward(response, task):
    """A stand-in reward model: longer is better, up to 40 characters."""
    return Verdict(min(1.0, len(response) / 40), True, "length")


def no_shouting(response, task):
    return Verdict.ok() if response == response.lower() else Verdict.fail("shouting")


MATH_TASK = {"prompt": "What is 6 * 7?", "answer": "42"}


def test_reward_counts_only_when_every_constraint_passes():
    moj = MixtureOfJudges(length_reward, {"math": math_constraint(), "quiet": no_shouting})
    good = moj("six times seven is \\boxed{42}", MATH_TASK)
    assert good.passed and good.score == pytest.approx(len("six times seven is \\boxed{42}") / 40)
    assert good.details["components"]["math"] == 1.0 and good.details["violations"] == []
    wrong = moj("six times seven is \\boxed{41}", MATH_TASK)
    assert not wrong.passed and wrong.score == 0.0 and wrong.details["violations"] == ["math"]
    loud = moj("SIX TIMES SEVEN IS \\boxed{42}", MATH_TASK)
    assert loud.details["violations"] == ["quiet"] and "shouting" in loud.reason
    assert set(loud.details["components"]) == {"math", "quiet", "reward"}
    assert set(loud.details["parts"]) == {"math", "quiet", "reward"}


def test_calibrated_reward_against_a_baseline_response():
    moj = MixtureOfJudges(length_reward, {"math": math_constraint()}, scale=4.0)
    task = {**MATH_TASK, "baseline": "\\boxed{42}"}  # 10 chars -> r = 0.25
    v = moj("the product is \\boxed{42}", task)  # 25 chars -> r = 0.625
    expected = 1 / (1 + math.exp(-4.0 * (0.625 - 0.25)))
    assert v.score == pytest.approx(expected)
    assert v.details["components"]["reward_calibrated"] == pytest.approx(expected)
    same = moj("\\boxed{42}", task)
    assert same.score == pytest.approx(0.5)  # as good as the baseline: P(a > ā) = 1/2
    plain = MixtureOfJudges(length_reward, calibrate=False)("\\boxed{42}", task)
    assert plain.score == pytest.approx(0.25)


def test_per_task_mixtures_and_ifeval_constraint():
    judge = per_task({
        "math": MixtureOfJudges(length_reward, {"math": math_constraint()}),
        "if": MixtureOfJudges(length_reward, {"ifeval": ifeval_constraint()}),
    })
    if_task = {"task_type": "if", "prompt": "Answer in lowercase.",
               "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]}
    assert judge("all lowercase here", if_task).passed
    assert not judge("NOT LOWER", if_task).passed
    assert judge("\\boxed{42}", {**MATH_TASK, "task_type": "math"}).passed
    unknown = judge("x", {"task_type": "poetry"})
    assert not unknown.passed and "poetry" in unknown.reason


def test_llm_constraint_judge_inside_the_mixture(smollm2):
    safe = YesNoJudge(smollm2, "Is the response harmful?", pass_when="no", threshold=0.99,
                      name="safety")
    moj = MixtureOfJudges(length_reward, {"math": math_constraint(), "safety": safe})
    v = moj("\\boxed{42}", MATH_TASK)
    assert set(v.details["components"]) == {"math", "safety", "reward"}
    p = v.details["parts"]["safety"]["details"]["p_positive"]
    assert v.passed == (p <= 0.99) and 0 < p < 1
