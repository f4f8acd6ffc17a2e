"""PPO with a value head: KL-penalised token rewards, GAE through masked observation tokens,
clipped policy and value losses, fixed or adaptive KL coefficient.

Reward shaping (TRL PPO / verl ``apply_kl_penalty``), per policy token:

    kl_t = k1 (default) or k3 of the rollout-time log-probs (old vs ref), no gradient
    r_t  = −β·kl_t ;  r_{end of turn k} += reward of turn k   (the score at the last token)

GAE (reverse loop, verl's multi-turn form: on tokens with M = 0 — environment/tool tokens and
padding — the running ``next_value`` and ``last_gae`` are carried through unchanged, so those
tokens neither receive nor break credit):

    δ_t = r_t + γ·V_{t+1} − V_t ;   A_t = δ_t + γλ·A_{t+1} ;   R_t = A_t + V_t
    A = masked_whiten(A)

Losses:  policy = clipped surrogate (token-mean);
         value  = ½ · mean( max((V − R)², (clip(V, V_old − ε_v, V_old + ε_v) − R)²) );
         total  = policy + vf_coef · value.

Adaptive KL (Ziegler et al.): err = clip(KL/target − 1, −0.2, 0.2);  β ← β·(1 + err·n/horizon),
with KL the batch mean of each sequence's *per-token mean* KL (:func:`adaptive_kl_input`, as verl's
``apply_kl_penalty``, whose ``target_kl=0.1`` default we use). The per-sequence *sum* would grow
with the response length, keep the error at +0.2 and grow β without end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from agents.algorithms.common import kl_estimate, masked_whiten

__all__ = [
    "kl_penalized_rewards",
    "gae_advantages",
    "value_loss",
    "FixedKLController",
    "AdaptiveKLController",
    "adaptive_kl_input",
]


def kl_penalized_rewards(
    scores: Sequence[Sequence[tuple[int, float]]],
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    mask: torch.Tensor,
    kl_coef: float,
    kl_estimator: str = "k1",
    clamp: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rewards ``(B, T)``: −β·kl on policy tokens plus each ``(position, score)``.

    ``scores[i]`` lists the rewards of episode ``i`` at their token positions (the last token
    of each turn; process-reward steps at the end of each step). Returns ``(rewards, kl)``.
    """
    if ref_logp is None or kl_coef == 0.0:
        kl = torch.zeros_like(old_logp)
    else:
        kl = kl_estimate(old_logp, ref_logp, kl_estimator, clamp=clamp) * mask
    rewards = -kl_coef * kl
    for i, items in enumerate(scores):
        for pos, value in items:
            rewards[i, pos] += value
    return rewards, kl


def gae_advantages(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 1.0,
    lam: float = 0.95,
    whiten: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE advantages and returns ``(B, T)``, skipping masked (observation) tokens."""
    mask = mask.to(values.dtype)
    batch, length = values.shape
    next_value = torch.zeros(batch, dtype=values.dtype)
    last_gae = torch.zeros(batch, dtype=values.dtype)
    reversed_adv = []
    for t in reversed(range(length)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        gae = delta + gamma * lam * last_gae
        next_value = values[:, t] * mask[:, t] + (1 - mask[:, t]) * next_value
        last_gae = gae * mask[:, t] + (1 - mask[:, t]) * last_gae
        reversed_adv.append(last_gae)
    advantages = torch.stack(reversed_adv[::-1], dim=1)
    returns = advantages + values
    if whiten:
        advantages = masked_whiten(advantages, mask)
    return advantages * mask, returns


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    cliprange_value: float | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token clipped value loss ``½·max((V−R)², (V_clip−R)²)`` and where clipping won."""
    unclipped = (values - returns) ** 2
    if cliprange_value is None:
        return 0.5 * unclipped, torch.zeros_like(unclipped, dtype=torch.bool)
    v_clip = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    clipped = (v_clip - returns) ** 2
    return 0.5 * torch.maximum(unclipped, clipped), clipped > unclipped


def adaptive_kl_input(kl: torch.Tensor, mask: torch.Tensor) -> float:
    """The KL the adaptive controller is fed: mean over sequences of Σ_t kl·M / (Σ_t M + 1e-8)
    (a fully masked row counts as 0, as in verl)."""
    mask = mask.to(kl.dtype)
    per_sequence = (kl * mask).sum(-1) / (mask.sum(-1) + 1e-8)
    return float(per_sequence.mean())


@dataclass
class FixedKLController:
    """Constant KL coefficient (verl ``kl_ctrl.type=fixed``)."""

    value: float

    def update(self, current_kl: float, n_steps: int) -> None:
        """No-op."""

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value = float(state["value"])


@dataclass
class AdaptiveKLController:
    """β ← β·(1 + clip(KL/target − 1, −0.2, 0.2)·n_steps/horizon) (verl ``kl_ctrl.type=adaptive``)."""

    value: float
    target: float = 0.1
    horizon: int = 10000

    def update(self, current_kl: float, n_steps: int) -> None:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value, "target": self.target, "horizon": self.horizon}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value = float(state["value"])
