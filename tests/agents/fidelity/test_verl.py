"""Our algorithms against verl 0.9.1's own ``core_algos`` on fixed tensors, under verl names
(``semantics="verl"``, set by ``from_dict`` with verl keys): agreement to 1e-6."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from verl.trainer.ppo import core_algos as V
from verl.workers.config import ActorConfig

from agents.algorithms import (
    aggregate_loss,
    gae_advantages,
    group_advantages,
    kl_estimate,
    overlong_penalty,
    rloo_advantages,
    value_loss,
)
from agents.trainers.config import GRPOConfig
from tests.agents.fidelity.harness import fixture, ours_grpo
from tests.agents.fidelity.verl_calls import verl_overlong_rewards

TOL = dict(rtol=1e-6, atol=1e-7)
MODES = ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"]
OURS = {"token-mean": "dapo", "seq-mean-token-mean": "grpo",
        "seq-mean-token-sum": "seq_mean_token_sum", "seq-mean-token-sum-norm": "dr_grpo"}


@pytest.mark.parametrize("mode", MODES)
def test_agg_loss_modes_with_a_fully_masked_row(mode):
    data = fixture(batch=5, width=6)
    loss = data["logp"] * 3 + data["ref"]
    theirs = V.agg_loss(loss, data["mask"], mode)
    ours = aggregate_loss(loss, data["mask"], OURS[mode], max_completion_length=6,
                          skip_empty_rows=True)
    torch.testing.assert_close(ours.double(), theirs.double(), **TOL)


def _verl_actor_loss(data, mode, loss_mode="vanilla", entropy_coeff=0.0, kl_coef=0.0,
                     kl_type="low_var_kl", clip_c=3.0):
    """verl's ppo_loss (verl/workers/utils/losses.py) composed from core_algos on one
    micro-batch: policy loss - entropy_coeff·agg(entropy) + kl_loss_coef·agg(kl_penalty)."""
    cfg = ActorConfig(strategy="fsdp", rollout_n=2, ppo_micro_batch_size_per_gpu=4,
                      clip_ratio=0.2, clip_ratio_low=0.2, clip_ratio_high=0.28,
                      clip_ratio_c=clip_c, loss_agg_mode=mode)
    logp = data["logp"].clone().requires_grad_(True)
    mask = data["mask"]
    adv = data["adv"][:, None].expand_as(logp) * mask
    pg, _ = V.get_policy_loss_fn(loss_mode)(old_log_prob=data["old"], log_prob=logp,
                                            advantages=adv, response_mask=mask.bool(),
                                            loss_agg_mode=mode, config=cfg)
    loss = pg - entropy_coeff * V.agg_loss(data["entropy"], mask.bool(), mode)
    if kl_coef:
        kld = V.kl_penalty(logp, data["ref"], kl_type)
        loss = loss + kl_coef * V.agg_loss(kld, mask.bool(), mode)
    loss.backward()
    return loss.detach(), logp.grad


def _ours_verl_names(data, mode, loss_mode="vanilla", **extra):
    cfg = GRPOConfig.from_dict({
        "actor_rollout_ref": {"actor": {
            "loss_agg_mode": mode, "clip_ratio_low": 0.2, "clip_ratio_high": 0.28,
            "policy_loss": {"loss_mode": loss_mode}, **extra}},
        "per_device_train_batch_size": 4, "num_generations": 2,
        "max_completion_length": data["logp"].shape[1]})
    assert cfg.semantics == "verl"
    return ours_grpo(cfg, data)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("loss_mode", ["vanilla", "gspo"])
def test_actor_loss_matches_verl(mode, loss_mode):
    """Clip-higher, dual-clip (verl's default c=3), k3 KL loss with verl's clamps, entropy
    aggregated like the loss, GSPO's capped sequence ratio, a fully masked row."""
    data = fixture()
    data["old"][2, 1] = data["logp"][2, 1] - 30.0  # log-ratio beyond verl's ±20 clamp
    extra = {"use_kl_loss": True, "kl_loss_coef": 0.04, "kl_loss_type": "low_var_kl",
             "entropy_coeff": 0.01}
    ours = _ours_verl_names(data, mode, loss_mode, **extra)
    theirs = _verl_actor_loss(data, mode, loss_mode, entropy_coeff=0.01, kl_coef=0.04)
    torch.testing.assert_close(ours[0], theirs[0], **TOL)
    torch.testing.assert_close(ours[1], theirs[1], **TOL)


@pytest.mark.parametrize("kind", ["kl", "k1", "mse", "k2", "low_var_kl", "k3", "k1+", "k3+"])
def test_kl_estimators_with_verls_clamps(kind):
    logp = torch.tensor([-1.0, -2.0, -0.5, -30.0, -0.1, -3.0], dtype=torch.float64,
                        requires_grad=True)
    ref = torch.tensor([-1.5, -1.0, -0.5, -0.1, -30.0, -0.2], dtype=torch.float64)
    ours = kl_estimate(logp, ref, kind, clamp=True)
    (g_ours,) = torch.autograd.grad(ours.sum(), logp)
    theirs = V.kl_penalty(logp, ref, kind)
    (g_theirs,) = torch.autograd.grad(theirs.sum(), logp)
    torch.testing.assert_close(ours, theirs, **TOL)
    torch.testing.assert_close(g_ours, g_theirs, **TOL)


def test_k3_clamp_differs_from_trl_by_design():
    """x = ref − logp = 29.9: verl caps k3 at 10, TRL (no clamp) gives e^{29.9} − 30.9."""
    logp, ref = torch.tensor([-30.0]), torch.tensor([-0.1])
    assert kl_estimate(logp, ref, "k3", clamp=True).item() == pytest.approx(10.0)
    assert kl_estimate(logp, ref, "k3").item() == pytest.approx(np.exp(29.9) - 30.9, rel=1e-5)


REWARDS = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5, 3.0, 1.0, 0.0, 0.2],
                       dtype=torch.float64)
GROUPS = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 3, 3, 3])  # group 1 zero-variance, 2 singleton


@pytest.mark.parametrize("norm", [True, False])
def test_grpo_advantages_match_verl(norm):
    mask = torch.ones((12, 3), dtype=torch.float64)
    theirs, _ = V.compute_grpo_outcome_advantage(
        REWARDS[:, None] * torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), mask,
        GROUPS.numpy(), epsilon=1e-6, norm_adv_by_std_in_grpo=norm)
    cfg = GRPOConfig.from_dict({"algorithm.norm_adv_by_std_in_grpo": norm})
    ours, _ = group_advantages(REWARDS, GROUPS, cfg.scale_rewards, cfg.reward_std_epsilon)
    torch.testing.assert_close(ours.double(), theirs[:, 0], **TOL)


def test_rloo_advantages_match_verl():
    mask = torch.ones((12, 2), dtype=torch.float64)
    theirs, _ = V.compute_rloo_outcome_advantage(REWARDS[:, None] * torch.tensor([0.0, 1.0]),
                                                 mask, GROUPS.numpy())
    torch.testing.assert_close(rloo_advantages(REWARDS, GROUPS).double(), theirs[:, 0], **TOL)


def test_gae_through_observation_tokens_matches_verl():
    gen = torch.Generator().manual_seed(3)
    rewards = torch.randn((3, 9), generator=gen, dtype=torch.float64) * 0.1
    values = torch.randn((3, 9), generator=gen, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0, 0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1, 1],
                         [0, 1, 1, 0, 0, 0, 1, 0, 0]], dtype=torch.float64)
    rewards = rewards * mask
    theirs = V.compute_gae_advantage_return(rewards, values, mask, gamma=0.95, lam=0.9)
    ours = gae_advantages(rewards, values, mask, gamma=0.95, lam=0.9)
    torch.testing.assert_close(ours[0] * mask, theirs[0] * mask, **TOL)
    torch.testing.assert_close(ours[1] * mask, theirs[1] * mask, **TOL)


def test_value_loss_matches_verl():
    gen = torch.Generator().manual_seed(4)
    vpreds, old, returns = (torch.randn((3, 5), generator=gen, dtype=torch.float64)
                            for _ in range(3))
    mask = fixture(batch=3)["mask"]
    theirs, _ = V.compute_value_loss(vpreds, returns, old, mask, cliprange_value=0.2)
    per_token, _ = value_loss(vpreds, old, returns, cliprange_value=0.2)
    torch.testing.assert_close(aggregate_loss(per_token, mask, "dapo").double(), theirs, **TOL)


def test_overlong_penalty_past_the_limit_is_verls_linear_ramp():
    """verl's DAPO reward manager: min(−(|y| − (L_max − L_cache)) / L_cache · factor, 0), no
    floor (−2 at L_max + L_cache); TRL and our TRL-named default stop at −1."""
    lengths = [10, 12, 13, 14, 16, 20]
    for factor in (1.0, 0.5):  # verl's own DAPORewardManager, not a retyped formula (issue 33)
        verl = verl_overlong_rewards(lengths, 16, 4, factor)
        np.testing.assert_allclose(overlong_penalty(lengths, 16, 4, factor, linear=True).numpy(),
                                   verl, rtol=1e-6)
    assert verl_overlong_rewards([20], 16, 4) == [-2.0]
    lengths = [10, 14, 16, 20]
    np.testing.assert_allclose(overlong_penalty(lengths, 16, 4).numpy(), [0, -0.5, -1, -1])
