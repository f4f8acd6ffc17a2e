"""Reward schedules: values against hand-computed ones, state survives restore, env wiring."""

from __future__ import annotations

import pytest

import rlenvs
from judges import Verdict

RIGHT = Verdict(score=1.0, passed=True)
PARTIAL = Verdict(score=0.3, passed=False)


@pytest.mark.parametrize(
    "length,expected",
    [(0, 1.0), (60, 1.0), (61, 1.0 - 1 / 40), (80, 0.5), (100, 0.0), (101, 0.0)],
)
def test_overlong_shaping_matches_dapo_formula(length, expected):
    # L_max = 100, L_cache = 40: free up to 60, linear to -1 at 100, -1 beyond.
    schedule = rlenvs.OverlongShaping("binary", max_length=100, cache_length=40)
    assert schedule(RIGHT, "x" * length) == pytest.approx(expected)
    assert schedule(RIGHT) == 1.0  # no reply, no length term


def test_overlong_with_a_tokenizer_counts_tokens_and_scales():
    class Words:
        def encode(self, text, add_special_tokens=False):
            return text.split()

    schedule = rlenvs.make_schedule({"name": "overlong", "base": "dense", "max_length": 10,
                                     "cache_length": 5, "penalty_factor": 0.5,
                                     "tokenizer": Words()})
    assert schedule(PARTIAL, "a " * 8) == pytest.approx(0.3 + 0.5 * (5 - 8) / 5)
    assert schedule(PARTIAL, "a " * 11) == pytest.approx(0.3 - 0.5)


def test_length_penalty_is_linear_and_capped():
    schedule = rlenvs.LengthPenalty("binary", target_length=100, coef=0.5, max_penalty=0.4)
    assert schedule(RIGHT, "x" * 100) == 1.0
    assert schedule(RIGHT, "x" * 150) == pytest.approx(1.0 - 0.25)
    assert schedule(RIGHT, "x" * 1000) == pytest.approx(0.6)


def test_wrapped_two_stage_schedule_advances_and_restores():
    spec = {"name": "overlong", "max_length": 100, "cache_length": 50,
            "base": {"name": "dense_then_binary", "switch_step": 2}}
    schedule = rlenvs.make_schedule(spec)
    assert schedule(PARTIAL, "x") == pytest.approx(0.3)
    schedule.advance(step=2)
    assert schedule(PARTIAL, "x") == 0.0
    fresh = rlenvs.make_schedule(spec)
    fresh.load_state_dict(schedule.state_dict())
    assert fresh.base.stage == "binary"


def test_env_applies_length_shaping_to_the_reply():
    env = rlenvs.make("rlenvs/Arithmetic-v0", reward={"name": "overlong", "max_length": 40,
                                                       "cache_length": 20})
    env.reset(options={"task": {"question": "2 + 2", "answer": "4"}})
    _, reward, _, _, info = env.step("\\boxed{4}" + " " * 21)  # 30 chars: half-way into the cache
    assert reward == pytest.approx(1.0 - 0.5) and info["raw_score"] == 1.0


def test_bad_schedule_arguments():
    with pytest.raises(ValueError):
        rlenvs.OverlongShaping(max_length=10, cache_length=20)
    with pytest.raises(ValueError):
        rlenvs.LengthPenalty(target_length=0)
