"""REINFORCE++ and REINFORCE++-baseline (Hu et al., "REINFORCE++: A Simple and Efficient Approach
for Aligning Large Language Models", arXiv 2501.03262), under verl 0.9.1's ``adv_estimator``
names ``reinforce_plus_plus`` and ``reinforce_plus_plus_baseline``.

Both are critic-free: the advantage is normalised over the *whole batch* (every loss token of
every response), not within a prompt's group as in GRPO. ``M`` is the loss mask (policy tokens;
observation tokens of a multi-turn episode are 0), ``r_i`` the response's outcome reward.

**REINFORCE++** (``reinforce_plus_plus``): token rewards ``r_{i,t}`` (the outcome reward on the
response's last loss token, 0 elsewhere), discounted returns to go that skip observation tokens
(a masked token neither discounts nor receives a return; verl's loop), then batch whitening:

    G_{i,t} = M_{i,t} · (r_{i,t} + γ · G'_{i,t+1})     G'_{i,t} = G_{i,t} if M_{i,t} else G'_{i,t+1}
    A_{i,t} = M_{i,t} · (G_{i,t} − mean_M G) / sqrt(var_M G + 1e-8)

with mean and (Bessel-corrected) variance over all masked tokens of the batch, so a long
response weighs more in the statistics than a short one (verl's ``masked_whiten``). With γ = 1
(verl's ``algorithm.gamma`` default) every token of a response gets the same return ``r_i``.

**REINFORCE++-baseline** (``reinforce_plus_plus_baseline``): the prompt's mean reward as baseline,
then the same batch whitening (a prompt with a single response has baseline 0, as verl):

    A_{i,t} = whiten_M( M_{i,t} · (r_i − mean_{j ∈ g(i)} r_j) )

verl's version of the paper's KL term is separate (``use_kl_in_reward`` or the KL loss); the
GRPO-family trainers here take it as a loss (``beta``). verl refuses a batch with one loss token
(Bessel's n − 1); here its variance is 0 and the advantage is the centred return.
"""

from __future__ import annotations

import torch

from agents.algorithms.common import masked_whiten

__all__ = ["ADV_ESTIMATORS_RPP", "outcome_token_rewards", "reinforce_pp_advantages",
           "reinforce_pp_baseline_advantages"]

ADV_ESTIMATORS_RPP = ("reinforce_plus_plus", "reinforce_plus_plus_baseline")


def outcome_token_rewards(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` token rewards: ``rewards[i]`` on row i's last masked token, 0 elsewhere (a row
    with no masked token gets nothing)."""
    if rewards.dim() != 1 or mask.dim() != 2 or mask.shape[0] != rewards.shape[0]:
        raise ValueError(f"need rewards (B,) and mask (B, T), got {tuple(rewards.shape)} and "
                         f"{tuple(mask.shape)}")
    out = torch.zeros(mask.shape, dtype=torch.float64)
    positions = torch.arange(mask.shape[1])
    for i in range(mask.shape[0]):
        on = positions[mask[i] > 0]
        if len(on):
            out[i, int(on[-1])] = float(rewards[i])
    return out


def reinforce_pp_advantages(token_rewards: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """REINFORCE++'s ``(advantages, returns)``, both ``(B, T)``, from token rewards ``(B, T)``."""
    if token_rewards.shape != mask.shape or mask.dim() != 2:
        raise ValueError("token_rewards and mask must both be (B, T)")
    r = token_rewards.double()
    m = mask.double()
    returns = torch.zeros_like(r)
    running = torch.zeros(r.shape[0], dtype=r.dtype)
    for t in reversed(range(r.shape[1])):
        step = r[:, t] + gamma * running
        returns[:, t] = step * m[:, t]
        running = step * m[:, t] + running * (1 - m[:, t])
    return masked_whiten(returns, m) * m, returns


def reinforce_pp_baseline_advantages(rewards: torch.Tensor, groups: torch.Tensor,
                                     mask: torch.Tensor) -> torch.Tensor:
    """REINFORCE++-baseline's ``(B, T)`` advantages of outcome ``rewards`` (B,) in ``groups``."""
    if rewards.dim() != 1 or rewards.shape != groups.shape or mask.shape[0] != rewards.shape[0]:
        raise ValueError("need rewards (B,), groups (B,) and mask (B, T)")
    scores = rewards.double().clone()
    for g in torch.unique(groups):
        idx = groups == g
        if int(idx.sum()) > 1:
            scores[idx] = scores[idx] - scores[idx].mean()
    m = mask.double()
    return masked_whiten(scores[:, None] * m, m) * m
