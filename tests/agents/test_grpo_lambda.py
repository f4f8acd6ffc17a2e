"""GRPO-λ (arXiv 2505.18086, issue 33): Kimi's length reward, the Top-λ filter, and what the
paper says it does -- low-accuracy groups keep the length-agnostic 0/1 reward (so their
advantages are plain GRPO's), high-accuracy groups prefer shorter correct answers, and the share
of groups under the length reward grows with accuracy (the staged schedule) -- through the GRPO
trainer's reward path and by name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from agents import GRPOConfig, GRPOTrainer
from agents.algorithms.grpo import group_advantages
from agents.algorithms.grpo_lambda import (
    kimi_length_rewards,
    length_shaped_rewards,
    top_lambda_groups,
)
from agents.run.presets import PRESETS

# five groups of four: accuracy 1.0, 0.75, 0.25, 0.0, 0.75
CORRECT = torch.tensor([1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1.0])
LENGTHS = torch.tensor([10, 20, 30, 50, 12, 40, 20, 8, 60, 10, 20, 30, 5, 15, 25, 45,
                        9, 9, 30, 21])
GROUPS = torch.arange(20) // 4


def test_kimi_length_reward_by_hand():
    got = kimi_length_rewards(LENGTHS, CORRECT, GROUPS)
    # group 0: L_min 10, L_max 50: 0.5 - (L - 10)/40, all correct
    assert got[:4].tolist() == pytest.approx([0.5, 0.25, 0.0, -0.5])
    # group 1: 8..40; the wrong one (8 tokens, λ = 0.5) gets min(0, λ) = 0
    assert got[4:8].tolist() == pytest.approx([0.5 - 4 / 32, 0.5 - 1.0, 0.5 - 12 / 32, 0.0])
    # group 2: the correct 60-token answer is the longest: -0.5; wrong ones min(0, λ)
    assert got[8:12].tolist() == pytest.approx([-0.5, 0.0, 0.0, 0.0])
    # group 3, all wrong (5..45 tokens): only the longer-than-midpoint answer is penalised
    assert got[12:16].tolist() == pytest.approx([0.0, 0.0, 0.0, -0.5])
    # equal lengths: no length reward
    assert kimi_length_rewards(torch.tensor([7, 7]), torch.tensor([1, 0]),
                               torch.tensor([0, 0])).tolist() == [0.0, 0.0]


def test_top_lambda_picks_the_most_accurate_groups():
    assert top_lambda_groups(CORRECT, GROUPS, 0.2) == [0]
    assert top_lambda_groups(CORRECT, GROUPS, 0.4) == [0, 1]  # tie 0.75: lower id first
    assert top_lambda_groups(CORRECT, GROUPS, 1.0) == [0, 1, 4, 2]  # all-wrong never
    assert top_lambda_groups(CORRECT, GROUPS, 1.0, min_accuracy=0.5) == [0, 1, 4]
    assert top_lambda_groups(CORRECT, GROUPS, 0.0) == []
    with pytest.raises(ValueError, match="top_lambda"):
        top_lambda_groups(CORRECT, GROUPS, 1.5)


def test_low_accuracy_groups_keep_plain_grpo_advantages():
    """The paper's point: a struggling prompt is not pushed to answer shorter. Under GRPO-λ
    group 2 (accuracy 0.25) keeps its 0/1 advantages exactly; under the plain length penalty
    its only correct (long) answer loses advantage."""
    rewards = CORRECT.clone()
    plain, _ = group_advantages(rewards, GROUPS)
    lam, stats = length_shaped_rewards(rewards, CORRECT, LENGTHS, GROUPS, "top_lambda", 0.4)
    lam_adv, _ = group_advantages(lam, GROUPS)
    lp, _ = length_shaped_rewards(rewards, CORRECT, LENGTHS, GROUPS, "all")
    lp_adv, _ = group_advantages(lp, GROUPS)
    for g in (2, 3, 4):
        idx = GROUPS == g
        torch.testing.assert_close(lam_adv[idx], plain[idx])
    assert lp_adv[8] < plain[8]  # the correct 60-token answer of the hard prompt
    # the selected, accurate groups now rank shorter correct answers higher
    assert lam_adv[0] > lam_adv[1] > lam_adv[2] > lam_adv[3]
    assert plain[:4].tolist() == [0.0] * 4  # plain GRPO had no signal in group 0 at all
    assert stats == {"length_reward/groups_frac": pytest.approx(0.4),
                     "length_reward/mean": pytest.approx(float((lam - rewards).mean()))}


def test_the_length_reward_reaches_more_groups_as_accuracy_rises():
    """The staged schedule: the same λ gives no length reward while no group is right, and up to
    λ of the groups once they are."""
    groups = torch.arange(40) // 4
    lengths = torch.arange(40) % 4 * 10 + 5
    fractions = []
    for right_per_group in range(5):
        correct = ((torch.arange(40) % 4) < right_per_group).float()
        correct[:4] = 0 if right_per_group == 0 else correct[:4]
        _, stats = length_shaped_rewards(correct, correct, lengths, groups, "top_lambda", 0.3,
                                         min_accuracy=0.5)
        fractions.append(stats["length_reward/groups_frac"])
    assert fractions == [0.0, 0.0, 0.0, pytest.approx(0.3), pytest.approx(0.3)]


def _trajs():
    return [SimpleNamespace(total_reward=float(c), passed=bool(c), num_policy_tokens=int(n),
                            group=int(g)) for c, n, g in zip(CORRECT, LENGTHS, GROUPS,
                                                              strict=True)]


def test_the_trainer_shapes_rewards_by_name():
    from agents.cli import config_for  # what `rlenvs train --algo grpo_lambda` builds

    cfg = config_for("grpo_lambda", {"num_generations": 4})
    assert (cfg.length_reward, cfg.top_lambda) == ("top_lambda", 0.2)
    assert config_for("length_penalty", {}).length_reward == "all"
    assert PRESETS["grpo_lambda"][0] == "GRPOTrainer"
    trainer = object.__new__(GRPOTrainer)
    trainer.config = cfg
    shaped, raw, penalty = trainer._rewards(_trajs())
    want, _ = length_shaped_rewards(CORRECT, CORRECT, LENGTHS, GROUPS, "top_lambda", 0.2)
    torch.testing.assert_close(shaped, want.float())
    torch.testing.assert_close(raw, CORRECT.float())
    assert penalty is None
    trainer.config = GRPOConfig(num_generations=4)  # off by default: rewards untouched
    torch.testing.assert_close(trainer._rewards(_trajs())[0], CORRECT.float())
    with pytest.raises(ValueError, match="length_reward"):
        GRPOConfig(length_reward="shortest")
    with pytest.raises(ValueError, match="top_lambda"):
        GRPOConfig(length_reward="top_lambda", top_lambda=2.0)


@pytest.mark.slow
def test_grpo_lambda_trains_smollm2_on_arithmetic(tmp_path):
    """One step of the preset on the real model: the length-reward share is logged and bounded
    by ⌈λ·G⌉/G, and groups outside the top λ train on their plain 0/1 rewards."""
    from tests.agents.smollm2_step import smollm2_step

    run = smollm2_step(tmp_path, "grpo_lambda", "rlenvs/Arithmetic-v0",
                       {"level": 1, "lenient": True}, top_lambda=0.3)
    assert 0.0 <= run.record["length_reward/groups_frac"] <= 1 / 3  # ⌈0.3·3⌉ of 3 groups
    rewards, raw, _ = run.trainer._rewards(run.trajectories)
    chosen = top_lambda_groups(torch.tensor([float(t.passed) for t in run.trajectories]),
                               torch.tensor([t.group for t in run.trajectories]), 0.3)
    for r, plain, t in zip(rewards.tolist(), raw.tolist(), run.trajectories, strict=True):
        if t.group not in chosen:
            assert r == plain
    assert run.moved
