"""GiGPO (arXiv 2505.10978): advantages against values worked out by hand from the paper's
equations (Eq. 3 episode groups, Eq. 5 discounted step returns, Eq. 6 anchor-state groups, Eq. 7
step advantages, Eq. 8 A = A^E + ω·A^S), the trainer's wiring, and one short SmolLM2 run on a
multi-turn environment (``slow``, ~1 min on one core)."""

from __future__ import annotations

import math

import pytest
import torch

from agents import GRPOConfig
from agents.algorithms.gigpo import (
    RESET_STATE,
    anchor_states,
    discounted_returns,
    gigpo_advantages,
    spread_over_turns,
)
from agents.run.presets import PRESETS
from tests.agents.smollm2_step import smollm2_step

# Task 0: three episodes; task 1: two. "s1" in both tasks is two different states (other task).
STEP_REWARDS = [[0.0, 1.0], [0.0, 0.0, 1.0], [0.0], [0.0, 0.0], [1.0]]
ANCHORS = [[RESET_STATE, "s1"], [RESET_STATE, "s1", "s2"], [RESET_STATE],
           [RESET_STATE, "s1"], [RESET_STATE]]
GROUPS = [0, 0, 0, 1, 1]


def test_discounted_returns_by_hand():
    assert discounted_returns([0.0, 0.0, 1.0], 0.5) == [0.25, 0.5, 1.0]
    assert discounted_returns([1.0, 2.0], 1.0) == [3.0, 2.0]
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns([1.0], 1.5)


def test_mean_norm_advantages_by_hand():
    """γ = 0.5, ω = 1, F_norm = 1.
    Episode totals: task 0 (1, 1, 0) mean 2/3 -> A^E = 1/3, 1/3, -2/3; task 1 (0, 1) -> -1/2, 1/2.
    Returns: ep0 (0.5, 1), ep1 (0.25, 0.5, 1), ep2 (0), ep3 (0, 0), ep4 (1).
    Step groups: task 0 reset {0.5, 0.25, 0} mean 0.25 -> +0.25, 0, -0.25; s1 {1, 0.5} -> ±0.25;
    s2 {1} alone -> 0; task 1 reset {0, 1} -> ∓0.5; s1 {0} alone -> 0."""
    adv, stats = gigpo_advantages(STEP_REWARDS, ANCHORS, GROUPS, gamma=0.5, step_advantage_w=1.0,
                                  scale_rewards="none")
    expected = [[7 / 12, 7 / 12], [1 / 3, 1 / 12, 1 / 3], [-11 / 12], [-1.0, -0.5], [1.0]]
    for row, want in zip(adv, expected, strict=True):
        assert row == pytest.approx(want, abs=1e-12)
    assert stats == pytest.approx({
        "gigpo/step_groups": 5.0,          # t0 reset, t0 s1, t0 s2, t1 reset, t1 s1
        "gigpo/step_groups_shared": 3.0,   # t0 reset (3 steps), t0 s1 (2), t1 reset (2)
        "gigpo/anchor_groups": 1.0,        # t0 s1: the one GRPO does not have
        "gigpo/step_group_size_mean": 9 / 5,
        "gigpo/shared_step_frac": 7 / 9,
    })


def test_mean_std_norm_and_step_weight_by_hand():
    """F_norm = std (Bessel), ω = 2. Task 0 totals (1, 1, 0): std √(1/3) -> A^E = ±0.57735,
    -1.1547; reset returns (0.5, 0.25, 0): std 0.25 -> A^S = 1, 0, -1; s1 (1, 0.5): std
    √0.125 -> ±0.70711. Task 1: (0, 1) std √0.5 -> ∓0.70711 at both levels."""
    adv, _ = gigpo_advantages(STEP_REWARDS, ANCHORS, GROUPS, gamma=0.5, step_advantage_w=2.0,
                              scale_rewards="group", epsilon=0.0)
    s3, s2 = 1 / math.sqrt(3), 1 / math.sqrt(2)
    expected = [[1 / s3 / 3 + 2 * 1.0, 1 / s3 / 3 + 2 * s2],
                [1 / s3 / 3 + 0.0, 1 / s3 / 3 - 2 * s2, 1 / s3 / 3 + 0.0],
                [-2 / 3 / s3 - 2 * 1.0],
                [-s2 - 2 * s2, -s2 + 0.0],
                [s2 + 2 * s2]]
    for row, want in zip(adv, expected, strict=True):
        assert row == pytest.approx(want, abs=1e-9)


def test_single_turn_gigpo_is_grpo_scaled_by_one_plus_w():
    """One step per episode: every step acts from the reset state, so A^S = A^E (γ^0 = 1)."""
    rewards = [[1.0], [0.0], [0.0], [1.0]]
    adv, stats = gigpo_advantages(rewards, [[RESET_STATE]] * 4, [0, 0, 0, 0], gamma=0.95,
                                  step_advantage_w=0.5, scale_rewards="none")
    assert [a[0] for a in adv] == pytest.approx([0.75, -0.75, -0.75, 0.75])
    assert stats["gigpo/anchor_groups"] == 0.0 and stats["gigpo/step_groups"] == 1.0


def test_anchor_states_come_from_info_state_key():
    infos = [{"state_key": "a"}, {"state_key": "b"}, {"state_key": "end"}]
    assert anchor_states(infos) == [RESET_STATE, "a", "b"]
    assert anchor_states([{"no": "key"}]) == [RESET_STATE]  # the last state is never acted from
    with pytest.raises(ValueError, match="state_key"):
        anchor_states([{}, {"state_key": "x"}])


def test_spread_over_turns():
    # completion: turn 1 = ids 0-2, env ids 3-4, turn 2 = ids 5-6, trailing env id 7
    out = spread_over_turns([1.5, -2.0], [2, 6], 8)
    assert out.tolist() == [1.5, 1.5, 1.5, -2.0, -2.0, -2.0, -2.0, -2.0]
    with pytest.raises(ValueError, match="turns"):
        spread_over_turns([1.0], [2, 6], 8)
    with pytest.raises(ValueError, match="outside"):
        spread_over_turns([1.0], [9], 8)


def test_bad_inputs_are_refused_clearly():
    with pytest.raises(ValueError, match="scale_rewards"):
        gigpo_advantages([[1.0]], [[RESET_STATE]], [0], scale_rewards="batch")
    with pytest.raises(ValueError, match="at least one step"):
        gigpo_advantages([[]], [[]], [0])
    with pytest.raises(ValueError, match="anchor"):
        gigpo_advantages([[1.0, 0.0]], [[RESET_STATE]], [0])
    with pytest.raises(ValueError, match="batch"):
        GRPOConfig(advantage_estimator="gigpo", scale_rewards="batch")
    with pytest.raises(ValueError, match="gamma"):
        GRPOConfig(advantage_estimator="gigpo", gamma=1.5)


def test_verl_agent_names():
    cfg = GRPOConfig.from_dict({"algorithm": {"adv_estimator": "gigpo", "gamma": 0.9,
                                              "gigpo": {"step_advantage_w": 0.5,
                                                        "mode": "mean_std_norm"}}})
    assert (cfg.advantage_estimator, cfg.gamma, cfg.step_advantage_w, cfg.scale_rewards) == \
        ("gigpo", 0.9, 0.5, "group")
    with pytest.raises(ValueError, match="enable_similarity"):
        GRPOConfig.from_dict({"algorithm.gigpo.enable_similarity": True})
    assert PRESETS["gigpo"][1]["advantage_estimator"] == "gigpo"
    from agents.cli import config_for  # what `rlenvs train --algo gigpo` builds

    cfg = config_for("gigpo", {"step_advantage_w": 0.5})
    assert (cfg.advantage_estimator, cfg.scale_rewards, cfg.gamma, cfg.step_advantage_w) == \
        ("gigpo", "none", 0.95, 0.5)


@pytest.mark.slow
def test_gigpo_trains_smollm2_on_a_multi_turn_env(tmp_path):
    """ArithmeticFeedback-v0 (up to 3 attempts, unary feedback) with SmolLM2, one step: the
    trainer gives every turn's tokens its GiGPO advantage, logs the step groups, and moves the
    weights. Level 1 with lenient answers, so SmolLM2's attempts differ in reward."""
    run = smollm2_step(tmp_path, "gigpo", "rlenvs/ArithmeticFeedback-v0",
                       {"max_attempts": 3, "env_kwargs": {"level": 1, "lenient": True}},
                       max_completion_length=32)
    trajs, stats = run.trajectories, run.stats
    assert stats["completions/mean_turns"] > 1.0  # some episodes needed another attempt
    assert stats["gigpo/step_groups"] > 3  # three tasks' reset states and at least one later one
    per_step, _ = gigpo_advantages(
        [t.rewards for t in trajs], [anchor_states(t.infos) for t in trajs],
        [t.group for t in trajs], gamma=0.95, step_advantage_w=1.0, scale_rewards="none")
    assert any(abs(a) > 0 for row in per_step for a in row), "no signal in this batch"
    for s, t, want in zip(run.samples, trajs, per_step, strict=True):
        got = s.tokens["advantages"]
        assert torch.isfinite(got).all()
        for k, end in enumerate(t.turn_ends):  # a turn's last policy token has its step's A
            assert got[end].item() == pytest.approx(want[k], abs=1e-6)
    assert run.record["step"] == 1
    assert math.isfinite(run.record["loss"]) and math.isfinite(run.record["grad_norm"])
    assert run.record["gigpo/step_groups"] == stats["gigpo/step_groups"]
    assert run.moved, "no weight moved"
