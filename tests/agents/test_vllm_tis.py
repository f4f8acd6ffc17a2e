"""Truncated importance sampling between engine and trainer log-probs, checked against verl
0.9.1's own ``compute_rollout_correction_weights`` on fixed tensors."""

from __future__ import annotations

import math

import pytest
import torch
import verl.trainer.ppo.rollout_corr_helper as verl_corr  # installed by .ci/install

from agents.algorithms.tis import TIS_MODES, sampler_correction_weights


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sampler = -torch.rand((5, 7), generator=g) * 4
    # trainer = sampler + noise, with a few large disagreements in both directions
    trainer = sampler + torch.randn((5, 7), generator=g) * 0.3
    trainer[0, 1] += 2.5
    trainer[2, 3] -= 3.0
    trainer[4, 0] += 1.5
    mask = torch.ones((5, 7))
    mask[1, 5:] = 0
    mask[3, 2:] = 0
    return trainer, sampler, mask


@pytest.mark.parametrize(("mode", "verl_level", "threshold", "cap", "cap_min"), [
    ("token_truncate", "token", 2.0, 2.0, None),
    ("sequence_truncate", "sequence", 2.0, 2.0, None),
    ("token_mask", "token", "0.5_2.0", 2.0, 0.5),
    ("sequence_mask", "sequence", "0.5_2.0", 2.0, 0.5),
])
def test_weights_equal_verl(mode, verl_level, threshold, cap, cap_min):
    trainer, sampler, mask = _batch()
    ours, _ = sampler_correction_weights(trainer, sampler, mask, mode, cap=cap, cap_min=cap_min)
    theirs, _ = verl_corr.compute_rollout_correction_weights(
        trainer - sampler, mask, rollout_is=verl_level, rollout_is_threshold=threshold)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
    # the case is not vacuous: some weights were bounded, some were not
    kept = ours[mask > 0]
    assert (kept == cap).any() or (kept == 0).any()
    assert ((kept > 0) & (kept < cap)).any()


def test_metrics_by_hand():
    trainer = torch.tensor([[math.log(0.5), math.log(0.2), 0.0], [math.log(0.3), 0.0, 0.0]])
    sampler = torch.tensor([[math.log(0.25), math.log(0.4), float("nan")],
                            [math.log(0.3), 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    w, m = sampler_correction_weights(trainer, sampler, mask, "token_truncate", cap=1.5)
    # ratios: 2 -> capped 1.5, 0.5, 1 (NaN: unscored, weight 1), 1; padding 0
    torch.testing.assert_close(w, torch.tensor([[1.5, 0.5, 1.0], [1.0, 0.0, 0.0]]))
    assert m["sampling/sampling_logp_difference/max"] == pytest.approx(math.log(2))
    assert m["sampling/sampling_logp_difference/mean"] == pytest.approx(2 * math.log(2) / 3)
    assert m["sampling/importance_sampling_ratio/min"] == pytest.approx(0.5)
    assert m["sampling/importance_sampling_ratio/max"] == pytest.approx(1.5)
    assert m["sampling/importance_sampling_ratio/mean"] == pytest.approx(4.0 / 4)
    assert m["sampling/importance_sampling_ratio/bounded_frac"] == pytest.approx(1 / 4)
    assert not w.requires_grad


def test_weights_carry_no_gradient_and_scale_the_loss():
    trainer, sampler, mask = _batch(1)
    logp = trainer.clone().requires_grad_(True)
    w, _ = sampler_correction_weights(logp, sampler, mask, "token_truncate", cap=2.0)
    (w * logp * mask).sum().backward()
    torch.testing.assert_close(logp.grad, w * mask)  # d/dlogp of w*logp with w constant


def test_bad_arguments_are_refused():
    t, s, m = _batch()
    with pytest.raises(ValueError, match="must be one of"):
        sampler_correction_weights(t, s, m, "token")
    with pytest.raises(ValueError, match="needs a bound"):
        sampler_correction_weights(t, s, m, "token_mask", cap=None)
    with pytest.raises(ValueError, match="must not exceed"):
        sampler_correction_weights(t, s, m, cap=1.0, cap_min=2.0)
    with pytest.raises(ValueError, match="shapes differ"):
        sampler_correction_weights(t, s[:, :3], m)
    assert set(TIS_MODES) == {"token_truncate", "token_mask", "sequence_truncate",
                              "sequence_mask"}
