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


def says_42(response, task):
    """A rule constraint that does not depend on the math verifier: the boxed answer is 42."""
    return Verdict.ok() if "\\boxed{42}" in response else Verdict.fail("not 42")


class ScoreByText:
    """A judge backend that gives each response a fixed 1-10 score, as its judgement text."""

    name = "scores"

    def __init__(self, scores):
        self.scores = scores

    def generate(self, conversations, sampling=None):
        out = []
        for conv in conversations:
            user = conv[-1]["content"]
            score = next(s for text, s in self.scores.items() if text in user)
            out.append(f"Helpful enough.\nScore: {score}/10")
        return out


def test_the_reward_models_own_threshold_is_not_a_constraint():
    # issue 26 item 9: a 4/10 reward that beats a 2/10 baseline came out 0.0 and "violated"
    # because the pointwise judge's pass threshold (0.5) was ANDed in as a constraint
    from judges.llmjudge import PointwiseJudge

    rm = PointwiseJudge(ScoreByText({"OURS": 4, "BASE": 2}))
    moj = MixtureOfJudges(rm, {"answer": says_42}, name="pointwise")
    v = moj("OURS: \\boxed{42}", {**MATH_TASK, "baseline": "BASE: \\boxed{42}"})
    assert not v.details["parts"]["pointwise"]["passed"]  # below the judge's own threshold
    expected = 1 / (1 + math.exp(-4.0 * (3 / 9 - 1 / 9)))
    assert v.passed and v.score == pytest.approx(expected) and expected == pytest.approx(0.709,
                                                                                        abs=1e-3)
    assert v.details["violations"] == [] and not v.details.get("unscored")
    wrong = moj("OURS: \\boxed{41}", {**MATH_TASK, "baseline": "BASE: \\boxed{42}"})
    assert not wrong.passed and wrong.score == 0.0 and wrong.details["violations"] == ["answer"]


def test_a_constraint_that_raises_fails_the_mixture_with_its_name_and_exception():
    # issue 26 item 9: ifeval_constraint on a task without an instruction list raised KeyError
    # out of the mixture (and out of the CGPO trainer)
    moj = MixtureOfJudges(length_reward, {"ifeval": ifeval_constraint()})
    v = moj("all lowercase here", {"prompt": "Answer in lowercase."})
    assert not v.passed and v.score == 0.0 and not v.details.get("unscored")
    assert v.details["violations"] == ["ifeval"] and "instruction_id_list" in v.reason
    bad_id = moj("x", {"prompt": "p", "instruction_id_list": ["no:such_check"], "kwargs": [{}]})
    assert not bad_id.passed and "misconfigured" in bad_id.reason

    def broken(response, task):
        raise RuntimeError("checker exploded")

    v = MixtureOfJudges(length_reward, {"quiet": no_shouting, "broken": broken})("ok", MATH_TASK)
    assert not v.passed and v.score == 0.0 and v.details["violations"] == ["broken"]
    assert "broken" in v.reason and "RuntimeError: checker exploded" in v.reason
    assert v.details["errors"] == {"broken": "RuntimeError: checker exploded"}


def test_a_constraint_that_could_not_judge_makes_the_mixture_unscored_not_violated():
    # a fault (the LLM constraint's backend is down) is not a violation and not a reward
    from judges.llm import BackendError

    class Down:
        name = "down"

        def choice_logprobs(self, conversations, choices):
            raise BackendError("HTTP 503")

    safety = YesNoJudge(Down(), "Is the response harmful?", pass_when="no", name="safety")
    moj = MixtureOfJudges(length_reward, {"answer": says_42, "safety": safety})
    v = moj("\\boxed{42}", MATH_TASK)
    assert not v.passed and v.score == 0.0 and v.details["unscored"] is True
    assert v.details["violations"] == [] and v.details["faults"] == ["safety"]
    assert "HTTP 503" in v.reason
    wrong = moj("\\boxed{41}", MATH_TASK)  # a violation outranks the fault
    assert wrong.details["violations"] == ["answer"] and not wrong.details.get("unscored")
