"""CRPG: Calibrated-Regularized Policy Gradient (CGPO Option I; arXiv 2409.20370, Section 4).

REINFORCE on the sequence log-probability with a batch-mean baseline, on the calibrated,
constraint-gated and KL-gated reward::

    R_cr(s, a)  = σ(r(s, a) − r(s, ā))  if every constraint passes  else 0
    R̃_cr(s, a)  = max(1 − KL(s, a)/KL_max, 0) · R_cr(s, a)
    A_i         = R̃_cr,i − (1/n) Σ_j R̃_cr,j                          (batch-mean baseline)
    g           = (1/n) Σ_i A_i · ∇ log π_w(a_i | s_i)

so the loss whose gradient is ``−g`` is ``−(1/Z) Σ_i A_i · Σ_t M_i,t · logp_i,t`` with

* ``normalize="sequences"`` (paper, and TRL PR #2190's loss): ``Z = n``, the number of responses;
* ``normalize="tokens"`` (a variant, not the PR's): ``Z = Σ_i,t M_i,t``, the completion tokens of
  the batch -- a per-token scale that makes long batches take smaller steps.

(An earlier reading of the PR took its divisor for the token count; the audit against the PR's
code found it divides by the number of sequences, i.e. ``"sequences"``.)

No ratio and no clipping. ``KL(s, a)`` is the sequence k1 from rollout-time log-probs
(:func:`agents.algorithms.cgpo.reward.sequence_kl`, no gradient).
"""

from __future__ import annotations

import torch

from agents.algorithms.cgpo.reward import constraint_regularized_reward, kl_gate

__all__ = ["crpg_rewards", "crpg_loss", "CRPG_NORMALIZE"]

CRPG_NORMALIZE = ("sequences", "tokens")


def crpg_rewards(calibrated: torch.Tensor, passed: torch.Tensor, kl: torch.Tensor,
                 kl_threshold: float) -> torch.Tensor:
    """``R̃_cr = max(1 − KL/KL_max, 0) · (R_calib if passed else 0)``, elementwise."""
    return kl_gate(kl, kl_threshold) * constraint_regularized_reward(calibrated, passed)


def crpg_loss(
    logp: torch.Tensor,
    mask: torch.Tensor,
    rewards: torch.Tensor,
    normalize: str = "sequences",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """CRPG loss on token log-probs ``logp`` ``(B, T)`` with loss mask ``mask`` and the gated
    rewards ``R̃_cr`` ``(B,)`` (from :func:`crpg_rewards`).

    Returns ``(loss, stats)``; ``stats["advantages"]`` is ``R̃ − mean R̃`` (detached).
    """
    if normalize not in CRPG_NORMALIZE:
        raise ValueError(f"unknown normalize {normalize!r}; choose one of {CRPG_NORMALIZE}")
    rewards = rewards.detach().to(logp.dtype)
    advantages = rewards - rewards.mean()
    seq_logp = (logp * mask).sum(-1)
    total = -(advantages * seq_logp).sum()
    z = mask.sum().clamp(min=1) if normalize == "tokens" else logp.new_tensor(logp.shape[0])
    return total / z, {"advantages": advantages, "reward_mean": rewards.mean()}
