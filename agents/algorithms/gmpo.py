"""GMPO: Geometric-Mean Policy Optimization (Zhao et al., arXiv 2507.20673).

GRPO maximises the *arithmetic* mean over a response's tokens of the clipped ``ρ_t·A``; one token
with an extreme ratio ρ_t = π_θ/π_old moves it a lot. GMPO maximises their *geometric* mean, with
PPO's clip applied to every token (GSPO, ``importance_sampling_level="sequence"``, clips the
sequence's geometric-mean ratio as a whole instead):

    J(θ) = E_i [ sgn(A_i) · ( Π_t |min(ρ_{i,t}·A_i, clip(ρ_{i,t}, e^{−ε_low}, e^{ε_high})·A_i)| )^{1/|o_i|} ]

Because |min(ρA, clip(ρ)A)| = |A|·m_t with m_t = min(ρ_t, clip(ρ_t)) for A > 0 and
max(ρ_t, clip(ρ_t)) for A < 0, this is ``A_i · exp(mean_t log m_{i,t})``; computed in log space:

    ℓ_{i,t} = log ρ_{i,t} = logp − old                  ℓ̃ = clamp(ℓ, −ε_low, ε_high)
    ℓ̂_{i,t} = min(ℓ, ℓ̃) if A_i > 0 else max(ℓ, ℓ̃)      (sign-aware: the pessimistic side)
    loss_i  = −A_i · exp( Σ_t M·ℓ̂ / Σ_t M )
    loss    = mean_i loss_i                                 (one term per sequence)

``epsilon`` / ``epsilon_high`` are therefore *log-space* bounds here (TRL's ``GMPOConfig``, verl's
``clip_ratio_low/high`` under ``policy_loss.loss_mode=geo_mean``); the paper recommends the wide
range (e^{−0.4}, e^{0.4}). A_i is the sequence's advantage (the masked mean of token advantages,
as verl). A row without loss tokens has ratio 1 and no gradient, and still counts in the mean
(both references average over every row), but its *value* differs between them: verl (and this
trainer, which passes ``(B, T)`` advantages) takes the masked mean of an empty row's token
advantages, 0, so the row adds 0; TRL's ``GMPOTrainer`` uses the row's own ``(B,)`` advantage, so
the row adds ``−A_i`` (−0.5 for A_i = 0.5). Given ``(B,)`` advantages this function does the same
as TRL. Loss values can therefore differ from TRL's by a constant; gradients agree.

KL to the reference, when β > 0: TRL's ``GMPOTrainer`` adds ``β · mean_i (Σ_t M·k3 / Σ_t M)``
(sequence-averaged k3); verl adds its KL loss aggregated like the policy loss (``loss_agg_mode``).
"""

from __future__ import annotations

import torch

from agents.algorithms.common import masked_mean

__all__ = ["GMPO_LEVEL", "gmpo_sequence_loss"]

GMPO_LEVEL = "geo_mean"  # importance_sampling_level / verl policy_loss.loss_mode


def gmpo_sequence_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    epsilon: float = 0.4,
    epsilon_high: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-sequence GMPO loss ``(B,)`` (average it over the batch) and per-token clip flags.

    ``advantages`` is ``(B,)`` or ``(B, T)`` (then its masked mean per row is used).
    """
    if epsilon < 0 or (epsilon_high is not None and epsilon_high < 0):
        raise ValueError("GMPO's log-space clip bounds epsilon / epsilon_high must be >= 0")
    eps_high = epsilon if epsilon_high is None else epsilon_high
    if advantages.dim() == 2:
        advantages = masked_mean(advantages, mask, dim=-1)
    adv = advantages[:, None]
    log_ratio = logp - old_logp
    clamped = torch.clamp(log_ratio, -epsilon, eps_high)
    pessimistic = torch.where(adv > 0, torch.minimum(log_ratio, clamped),
                              torch.maximum(log_ratio, clamped))
    seq_log_ratio = masked_mean(pessimistic, mask, dim=-1)
    loss = -advantages * torch.exp(seq_log_ratio)
    flags = {"low": (log_ratio < -epsilon) & (adv < 0),
             "high": (log_ratio > eps_high) & (adv > 0)}
    return loss, flags
