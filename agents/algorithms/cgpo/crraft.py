"""CRRAFT: Calibrated-Regularized Reward-rAnked FineTuning (CGPO Option II; arXiv 2409.20370, Section 4).

Per prompt ``s_i`` with ``K`` generations:

1. drop every generation that fails a constraint or has ``KL(s, a) > KL_max``;
2. ``a*_i = argmax r(s_i, a)`` over the rest, with weight ``R_calib(s_i, a*_i) = σ(r(a*) − r(ā))``;
3. if none remain: fall back to the baseline response ``ā_i`` if it satisfies every constraint
   (and ``KL(s, ā) ≤ KL_max`` when its KL is given, as the TRL PR does) with weight
   ``σ(0) = 0.5``; otherwise skip the prompt.

Weighted SFT on the chosen responses (negatives are ignored)::

    g    = (1/n) Σ_i R_calib(s_i, a*_i) · ∇ log π_w(a*_i | s_i)
    loss = −(1/n) Σ_i w_i · log π_w(a*_i | s_i)

with ``n`` the number of prompts that kept a response (0 loss when every prompt is skipped) --
the paper's ``1/n``. TRL PR #2190 divides the same sum by the number of *nonzero raw rewards*
``r(s_i, a*_i)`` among the chosen responses instead. The two agree when every chosen response has
a nonzero raw reward; when a chosen response's raw reward is exactly 0 (a 0/1 verifier whose best
eligible response failed, a baseline fallback scored 0) it still adds ``w_i · log π`` to the sum
but not to the PR's divisor, so the PR's loss is larger by ``n / n_nonzero`` (and undefined when
every chosen reward is 0). We keep the paper's ``n``: the divisor should not depend on where the
reward model's zero lies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["BASELINE", "SKIP", "CRRAFTSelection", "crraft_select", "crraft_loss"]

BASELINE = -1
"""``CRRAFTSelection.index`` value: train on the baseline response ``ā``."""
SKIP = -2
"""``CRRAFTSelection.index`` value: the prompt contributes nothing."""


@dataclass
class CRRAFTSelection:
    """Per-prompt choice, each ``(P,)``.

    ``index``: chosen generation in ``[0, K)``, or :data:`BASELINE` / :data:`SKIP`;
    ``weight``: ``R_calib`` of the choice (0.5 for the baseline, 0 when skipped);
    ``eligible``: ``(P, K)`` mask of generations that passed both filters.
    """

    index: torch.Tensor
    weight: torch.Tensor
    eligible: torch.Tensor

    @property
    def keep(self) -> torch.Tensor:
        return self.index != SKIP

    @property
    def use_baseline(self) -> torch.Tensor:
        return self.index == BASELINE


def crraft_select(
    rewards: torch.Tensor,
    calibrated: torch.Tensor,
    passed: torch.Tensor,
    kl: torch.Tensor,
    kl_threshold: float,
    baseline_passed: torch.Tensor | None = None,
    baseline_kl: torch.Tensor | None = None,
) -> CRRAFTSelection:
    """Choose ``a*`` per prompt from ``(P, K)`` raw rewards, calibrated rewards, constraint-pass
    masks and sequence KLs (ties: the first best generation)."""
    eligible = passed.bool() & (kl <= kl_threshold)
    masked = torch.where(eligible, rewards.double(), torch.full_like(rewards, -torch.inf,
                                                                    dtype=torch.float64))
    best = masked.argmax(-1)
    any_ok = eligible.any(-1)
    weight = calibrated.gather(-1, best[:, None]).squeeze(-1).double()
    index = torch.where(any_ok, best, torch.full_like(best, SKIP))
    weight = torch.where(any_ok, weight, torch.zeros_like(weight))
    if baseline_passed is not None:
        fallback = ~any_ok & baseline_passed.bool()
        if baseline_kl is not None:
            fallback &= baseline_kl <= kl_threshold
        index = torch.where(fallback, torch.full_like(index, BASELINE), index)
        weight = torch.where(fallback, torch.full_like(weight, 0.5), weight)
    return CRRAFTSelection(index=index, weight=weight.to(calibrated.dtype), eligible=eligible)


def crraft_loss(chosen_logp: torch.Tensor, weights: torch.Tensor,
                keep: torch.Tensor) -> torch.Tensor:
    """``−(1/n) Σ_{i kept} w_i · log π_w(a*_i|s_i)``; ``chosen_logp`` ``(P,)`` is the sequence
    log-prob of each prompt's chosen response (any value where skipped)."""
    keep = keep.bool()
    n = keep.sum().clamp(min=1)
    w = torch.where(keep, weights.detach().to(chosen_logp.dtype), 0.0)
    return -(w * torch.where(keep, chosen_logp, 0.0)).sum() / n
