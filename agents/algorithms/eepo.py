"""EEPO's sample-then-forget (Chen et al. 2025, "EEPO: Exploration-Enhanced Policy Optimization
via Sample-Then-Forget", arXiv 2510.05837).

GRPO's rollouts reinforce whatever mode the policy already samples most (entropy collapse).
EEPO splits each group's ``G`` rollouts into two stages with a temporary unlearning step
between them:

1. sample ``G1 = G // 2`` rollouts per prompt from ``pi_theta``;
2. if the policy's mean token entropy on them is below a threshold (the adaptive trigger;
   no threshold = always), take one gradient step on the *complementary loss* of those
   rollouts, giving ``theta' = theta - eta * update(grad L_c)``::

       L_c(theta) = (1 / N) * sum_i sum_t  -log(1 - pi_theta(o_it | q, o_i,<t))

   (``N``: the number of sampled tokens). Its gradient with respect to the logit of the
   sampled token is ``pi`` (for gradient ascent on ``log pi`` it is ``1 - pi``), so it pushes
   hardest on the tokens the policy was most sure of: the dominant mode is suppressed, not
   the whole distribution flattened;
3. sample the other ``G - G1`` rollouts of each prompt from ``pi_theta'``;
4. restore ``theta`` (the forgetting lives only for this rollout) and train GRPO on all ``G``
   rollouts as one group; the objective is unchanged.

``update`` is the first step of a freshly initialised Adam (``g / (|g| + eps)`` per parameter,
bias-corrected: what the paper's single optimizer step on the rollout model does when that
optimizer is Adam) or plain SGD (``g``).
"""

from __future__ import annotations

import torch

__all__ = ["complementary_loss", "forget_update", "should_forget", "UNLEARNING_UPDATES"]

UNLEARNING_UPDATES = ("adam", "sgd")


def complementary_loss(logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(1/N) sum -log(1 - exp(logprobs))`` over the tokens where ``mask`` is 1 (``N`` = the
    mask's sum; 0 for an empty mask). ``logprobs``: log-probabilities of the sampled tokens.

    Computed as ``-log(-expm1(logp))`` with ``logp`` kept at most ``-1e-6``, so a token with
    probability 1 costs ``-log(1e-6) ~ 13.8`` instead of infinity."""
    if logprobs.shape != mask.shape:
        raise ValueError(f"logprobs {tuple(logprobs.shape)} and mask {tuple(mask.shape)} differ")
    per_token = -torch.log(-torch.expm1(logprobs.clamp(max=-1e-6)))
    weight = mask.to(per_token.dtype)
    return (per_token * weight).sum() / weight.sum().clamp(min=1.0)


def forget_update(param: torch.Tensor, grad: torch.Tensor, rate: float, kind: str = "adam",
                  eps: float = 1e-8) -> torch.Tensor:
    """``param - rate * u(grad)``: ``u = g / (|g| + eps)`` (the first step of a new Adam,
    ``m_hat = g``, ``v_hat = g^2``) or ``u = g`` (SGD). Returns a new tensor."""
    if kind == "adam":
        return param - rate * grad / (grad.abs() + eps)
    if kind == "sgd":
        return param - rate * grad
    raise ValueError(f"unlearning update must be one of {list(UNLEARNING_UPDATES)}, got {kind!r}")


def should_forget(mean_entropy: float, threshold: float | None) -> bool:
    """EEPO's adaptive trigger: forget when the first stage's mean token entropy is below
    ``threshold`` (``None``: always)."""
    return threshold is None or mean_entropy < threshold
