"""GRPO (and the variants that are GRPO with other settings: Dr. GRPO, DAPO's loss, GSPO).

Advantage (one scalar per completion, broadcast to its tokens), groups = completions of one prompt:

    scale_rewards="group":  A_i = (r_i − mean_g r) / (std_g r + ε)      (TRL default, ε = 1e-4)
    scale_rewards="batch":  A_i = (r_i − mean_g r) / (std_batch r + ε)  ("Lite PPO")
    scale_rewards="none":   A_i =  r_i − mean_g r                        (Dr. GRPO)

std is Bessel-corrected (``torch.std``). A group of one completion has mean 0 and std 1 (verl).

Per-token loss, with ρ the importance ratio at ``importance_sampling_level``:

    token:          log ρ_{i,t} = logp_{i,t} − old_{i,t}
    sequence:       log s_i     = Σ_t M·(logp − old) / Σ_t M           (GSPO, broadcast over t)
    sequence_token: log s_{i,t} = sg[log s_i] + logp_{i,t} − sg[logp_{i,t}]   (GSPO-token)

    ℓ_{i,t} = −min(ρ·A_i, clip(ρ, 1−ε, 1+ε_high)·A_i) + β·k3_{i,t}·[ρ] − entropy_coef·H_{i,t}

``bias_correction_kl`` (TRL 1.16 ``use_bias_correction_kl``, its default): the k3 term is
multiplied by ρ (with its gradient), so β·k3 is an importance-weighted estimate under π_old.
``verl_clamps`` (verl 0.9.1): token log ρ clamped to [−20, 20]; GSPO-token log s capped at 10;
k3 computed from x clamped to [−20, 20] and capped at 10.

then reduced by ``loss_type`` (:func:`agents.algorithms.common.aggregate_loss`): ``grpo``,
``bnpo``, ``dapo`` (TRL default), ``dr_grpo``. Clip-higher is ``epsilon_high > epsilon``.
"""

from __future__ import annotations

import torch

from agents.algorithms.common import clipped_surrogate, kl_estimate, masked_mean

__all__ = ["group_advantages", "grpo_token_loss", "IMPORTANCE_SAMPLING_LEVELS", "SCALE_REWARDS"]

IMPORTANCE_SAMPLING_LEVELS = ("token", "sequence", "sequence_token")
SCALE_REWARDS = ("group", "batch", "none")


def _group_stats(rewards: torch.Tensor, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element mean and (unbiased) std of its group; singleton groups: mean 0, std 1."""
    mean = torch.zeros_like(rewards)
    std = torch.ones_like(rewards)
    for g in torch.unique(groups):
        idx = groups == g
        if int(idx.sum()) > 1:
            mean[idx] = rewards[idx].mean()
            std[idx] = rewards[idx].std()
    return mean, std


def group_advantages(
    rewards: torch.Tensor,
    groups: torch.Tensor,
    scale_rewards: str = "group",
    epsilon: float = 1e-4,
) -> tuple[torch.Tensor, dict[str, float]]:
    """GRPO advantages of ``rewards`` (N,) with group ids ``groups`` (N,).

    Returns ``(advantages, stats)``; ``stats["frac_reward_zero_std"]`` is the fraction of
    groups whose rewards all agree (they carry no gradient).
    """
    if scale_rewards not in SCALE_REWARDS:
        raise ValueError(f"scale_rewards must be one of {SCALE_REWARDS}, got {scale_rewards!r}")
    rewards = rewards.double()
    mean, std = _group_stats(rewards, groups)
    centred = rewards - mean
    if scale_rewards == "group":
        advantages = centred / (std + epsilon)
    elif scale_rewards == "batch":
        batch_std = rewards.std() if rewards.numel() > 1 else torch.ones((), dtype=rewards.dtype)
        advantages = centred / (batch_std + epsilon)
    else:
        advantages = centred
    unique = torch.unique(groups)
    zero = sum(bool(torch.isclose(std[groups == g][0], torch.zeros((), dtype=std.dtype)))
               for g in unique)
    return advantages.float(), {"frac_reward_zero_std": zero / max(len(unique), 1)}


def grpo_token_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    delta: float | None = None,
    dual_clip: float | None = None,
    importance_sampling_level: str = "token",
    beta: float = 0.0,
    ref_logp: torch.Tensor | None = None,
    kl_estimator: str = "k3",
    entropy: torch.Tensor | None = None,
    entropy_coef: float = 0.0,
    bias_correction_kl: bool = False,
    verl_clamps: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-token GRPO loss ``(B, T)`` (before aggregation) and per-token diagnostics.

    ``advantages`` is ``(B,)`` (broadcast) or ``(B, T)`` (process rewards). Diagnostics:
    ``kl`` (per token, when ``beta > 0``), ``clipped_low`` / ``clipped_high`` (bool).
    """
    if importance_sampling_level not in IMPORTANCE_SAMPLING_LEVELS:
        raise ValueError(f"importance_sampling_level must be one of {IMPORTANCE_SAMPLING_LEVELS}, "
                         f"got {importance_sampling_level!r}")
    if advantages.dim() == 1:
        advantages = advantages[:, None]
    log_ratio = logp - old_logp
    if importance_sampling_level == "sequence":
        log_ratio = masked_mean(log_ratio, mask, dim=-1)[:, None].expand_as(logp)
    elif importance_sampling_level == "sequence_token":
        seq = masked_mean(log_ratio, mask, dim=-1)[:, None]
        log_ratio = seq.detach() + logp - logp.detach()
        if verl_clamps:
            log_ratio = torch.clamp(log_ratio, max=10.0)
    elif verl_clamps:
        log_ratio = torch.clamp(log_ratio, -20.0, 20.0)
    eps_high = epsilon if epsilon_high is None else epsilon_high
    loss, flags = clipped_surrogate(log_ratio, advantages.expand_as(logp), epsilon, eps_high,
                                    dual_clip=dual_clip, delta=delta)
    info: dict[str, torch.Tensor] = {"clipped_low": flags["low"], "clipped_high": flags["high"]}
    if beta != 0.0:
        if ref_logp is None:
            raise ValueError("beta > 0 needs ref_logp (reference log-probabilities)")
        kl = kl_estimate(logp, ref_logp, kl_estimator, clamp=verl_clamps)
        if bias_correction_kl:
            kl = kl * torch.exp(log_ratio)
        loss = loss + beta * kl
        info["kl"] = kl.detach()
    if entropy_coef != 0.0:
        if entropy is None:
            raise ValueError("entropy_coef != 0 needs the per-token entropy")
        loss = loss - entropy_coef * entropy
    return loss, info
