"""Process reward: step splitting, aggregation, model PRM, Monte-Carlo values, rule checker."""

from __future__ import annotations

import math

import pytest

from judges.llm import SamplingParams
from judges.moj import math_constraint
from judges.prm import (
    ModelPRM,
    MonteCarloPRM,
    aggregate_steps,
    rule_step_judge,
    split_into_steps,
)

SOLUTION = "Step 1: 6 * 7 = 42\nStep 2: 42 + 1 = 43\nStep 3: so the answer is \\boxed{43}"
TASK = {"prompt": "What is 6 * 7 + 1?", "answer": "43"}


def test_step_splitting_modes_and_custom_separators():
    spans = split_into_steps(SOLUTION)
    assert [SOLUTION[a:b] for a, b in spans][1] == "Step 2: 42 + 1 = 43"
    text = "first\n\nsecond\n\n\n\nthird"
    assert [text[a:b] for a, b in split_into_steps(text, "paragraphs")] == \
        ["first", "second", "third"]
    tagged = "a = 1 ки b = 2 ки c"
    assert [tagged[a:b] for a, b in split_into_steps(tagged, separator="ки")] == \
        ["a = 1", "b = 2", "c"]
    assert split_into_steps("", separator="ки") == []


def test_aggregations():
    values = [0.9, 0.5, 0.8]
    assert aggregate_steps(values, "min") == 0.5
    assert aggregate_steps(values, "product") == pytest.approx(0.36)
    assert aggregate_steps(values, "last") == 0.8
    assert aggregate_steps(values, "mean") == pytest.approx(2.2 / 3)
    with pytest.raises(ValueError):
        aggregate_steps(values, "max")


def test_rule_based_step_checker_through_the_same_interface():
    judge = rule_step_judge(aggregate="min")
    bad = "Step 1: 6 * 7 = 42\nStep 2: 42 + 1 = 44\nStep 3: so \\boxed{44}"
    v = judge(bad, TASK)
    # the last step is the response's own answer (44, wrong): its step score is the outcome's
    assert v.steps == [1.0, 0.0, 0.0] and v.score == 0.0 and len(v.details["spans"]) == 3
    good = judge(SOLUTION, TASK)
    assert good.steps == [1.0, 1.0, 1.0] and good.score == 1.0 and good.passed


def test_model_prm_scores_each_step_at_its_tag(smollm2):
    prm = ModelPRM.from_chat(smollm2, step_tag="\n\n", good_token="+", bad_token="-",
                             aggregate="product")
    v = prm(SOLUTION, TASK)
    assert len(v.steps) == len(v.details["spans"]) == 3
    assert all(0 < s < 1 for s in v.steps)
    assert v.score == pytest.approx(math.prod(v.steps))
    assert prm.model is smollm2.model, "reuses the loaded model"
    # the same steps scored through the public helper agree
    again = prm.step_probabilities(TASK["prompt"], [SOLUTION[a:b] for a, b in v.details["spans"]])
    assert again == pytest.approx(v.steps)
    yes_no = ModelPRM.from_chat(smollm2, good_token="Yes", bad_token="No", aggregate="last")
    assert yes_no(SOLUTION, TASK).score == yes_no(SOLUTION, TASK).steps[-1]
    with pytest.raises(ValueError, match="tokens"):
        ModelPRM.from_chat(smollm2, good_token="definitely correct")
    empty = prm("   ", TASK)
    assert not empty.passed and empty.details["spans"] == []


class PrefixAwarePolicy:
    """Completes correctly only when the prefix contains no wrong step (scripted, seeded)."""

    name = "prefix-aware"

    def __init__(self):
        self.calls = 0

    def generate(self, conversations, sampling=None):
        self.calls += 1
        out = []
        for i, conv in enumerate(conversations):
            prefix = conv[-1]["content"]
            if "= 44" in prefix:
                out.append("so \\boxed{44}")
            else:  # right half the time, by position
                out.append("so \\boxed{43}" if i % 2 == 0 else "so \\boxed{40}")
        return out


def test_monte_carlo_values_soft_and_hard():
    bad = "Step 1: 6 * 7 = 42\nStep 2: 42 + 1 = 44\nStep 3: so \\boxed{44}"
    policy = PrefixAwarePolicy()
    soft = MonteCarloPRM(policy, math_constraint(), n=2, mode="soft")(bad, TASK)
    assert soft.steps == [0.5, 0.0, 0.0] and soft.score == 0.0
    assert policy.calls == 1, "all step prefixes x n completions go in one batch"
    hard = MonteCarloPRM(PrefixAwarePolicy(), math_constraint(), n=2, mode="hard",
                         aggregate="mean")(bad, TASK)
    # mean of the steps is 1/3; the response's own answer (44) is wrong, which halves it
    assert hard.steps == [1.0, 0.0, 0.0] and hard.score == pytest.approx(0.5 * 1 / 3)
    assert not hard.passed
    rollouts = soft.details["rollouts"]
    assert len(rollouts) == 3 and rollouts[0]["correct"] == [True, False]


def test_monte_carlo_with_the_real_policy(smollm2):
    prm = MonteCarloPRM(smollm2, math_constraint(), n=1,
                        sampling=SamplingParams(temperature=0.7, max_new_tokens=12, seed=0))
    response = "6 * 7 = 42\n42 + 1 = 43"
    v = prm(response, TASK)
    assert len(v.steps) == 2 and all(s in (0.0, 1.0) for s in v.steps)
    assert all(isinstance(r["completions"][0], str) for r in v.details["rollouts"][:-1])
    last = v.details["rollouts"][-1]  # the last step is the response's own answer, no rollout
    own = math_constraint()(response, TASK).passed
    assert last["final_answer"] and last["correct"] == [own] and v.steps[-1] == float(own)
