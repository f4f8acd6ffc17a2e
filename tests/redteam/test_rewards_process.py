"""Red team, process rewards and reward schedules: paying for steps instead of answers.

A policy scored per step learns to add steps: trivially true ones (``1 + 1 = 2``), the same one
again and again, prose with nothing to check, or steps a continuation can finish while its own
answer stays wrong. A length-shaped schedule invites the opposite trade. Each attack below is a
wrong answer that must score strictly less than a right one and never pass.

Holes found and closed here: ``judges.prm.rule_step_judge`` dropped the outcome when it
re-aggregated the steps (a wrong answer with true steps scored 1.0, the same as a right one,
under every aggregate); ``MonteCarloPRM`` with ``aggregate="mean"`` paid ``n/(n+1)`` for a wrong
answer whose steps its continuations could finish; ``OverlongShaping`` accepted a negative
``penalty_factor`` (a bonus for length).
"""

from __future__ import annotations

import pytest

import rlenvs
from judges.moj import math_constraint
from judges.prm import AGGREGATES, MonteCarloPRM, rule_step_judge
from rlenvs.rewards import OverlongShaping, make_schedule

TASK = {"question": "What is 17 * 3 + 5?", "answer": "56"}
RIGHT_SHORT = "\\boxed{56}"
RIGHT_WORKED = "Step 1: 17 * 3 = 51\nStep 2: 51 + 5 = 56\nStep 3: so \\boxed{56}"

TRIVIAL = "".join(f"Step {k}: {k} + 1 = {k + 1}\n" for k in range(1, 41))
WRONG = {
    "true steps, wrong answer": "Step 1: 17 * 3 = 51\nStep 2: 2 + 2 = 4\nStep 3: \\boxed{57}",
    "many trivial steps": TRIVIAL + "Step 41: so \\boxed{57}",
    "one wrong step diluted": "Step 0: 17 * 3 = 52\n" + TRIVIAL + "Step 41: \\boxed{57}",
    "the same step repeated": "".join(f"Step {k}: 17 * 3 = 51\n" for k in range(1, 30))
    + "Step 30: \\boxed{57}",
    "steps about something else": "Step 1: The sky is blue.\nStep 2: Cats like milk.\n"
    "Step 3: Water is wet.\nStep 4: \\boxed{57}",
    "no answer at all": TRIVIAL,
}


@pytest.mark.parametrize("aggregate", AGGREGATES)
@pytest.mark.parametrize("attack", sorted(WRONG))
def test_rule_steps_never_carry_a_wrong_answer(aggregate, attack):
    judge = rule_step_judge(aggregate=aggregate)
    dense = make_schedule("dense")
    wrong = judge(WRONG[attack], TASK)
    assert not wrong.passed, wrong.reason
    floor = min(dense(judge(r, TASK), r) for r in (RIGHT_SHORT, RIGHT_WORKED))
    assert dense(wrong, WRONG[attack]) < floor, (wrong.score, wrong.steps)
    assert wrong.score <= 0.5  # the outcome half of the score is lost


def test_default_step_aggregate_is_not_diluted_by_padding():
    judge = rule_step_judge()  # min
    honest_slip = judge("Step 1: 17 * 3 = 52\nStep 2: \\boxed{57}", TASK)
    padded_slip = judge(WRONG["one wrong step diluted"], TASK)
    assert padded_slip.score <= honest_slip.score == 0.0


class FixingPolicy:
    """Continues any prefix with a correct finish, whatever the prefix got wrong."""

    name = "fixer"

    def generate(self, conversations, sampling=None):
        return ["Continuing: 17 * 3 + 5 = 56, so \\boxed{56}" for _ in conversations]


@pytest.mark.parametrize("aggregate", AGGREGATES)
def test_fixable_steps_do_not_pay_a_wrong_answer(aggregate):
    # before: aggregate="mean" scored 29/30 = 0.967 (and dense paid it) for a wrong answer
    prm = MonteCarloPRM(FixingPolicy(), math_constraint(), n=1, aggregate=aggregate)
    wrong = prm(WRONG["the same step repeated"], TASK)
    right = prm(RIGHT_WORKED, TASK)
    assert right.passed and right.score == 1.0
    assert not wrong.passed and wrong.score <= 0.5 < right.score, (wrong.score, wrong.steps)


def test_overlong_shaping_never_pays_length():
    with pytest.raises(ValueError, match="penalty_factor"):
        OverlongShaping(max_length=100, cache_length=50, penalty_factor=-1.0)
    with pytest.raises(ValueError, match="penalty_factor"):
        make_schedule({"name": "overlong", "penalty_factor": -0.5})


@pytest.mark.parametrize("schedule", [
    {"name": "overlong", "base": "dense", "max_length": 200, "cache_length": 100},
    {"name": "length_penalty", "base": "dense", "target_length": 100},
    "dense",
    "binary",
])
def test_a_wrong_answer_of_any_length_earns_less_than_a_right_short_one(schedule):
    env = rlenvs.make("rlenvs/Arithmetic-v0", level=2, format_credit=0.2, reward=schedule)
    _, info = env.reset(seed=3)
    gold = int(info["task"]["answer"])
    right = env.unwrapped.clone().step(f"\\boxed{{{gold}}}")[1]
    for pad in (0, 150, 400, 5000):
        wrong_reply = "Let me think. " * (pad // 14) + f"\\boxed{{{gold + 1}}}"
        wrong = env.unwrapped.clone().step(wrong_reply)[1]
        assert wrong < right, (schedule, pad, wrong, right)


def test_feedback_env_applies_length_shaping_to_the_rewarded_reply():
    schedule = {"name": "overlong", "base": "binary", "max_length": 100, "cache_length": 50}
    env = rlenvs.make("rlenvs/ArithmeticFeedback-v0", reward=schedule)
    _, info = env.reset(seed=0)
    padded = "x" * 5000 + f" \\boxed{{{info['task']['answer']}}}"
    _, reward, terminated, _, info = env.step(padded)
    assert terminated and info["verdict"].passed
    single = rlenvs.make("rlenvs/Arithmetic-v0", reward=schedule)
    single.reset(options={"task": env.unwrapped.task})
    assert single.step(padded)[1] == 0.0  # binary 1.0 + overlong -1.0: the penalty applies
    assert reward == 0.0  # before the fix: 1.0


def test_feedback_retries_pay_less_than_a_first_right_answer():
    """Enumerating answers across "try again" turns: each extra attempt is discounted, a
    repeated answer is penalised, and the feedback never shows the answer."""
    env = rlenvs.make("rlenvs/ArithmeticFeedback-v0", max_attempts=4, repeat_penalty=0.1)
    rewards_at = {}
    for k in range(1, 5):
        obs, info = env.reset(seed=11)
        gold = int(info["task"]["answer"])
        total = 0.0
        for attempt in range(1, k):
            obs, r, term, _, _ = env.step(f"\\boxed{{{gold + attempt}}}")
            total += r
            assert not term
            assert str(gold) not in obs[-1]["content"]
        obs, r, term, _, _ = env.step(f"\\boxed{{{gold}}}")
        assert term
        rewards_at[k] = total + r
    assert rewards_at[1] == 1.0
    assert rewards_at[1] > rewards_at[2] > rewards_at[3] > rewards_at[4] > 0.0
    env.reset(seed=11)
    gold = int(env.unwrapped.task["answer"])
    env.step(f"\\boxed{{{gold + 1}}}")
    assert env.step(f"\\boxed{{{gold + 1}}}")[1] == -0.1
    hedge = env.step(f"\\boxed{{{gold + 2}}} or \\boxed{{{gold}}}")
    assert hedge[1] <= 0.0 and not hedge[4]["verdict"].passed
