"""REINFORCE++ and REINFORCE++-baseline (issue 33) against verl 0.9.1's own ``core_algos`` on
fixed tensors (observation tokens inside a row, a fully masked row, a singleton group, γ < 1),
through the GRPO trainer's advantage path, and by name (preset, verl key, CLI config)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from verl.trainer.config import AlgoConfig
from verl.trainer.ppo import core_algos as V

from agents import GRPOConfig, GRPOTrainer
from agents.algorithms.reinforce_pp import (
    outcome_token_rewards,
    reinforce_pp_advantages,
    reinforce_pp_baseline_advantages,
)
from agents.rollout.batch import Sample
from agents.run.presets import PRESETS

TOL = dict(rtol=1e-6, atol=1e-7)
REWARDS = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 3.0, 1.0, 0.0, 0.2], dtype=torch.float64)
GROUPS = torch.tensor([0, 0, 0, 0, 1, 1, 2, 3, 3, 3])  # group 1 zero-variance, 2 singleton
LENGTHS = [3, 7, 5, 2, 6, 4, 7, 1, 5, 3]


def _mask(width: int = 7) -> torch.Tensor:
    mask = torch.zeros((len(LENGTHS), width), dtype=torch.float64)
    for i, n in enumerate(LENGTHS):
        mask[i, :n] = 1
    mask[1, 2:4] = 0  # an observation span inside a multi-turn row
    mask[4, 0] = 0    # a row that starts with an observation
    mask[5] = 0       # a fully masked row (cut off and masked, say)
    return mask


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_reinforce_plus_plus_matches_verl(gamma):
    mask = _mask()
    token_rewards = outcome_token_rewards(REWARDS, mask)
    assert token_rewards.sum(-1).tolist() == [r if mask[i].any() else 0.0
                                              for i, r in enumerate(REWARDS.tolist())]
    theirs_adv, theirs_ret = V.compute_reinforce_plus_plus_outcome_advantage(
        token_rewards.clone(), mask, config=AlgoConfig(gamma=gamma))
    ours_adv, ours_ret = reinforce_pp_advantages(token_rewards, mask, gamma)
    torch.testing.assert_close(ours_ret, theirs_ret, **TOL)
    torch.testing.assert_close(ours_adv, theirs_adv, **TOL)
    # the return skips the observation span: row 1's first tokens see γ^(policy tokens after)
    assert ours_ret[1, 0].item() == pytest.approx(0.0)
    assert ours_ret[0, 0].item() == pytest.approx(gamma ** 2)
    assert float((ours_adv * mask).sum()) == pytest.approx(0.0, abs=1e-9)  # whitened


def test_reinforce_plus_plus_baseline_matches_verl():
    mask = _mask()
    token_rewards = outcome_token_rewards(REWARDS, torch.ones_like(mask))
    theirs, _ = V.compute_reinforce_plus_plus_baseline_outcome_advantage(
        token_rewards.clone(), mask, GROUPS.numpy())
    ours = reinforce_pp_baseline_advantages(REWARDS, GROUPS, mask)
    torch.testing.assert_close(ours, theirs, **TOL)
    assert (ours[5] == 0).all() and ours[2, 0] < 0 < ours[0, 0]


def test_the_grpo_trainer_uses_them_batch_wide():
    """The trainer's advantage path on samples of different lengths: verl's tables, row by row
    (whitening runs over the whole round, so a group-only normalisation would differ)."""
    mask = _mask()
    samples = [Sample([1], [0] * n, mask[i, :n].float()) for i, n in enumerate(LENGTHS)]
    trajs = [SimpleNamespace(advantages=None)] * len(samples)
    expected = {
        "reinforce_plus_plus": V.compute_reinforce_plus_plus_outcome_advantage(
            outcome_token_rewards(REWARDS, mask), mask, config=AlgoConfig(gamma=1.0))[0],
        "reinforce_plus_plus_baseline": V.compute_reinforce_plus_plus_baseline_outcome_advantage(
            outcome_token_rewards(REWARDS, torch.ones_like(mask)), mask, GROUPS.numpy())[0],
    }
    for name, table in expected.items():
        trainer = object.__new__(GRPOTrainer)
        trainer.config = GRPOConfig.from_dict({"algorithm.adv_estimator": name,
                                               "rollout.n": 2})
        assert trainer.config.gamma == 1.0  # verl's default under verl names
        adv, _ = trainer._advantages(trajs, samples, REWARDS.float(), GROUPS)
        for i, a in enumerate(adv):
            assert a.shape == (LENGTHS[i],)
            torch.testing.assert_close(a.double(), table[i, : LENGTHS[i]].double(),
                                       rtol=1e-5, atol=1e-6)


def test_named_from_presets_verl_keys_and_the_cli():
    assert PRESETS["reinforce++"][1]["advantage_estimator"] == "reinforce_plus_plus"
    assert PRESETS["reinforce++_baseline"][1]["advantage_estimator"] == \
        "reinforce_plus_plus_baseline"
    from agents.cli import config_for  # what `rlenvs train --algo reinforce++` builds

    cfg = config_for("reinforce++", {"num_generations": 4})
    assert (cfg.advantage_estimator, cfg.gamma) == ("reinforce_plus_plus", 1.0)
    assert config_for("reinforce++_baseline", {}).advantage_estimator == \
        "reinforce_plus_plus_baseline"
    cfg = GRPOConfig.from_dict({"algorithm.adv_estimator": "reinforce_plus_plus",
                                "algorithm.gamma": 0.99})
    assert (cfg.advantage_estimator, cfg.gamma, cfg.semantics) == \
        ("reinforce_plus_plus", 0.99, "verl")
    with pytest.raises(ValueError, match="advantage_estimator"):
        GRPOConfig(advantage_estimator="reinforce_plus_plus_typo")


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="rewards"):
        outcome_token_rewards(torch.ones(3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="token_rewards"):
        reinforce_pp_advantages(torch.ones(2, 3), torch.ones(2, 4))


@pytest.mark.slow
def test_reinforce_plus_plus_trains_smollm2_on_arithmetic(tmp_path):
    """One step of the preset on the real model: every loss token carries the batch-whitened
    return (mean 0 over the round's loss tokens) and the weights move."""
    from tests.agents.smollm2_step import smollm2_step

    run = smollm2_step(tmp_path, "reinforce++", "rlenvs/Arithmetic-v0",
                       {"level": 1, "lenient": True})
    tokens = torch.cat([s.tokens["advantages"][s.mask > 0] for s in run.samples])
    assert 0 < run.record["pass_rate"] < 1, "no signal in this batch"
    assert float(tokens.double().mean()) == pytest.approx(0.0, abs=1e-5)
    assert run.moved
