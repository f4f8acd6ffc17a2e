"""CGPO reward shaping shared by the three optimizers (arXiv 2409.20370, Section 4: calibrated and constraint-regularized reward).

Calibrated reward, with ``ā`` the baseline response of the prompt (golden SFT answer or a
π_ref sample generated before RLHF)::

    R_calib(s, a) = σ( scale · (r(s, a) − r(s, ā)) )   ∈ (0, 1)      (scale = 1 in the paper)

Constraint-regularized reward, ``Σ`` the set passing every judge of the Mixture of Judges::

    R_cr(s, a) = R_calib(s, a)  if (s, a) ∈ Σ  else 0

Sequence KL (k1 summed over the completion) and the KL gate of CRPG::

    KL(s, a) = Σ_t M_t · (log π_w(a_t|·) − log π_ref(a_t|·))
    gate     = max(1 − KL(s, a) / KL_max, 0)

``judges.moj.MixtureOfJudges`` computes ``R_cr`` per response (with its own ``scale``); these
functions do the same on tensors, so a trainer can also combine raw rewards and pass masks.
"""

from __future__ import annotations

import torch

__all__ = [
    "calibrated_reward",
    "constraint_regularized_reward",
    "kl_gate",
    "sequence_kl",
    "sequence_logprob",
]


def calibrated_reward(reward: torch.Tensor, baseline_reward: torch.Tensor,
                      scale: float = 1.0) -> torch.Tensor:
    """``σ(scale · (r(s,a) − r(s,ā)))``; ``baseline_reward`` broadcasts (e.g. ``(P, 1)``)."""
    return torch.sigmoid(scale * (reward - baseline_reward))


def constraint_regularized_reward(calibrated: torch.Tensor, passed: torch.Tensor,
                                  violation_value: float = 0.0) -> torch.Tensor:
    """``R_cr = R_calib`` where every constraint passed, else ``violation_value`` (0)."""
    return torch.where(passed.bool(), calibrated, torch.full_like(calibrated, violation_value))


def sequence_logprob(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``log π(a|s) = Σ_t M_t · logp_t`` per sequence: ``(B, T) → (B,)``."""
    return (logp * mask).sum(-1)


def sequence_kl(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sequence-level k1 KL ``Σ_t M_t · (logp_t − ref_t)``: ``(B, T) → (B,)`` (no grad)."""
    return ((logp - ref_logp) * mask).sum(-1).detach()


def kl_gate(kl: torch.Tensor, kl_threshold: float) -> torch.Tensor:
    """CRPG's soft KL gate ``max(1 − KL/KL_max, 0)``: 0 at KL ≥ KL_max; no upper clamp, so a
    negative sampled k1 KL gives a gate above 1, exactly as the formula reads."""
    if kl_threshold <= 0:
        raise ValueError(f"kl_threshold must be > 0, got {kl_threshold}")
    return torch.clamp(1.0 - kl / kl_threshold, min=0.0)
