"""Our GRPO/RLOO trainer losses against TRL 1.16's own ``_compute_loss`` on fixed tensors, under
TRL names (``semantics="trl"``): loss value and gradient agree to 1e-6."""

from __future__ import annotations

import pytest
import torch

from agents.trainers.config import GRPOConfig, RLOOConfig
from tests.agents.fidelity.harness import fixture, ours_grpo, trl_grpo, trl_rloo

TOL = dict(rtol=1e-6, atol=1e-7)


def _cfg(cls=GRPOConfig, **kw):
    base = dict(per_device_train_batch_size=2, gradient_accumulation_steps=2, num_generations=2,
                max_completion_length=8)
    return cls(**{**base, **kw})


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
@pytest.mark.parametrize("level", ["token", "sequence"])
@pytest.mark.parametrize(("beta", "bias_kl"), [(0.0, True), (0.04, True), (0.04, False)])
def test_grpo_loss_matches_trl(loss_type, level, beta, bias_kl):
    data = fixture()
    settings = dict(loss_type=loss_type, beta=beta, importance_sampling_level=level,
                    epsilon=0.2, epsilon_high=0.28)
    ours = ours_grpo(_cfg(**settings, use_bias_correction_kl=bias_kl), data)
    theirs = trl_grpo(data, **settings, use_bias_correction_kl=bias_kl)
    torch.testing.assert_close(ours[0], theirs[0], **TOL)
    torch.testing.assert_close(ours[1], theirs[1], **TOL)


@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "dr_grpo"])
def test_entropy_bonus_is_trls_token_mean_whatever_the_loss_type(loss_type):
    data = fixture()
    ours = ours_grpo(_cfg(loss_type=loss_type, entropy_coef=0.05), data)
    theirs = trl_grpo(data, loss_type=loss_type, entropy_coef=0.05)
    torch.testing.assert_close(ours[0], theirs[0], **TOL)


def test_delta_two_sided_clip_matches_trl():
    data = fixture()
    ours = ours_grpo(_cfg(loss_type="grpo", delta=1.5), data)
    theirs = trl_grpo(data, loss_type="grpo", delta=1.5)
    torch.testing.assert_close(ours[1], theirs[1], **TOL)


def test_dapo_with_more_steps_per_generation_than_accumulation():
    """TRL divides by the generation batch's tokens × GA/spg; 1-token + 3-token fixture of the
    issue: TRL −0.5 (we had −1.0, dividing by this step's own 1 token)."""
    data = {k: v[:2] for k, v in fixture(batch=3, width=3).items()}
    data["mask"] = torch.tensor([[1, 0, 0], [1, 1, 1]], dtype=torch.float64)
    data["old"] = data["logp"].clone()
    data["adv"] = torch.tensor([1.0, 0.0], dtype=torch.float64)
    cfg = _cfg(loss_type="dapo", per_device_train_batch_size=1, gradient_accumulation_steps=1,
               steps_per_generation=2, num_generations=2)
    ours = ours_grpo(cfg, data, step=[0])
    theirs = trl_grpo(data, loss_type="dapo", per_device=1, steps_per_generation=2, step=[0])
    assert theirs[0].item() == pytest.approx(-0.5)
    torch.testing.assert_close(ours[0], theirs[0], **TOL)
    torch.testing.assert_close(ours[1], theirs[1], **TOL)


def test_bias_corrected_kl_by_hand():
    """One token, logp −1, ref −2, β 0.1, on-policy: d(β·k3·ρ)/dlogp = β·(1 − e⁻¹ + e⁻¹) = 0.1
    (TRL 1.16 default); without the correction β·(1 − e⁻¹) = 0.0632."""
    data = {"logp": torch.tensor([[-1.0]], dtype=torch.float64),
            "old": torch.tensor([[-1.0]], dtype=torch.float64),
            "ref": torch.tensor([[-2.0]], dtype=torch.float64),
            "mask": torch.ones((1, 1), dtype=torch.float64),
            "adv": torch.zeros(1, dtype=torch.float64),
            "entropy": torch.zeros((1, 1), dtype=torch.float64)}
    cfg = dict(per_device_train_batch_size=1, gradient_accumulation_steps=1, num_generations=1,
               advantage_estimator="process", beta=0.1, max_completion_length=8)
    _, grad = ours_grpo(GRPOConfig(**cfg), data)
    assert grad.item() == pytest.approx(0.1, abs=1e-7)
    _, trl_grad = trl_grpo(data, loss_type="dapo", beta=0.1, per_device=1)
    assert trl_grad.item() == pytest.approx(0.1, abs=1e-7)
    _, plain = ours_grpo(GRPOConfig(**cfg, use_bias_correction_kl=False), data)
    assert plain.item() == pytest.approx(0.1 * (1 - torch.e ** -1), abs=1e-7)


def test_rloo_sequence_loss_matches_trl():
    data = fixture()
    ours = ours_grpo(_cfg(RLOOConfig, epsilon=0.2, epsilon_high=0.28, beta=0.0), data)
    theirs = trl_rloo(data, epsilon=0.2, epsilon_high=0.28)
    torch.testing.assert_close(ours[0], theirs[0], **TOL)
    torch.testing.assert_close(ours[1], theirs[1], **TOL)
