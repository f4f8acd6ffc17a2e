"""CODPO: Constrained Online DPO (CGPO Option I; arXiv 2409.20370, Section 4).

Per prompt with ``K`` generations, ``r`` the reward and ``Σ`` the constraint-satisfying set:

* ``a⁺ = argmax r`` over the positives (every constraint passes); no positive → skip the prompt;
* ``a⁻ = argmin r`` over the negatives; no negative → the lowest-reward generation other than
  ``a⁺`` (the "lowest overall" of TRL PR #2190, which differs only when all rewards tie; with
  ``K = 1`` it is ``a⁺`` itself and the DPO term is ``−log σ(0)``).
* a generation the judge could not judge (unscored, a fault) is neither ``a⁺`` nor ``a⁻``.

Loss per kept prompt (DPO with the DPO-positive length-normalised NLL regulariser)::

    h = β · [ (log π(a⁺) − log π_ref(a⁺)) − (log π(a⁻) − log π_ref(a⁻)) ]
    ℓ = −log σ(h) − (λ / |a⁺|) · log π(a⁺)

averaged over the kept prompts (``|a⁺|`` = completion tokens of ``a⁺``). TRL PR defaults:
``β = 0.1``, ``λ = 5.0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["CODPOSelection", "codpo_select", "codpo_loss"]


@dataclass
class CODPOSelection:
    """Per-prompt pair ``(P,)``: ``positive``/``negative`` generation indices and ``keep``."""

    positive: torch.Tensor
    negative: torch.Tensor
    keep: torch.Tensor


def codpo_select(rewards: torch.Tensor, passed: torch.Tensor,
                 scored: torch.Tensor | None = None) -> CODPOSelection:
    """Best positive and worst negative per prompt from ``(P, K)`` rewards and pass masks
    (ties: the first generation). ``scored`` (default: all) marks the generations the judge
    could judge; an unscored one (a fault) is neither a positive nor a negative."""
    scored = torch.ones_like(passed, dtype=torch.bool) if scored is None else scored.bool()
    passed = passed.bool() & scored
    failed = ~passed & scored
    r = rewards.double()
    inf = torch.full_like(r, torch.inf)
    positive = torch.where(passed, r, -inf).argmax(-1)
    keep = passed.any(-1)
    has_neg = failed.any(-1)
    worst_neg = torch.where(failed, r, inf).argmin(-1)
    others = scored.clone()
    others.scatter_(-1, positive[:, None], False)
    worst_other = torch.where(others, r, inf).argmin(-1)
    worst_other = torch.where(others.any(-1), worst_other, positive)  # none: a⁺ itself
    negative = torch.where(has_neg, worst_neg, worst_other)
    return CODPOSelection(positive=positive, negative=negative, keep=keep)


def codpo_loss(
    pos_logp: torch.Tensor,
    pos_ref_logp: torch.Tensor,
    neg_logp: torch.Tensor,
    neg_ref_logp: torch.Tensor,
    pos_length: torch.Tensor,
    keep: torch.Tensor | None = None,
    beta: float = 0.1,
    lamb: float = 5.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mean CODPO loss over kept prompts from ``(P,)`` sequence log-probs of ``a⁺``/``a⁻`` under
    the policy and the reference, and ``|a⁺|``. Returns ``(loss, stats)`` with the DPO margin
    ``h/β``, the DPO and NLL parts (per prompt, detached)."""
    if keep is None:
        keep = torch.ones_like(pos_logp, dtype=torch.bool)
    keep = keep.bool()
    margin = (pos_logp - pos_ref_logp) - (neg_logp - neg_ref_logp)
    dpo = -F.logsigmoid(beta * margin)
    nll = -lamb * pos_logp / pos_length.to(pos_logp.dtype).clamp(min=1)
    per_prompt = torch.where(keep, dpo + nll, 0.0)
    loss = per_prompt.sum() / keep.sum().clamp(min=1)
    stats = {"margin": margin.detach(), "dpo": dpo.detach(), "nll": nll.detach(),
             "kept": keep.float().mean()}
    return loss, stats
