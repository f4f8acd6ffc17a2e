"""RLOO: REINFORCE with a leave-one-out baseline.

Advantage, G completions per prompt (groups of one: A_i = r_i, as verl):

    A_i = r_i − (1/(G−1)) Σ_{j≠i} r_j   ( = G/(G−1) · (r_i − mean_g r) )

TRL ``RLOOTrainer`` flavour (``RLOOTrainer`` here):

* KL in the reward, k1 summed over the sequence: r_i ← r_i − β · Σ_t M·(old − ref);
* optional ``reward_clip_range`` and batch ``normalize_advantages``;
* loss on the *sequence* log-probability ratio ρ_i = exp(Σ_t M·logp − Σ_t M·old) with the PPO
  clip:  loss = mean_i −min(ρ_i·A_i, clip(ρ_i, 1−ε, 1+ε_high)·A_i).

verl flavour (``adv_estimator="rloo"``): the same advantages with the token-level GRPO loss.
"""

from __future__ import annotations

import torch

from agents.algorithms.common import clipped_surrogate, masked_sum

__all__ = ["rloo_advantages", "rloo_kl_rewards", "rloo_sequence_loss"]


def rloo_advantages(rewards: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Leave-one-out advantages of ``rewards`` (N,) within groups ``groups`` (N,)."""
    rewards = rewards.double()
    adv = rewards.clone()
    for g in torch.unique(groups):
        idx = groups == g
        n = int(idx.sum())
        if n > 1:
            r = rewards[idx]
            adv[idx] = r - (r.sum() - r) / (n - 1)
    return adv.float()


def rloo_kl_rewards(
    rewards: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
    reward_clip_range: tuple[float, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``r − β·Σ_t M·(old − ref)`` (rewards clipped first if a range is given); also the KL."""
    if reward_clip_range is not None:
        rewards = rewards.clamp(*reward_clip_range)
    kl = masked_sum(old_logp - ref_logp, mask, dim=-1)
    return rewards - beta * kl, kl


def rloo_sequence_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-sequence loss ``(B,)`` on the summed log-ratio (mean it over the batch)."""
    log_ratio = masked_sum(logp - old_logp, mask, dim=-1)
    eps_high = epsilon if epsilon_high is None else epsilon_high
    loss, flags = clipped_surrogate(log_ratio, advantages, epsilon, eps_high)
    return loss, {"clipped_low": flags["low"], "clipped_high": flags["high"]}
