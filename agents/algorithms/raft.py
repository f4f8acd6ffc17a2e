"""RAFT++ and Reinforce-Rej (Xiong et al., "A Minimalist Approach to LLM Reasoning: from
Rejection Sampling to Reinforce", arXiv 2504.11343).

Both sample n responses per prompt like GRPO and train with PPO's clipped importance ratio
``s_t(θ) = π_θ(a_t | x, a_<t) / π_old(a_t | x, a_<t)``; they differ in which responses enter the
loss and with what advantage. Responses left out are *rejected*: their loss mask is zeroed, so
they add nothing to the loss or to its token / sequence counts (the paper's ``1/|D|`` runs over
the kept set D only).

**RAFT++** (rejection-sampling fine-tuning + importance sampling and clipping): keep each
prompt's best responses, when they earned a positive reward, with advantage 1:

    D = {(x, a_i) : r(x, a_i) = max_j r(x, a_j) > 0}
    L(θ) = −(1/|D|) Σ_{(x,a) ∈ D} (1/|a|) Σ_t min(s_t(θ), clip(s_t(θ), 1 − ε, 1 + ε))

With a binary reward D is the set of correct responses (the paper's indicator I(r = 1); the
authors' code takes max(r, 0) with r ∈ {−1, 1}, the same set). No baseline, no negative samples.

**Reinforce-Rej**: REINFORCE with the reward itself as the advantage, after rejecting every prompt
whose responses all got the same reward (all correct: nothing left to learn, and over-confidence;
all wrong: the negative-only gradient the paper finds harmful):

    D = {(x, a_i) : std_j r(x, a_j) > 0}          (a prompt with a single response is kept)
    A(x, a) = r(x, a) − b
    L(θ) = −(1/|D|) Σ_{(x,a) ∈ D} (1/|a|) Σ_t min(s_t(θ)·A, clip(s_t(θ), 1 − ε, 1 + ε)·A)

The paper's rewards are ±1 (right / wrong), so a wrong answer is pushed down. rlenvs' binary
reward is 1 / 0; ``b`` (``reinforce_baseline``, default 0.5) gives it the paper's signs (±0.5: the
paper's advantage up to a factor of 2, which Adam's scale invariance absorbs). ``b = 0`` is the
plain ``A = r``.

The (1/|D|) Σ (1/|a|) Σ_t reduction is ``loss_type="grpo"``; the authors' runs use verl's default
token mean (``loss_type="dapo"``, our default). Either way only the kept responses count.
"""

from __future__ import annotations

import torch

from agents.algorithms.dapo import groups_with_signal

__all__ = ["raft_advantages", "reinforce_rej_advantages"]


def raft_advantages(rewards: torch.Tensor, groups: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """RAFT++'s ``(advantages, kept)`` for ``rewards`` (N,) in groups ``groups`` (N,): 1 and
    ``True`` for a response with its group's highest reward when that reward is positive."""
    _check(rewards, groups)
    rewards = rewards.double()
    kept = torch.zeros(rewards.shape, dtype=torch.bool)
    for g in torch.unique(groups):
        idx = groups == g
        best = rewards[idx].max()
        if best > 0:
            kept[idx] = rewards[idx] == best
    return kept.float(), kept


def reinforce_rej_advantages(rewards: torch.Tensor, groups: torch.Tensor, baseline: float = 0.5
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Reinforce-Rej's ``(advantages, kept)``: ``r − baseline`` in groups whose rewards differ,
    0 and ``False`` in groups whose rewards are all equal."""
    _check(rewards, groups)
    keep_groups = torch.tensor(groups_with_signal(rewards, groups), dtype=groups.dtype)
    kept = torch.isin(groups, keep_groups)
    adv = torch.where(kept, rewards.double() - baseline, torch.zeros((), dtype=torch.float64))
    return adv.float(), kept


def _check(rewards: torch.Tensor, groups: torch.Tensor) -> None:
    if rewards.dim() != 1 or rewards.shape != groups.shape:
        raise ValueError(f"rewards and groups must be 1-D of the same length, got "
                         f"{tuple(rewards.shape)} and {tuple(groups.shape)}")
    if not torch.isfinite(rewards).all():
        raise ValueError("rewards must be finite")
