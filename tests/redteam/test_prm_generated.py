"""Red team, process rewards, generated: steps that pay for a wrong answer.

Invariant (``judges.prm`` module docstring, ``docs/threat_models/tools.md``): with an outcome
(a gold, a verifier) the last step stands for the response's own answer and is capped at the
outcome, and ``score = w * outcome + (1 - w) * aggregate``. So (a) a wrong answer's ``steps`` --
what process-reward GRPO uses as rewards -- hold a 0, (b) every wrong answer scores below every
right one of the same task whatever the steps, and (c) under ``min`` / ``product`` adding
steps never raises a score.

Holes reproduced here (each failed before the fix): ``rule_step_judge`` gave a wrong answer
with true arithmetic the step rewards ``[1.0, 1.0, 1.0]`` (process GRPO paid it like a right
answer: the outcome lived only in ``score``); ``MonteCarloPRM`` scored a right answer whose
prefixes its policy could not continue (``aggregate="mean"``: 0.33, failed) below a wrong answer
padded with steps the policy could finish (0.45).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.algorithms.process import process_advantages
from judges.moj import math_constraint
from judges.prm import AGGREGATES, ModelPRM, MonteCarloPRM, rule_step_judge
from judges.verdict import Verdict


@st.composite
def worked(draw):
    """A task ``a * b + c`` and a worked solution, right or with a wrong final answer, padded
    with trivially true steps, repeats of a true step, or prose."""
    a, b, c = draw(st.integers(2, 99)), draw(st.integers(2, 99)), draw(st.integers(1, 999))
    gold = a * b + c
    pad_kind = draw(st.sampled_from(["none", "trivial", "repeat", "prose"]))
    n_pad = draw(st.integers(0, 25))
    pads = {"none": [], "trivial": [f"{k} + 1 = {k + 1}" for k in range(1, n_pad + 1)],
            "repeat": [f"{a} * {b} = {a * b}"] * n_pad,
            "prose": ["We keep going carefully."] * n_pad}[pad_kind]
    body = [f"{a} * {b} = {a * b}", *pads, f"{a * b} + {c} = {gold}"]
    delta = draw(st.integers(1, 50)) * draw(st.sampled_from([-1, 1]))
    task = {"question": f"What is {a} * {b} + {c}?", "answer": str(gold)}
    steps = "".join(f"Step {k}: {s}\n" for k, s in enumerate(body, 1))
    def final(value: int) -> str:
        return f"Step {len(body) + 1}: so the answer is \\boxed{{{value}}}"

    return task, steps + final(gold), steps + final(gold + delta), len(pads)


@settings(max_examples=25)
@given(worked(), st.sampled_from(AGGREGATES))
def test_rule_steps_a_wrong_answer_never_earns_a_right_ones_reward(case, aggregate):
    task, right_text, wrong_text, _ = case
    judge = rule_step_judge(aggregate=aggregate)
    right, wrong = judge(right_text, task), judge(wrong_text, task)
    assert right.passed and right.score == 1.0 and min(right.steps) == 1.0, right.reason
    assert not wrong.passed and wrong.steps[-1] == 0.0, wrong.steps  # the step rewards carry it
    assert wrong.score < 0.5 <= right.score


@settings(max_examples=20)
@given(worked(), st.sampled_from(["min", "product"]))
def test_rule_steps_padding_never_raises_a_score(case, aggregate):
    task, right_text, wrong_text, n_pad = case
    judge = rule_step_judge(aggregate=aggregate)
    lines = wrong_text.split("\n")
    slipped = "\n".join([lines[0].replace("=", "= 1 +", 1), *lines[1:]])  # one wrong step
    base = judge(slipped, task).score
    padded = "\n".join([lines[0], *(f"Step 0: {k} * 1 = {k}" for k in range(n_pad + 3)),
                        *slipped.split("\n")])
    assert judge(padded, task).score <= base


def test_process_grpo_ranks_a_padded_wrong_answer_below_a_short_right_one():
    """The step rewards as a process-reward trainer uses them (DeepSeekMath process
    supervision): before the fix the wrong answer's steps were all 1.0."""
    task = {"question": "What is 17 * 3 + 5?", "answer": "56"}
    judge = rule_step_judge()
    wrong = judge("".join(f"Step {k}: {k} + 1 = {k + 1}\n" for k in range(1, 30))
                  + "Step 30: \\boxed{57}", task)
    right = judge("Step 1: 17 * 3 + 5 = 56, so \\boxed{56}", task)
    steps = [wrong.steps, right.steps]
    ends = [list(range(len(wrong.steps))), [0]]
    adv = process_advantages(steps, ends, [0, 0], length=len(wrong.steps))
    assert min(wrong.steps) == 0.0 and adv[1, 0] > adv[0, 0], (wrong.steps, adv[:, 0])


class StepMarkedPolicy:
    """Finishes a prefix correctly only when it has reached a 'Step 3' marker."""

    name = "step-marked"

    def generate(self, conversations, sampling=None):
        return ["so \\boxed{56}" if "Step 3" in c[-1]["content"] else "so \\boxed{50}"
                for c in conversations]


RIGHT_MC = "Step 1: 17 * 3 = 51\nStep 2: 51 + 5 = 56\nStep 3: so \\boxed{56}"


@settings(max_examples=30)
@given(st.integers(3, 40), st.sampled_from(AGGREGATES), st.sampled_from(["soft", "hard"]),
       st.floats(0.5, 1.0))
def test_monte_carlo_every_right_answer_outscores_every_wrong_one(n_pad, aggregate, mode, w):
    prm = MonteCarloPRM(StepMarkedPolicy(), math_constraint(), n=1, aggregate=aggregate,
                        mode=mode, outcome_weight=w)
    wrong_text = "".join(f"Step {k}: 17 * 3 = 51\n" for k in range(1, n_pad)) + \
        f"Step {n_pad}: \\boxed{{57}}"
    right, wrong = prm(RIGHT_MC, TASK_MC), prm(wrong_text, TASK_MC)
    assert right.score >= w  # however badly its prefixes continue
    assert not wrong.passed and wrong.steps[-1] == 0.0
    assert wrong.score < right.score, (aggregate, mode, w, wrong.score, right.score)


TASK_MC = {"question": "What is 17 * 3 + 5?", "answer": "56"}


def test_the_answer_must_outweigh_the_steps():
    for make in (lambda w: MonteCarloPRM(StepMarkedPolicy(), math_constraint(), outcome_weight=w),
                 lambda w: rule_step_judge(outcome_weight=w)):
        with pytest.raises(ValueError, match="outcome_weight"):
            make(0.3)


def test_monte_carlo_reported_instance():
    prm = MonteCarloPRM(StepMarkedPolicy(), math_constraint(), n=1, aggregate="mean")
    wrong = prm("".join(f"Step {k}: 17 * 3 = 51\n" for k in range(1, 30)) + "Step 30: \\boxed{57}",
                TASK_MC)
    right = prm(RIGHT_MC, TASK_MC)
    # before: right 0.333 (failed), wrong 0.45; the right answer now leads whatever its steps
    assert wrong.score < 0.5 <= right.score, (right.score, wrong.score)


class ConfidentModelPRM(ModelPRM):
    """A model PRM that rates every step 0.99 (no model loaded)."""

    def __init__(self, **kwargs):
        self.aggregate, self.split, self.separator = kwargs.get("aggregate", "min"), "auto", None
        self.pass_threshold, self.name = 0.5, "prm"
        self.verifier, self.outcome_weight = kwargs.get("verifier"), 0.5

    def step_probabilities(self, question, steps):
        return [0.99] * len(steps)


@pytest.mark.parametrize("aggregate", AGGREGATES)
def test_a_model_prm_with_a_verifier_never_passes_a_wrong_answer(aggregate):
    wrong = "Step 1: 17 * 3 = 51\nStep 2: 51 + 5 = 57\nStep 3: \\boxed{57}"
    assert ConfidentModelPRM(aggregate=aggregate)(wrong, TASK_MC).passed  # a model alone can
    prm = ConfidentModelPRM(aggregate=aggregate, verifier=math_constraint())
    v = prm(wrong, TASK_MC)
    assert not v.passed and v.steps[-1] == 0.0 and v.score < 0.5
    assert prm(RIGHT_MC, TASK_MC).passed


def test_an_outcome_verifier_fault_marks_the_process_verdict_unscored():
    def broken(response, task):
        return Verdict(0.0, False, "math worker timed out", {"unscored": True})

    v = MonteCarloPRM(StepMarkedPolicy(), broken, n=1)(RIGHT_MC, TASK_MC)
    assert v.details["unscored"] and "timed out" in v.details["cause"] and not v.passed
    v = ConfidentModelPRM(verifier=broken)(RIGHT_MC, TASK_MC)
    assert v.details["unscored"]
