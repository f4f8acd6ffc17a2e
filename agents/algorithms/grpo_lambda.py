"""GRPO-λ: the Top-λ filter for length-penalty rewards (Dai, Liu, Si, "Stable Reinforcement
Learning for Efficient Reasoning", arXiv 2505.18086), and the plain length penalty it fixes.

A length penalty applied to every prompt shortens reasoning but collapses accuracy early in
training: prompts the policy cannot yet solve are pushed to answer shorter as well. GRPO-λ
watches each prompt group's correctness ratio and gives the length-penalty reward only to the
groups that are already good; the others keep the length-agnostic 0/1 reward.

Length reward (Kimi k1.5's, per group of completions of one prompt; ``L`` token lengths,
``c ∈ {0, 1}`` correctness, ``L_min`` / ``L_max`` the group's shortest and longest)::

    λ_i      = 0.5 − (L_i − L_min) / (L_max − L_min)          (0 when L_max = L_min)
    len_i    = λ_i if c_i else min(0, λ_i)
    reward_i = r_i + w · len_i                                 (w = ``length_weight``, 1)

Top-λ filter (per generation batch of G groups, ``p_g`` the group's correctness ratio)::

    eligible = {g : p_g > min_accuracy}
    selected = the ⌈λ·G⌉ eligible groups with the highest p_g  (ties: lower group id first)
    reward_i = r_i + w · len_i   if g(i) ∈ selected   else   r_i

This is the *staged* schedule of the paper's title figure: it needs no step counter. Early on
few groups are right often enough to qualify and the run optimises accuracy only; as accuracy
rises, up to a λ fraction of every batch is optimised for brevity, and a prompt whose accuracy
falls drops out of the length reward by itself. ``length_reward="all"`` is the plain length
penalty (every group, the paper's LP baseline). ``min_accuracy`` (0 here: a group needs at least
one correct completion, so an all-wrong group is never pushed to answer shorter) is our reading of
"a low correctness ratio switches to 0/1 rewards"; raise it to demand more.
"""

from __future__ import annotations

import math

import torch

__all__ = ["LENGTH_REWARDS", "kimi_length_rewards", "top_lambda_groups", "length_shaped_rewards"]

LENGTH_REWARDS = ("top_lambda", "all")


def kimi_length_rewards(lengths: torch.Tensor, correct: torch.Tensor, groups: torch.Tensor
                        ) -> torch.Tensor:
    """Kimi k1.5's per-group length reward ``len_i`` (see the module docstring), ``(N,)``."""
    _check(lengths, correct, groups)
    lengths = lengths.double()
    out = torch.zeros_like(lengths)
    for g in torch.unique(groups):
        idx = groups == g
        lo, hi = lengths[idx].min(), lengths[idx].max()
        if hi == lo:
            continue
        lam = 0.5 - (lengths[idx] - lo) / (hi - lo)
        out[idx] = torch.where(correct[idx].bool(), lam, torch.clamp(lam, max=0.0))
    return out


def top_lambda_groups(correct: torch.Tensor, groups: torch.Tensor, fraction: float,
                      min_accuracy: float = 0.0) -> list[int]:
    """The ids of the ⌈fraction·G⌉ groups with the highest correctness ratio above
    ``min_accuracy`` (ties broken by the lower group id)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"top_lambda must be in [0, 1], got {fraction}")
    ids = [int(g) for g in torch.unique(groups)]
    accuracy = {g: float(correct[groups == g].double().mean()) for g in ids}
    eligible = sorted((g for g in ids if accuracy[g] > min_accuracy),
                      key=lambda g: (-accuracy[g], g))
    return eligible[: math.ceil(fraction * len(ids) - 1e-9)]


def length_shaped_rewards(rewards: torch.Tensor, correct: torch.Tensor, lengths: torch.Tensor,
                          groups: torch.Tensor, mode: str = "top_lambda",
                          fraction: float = 0.2, min_accuracy: float = 0.0,
                          length_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """``(shaped rewards, stats)``: ``rewards + w·len`` on the selected groups (``mode="top_lambda"``)
    or on every group (``mode="all"``); stats: the fraction of groups that got the length reward
    and its mean over the batch."""
    if mode not in LENGTH_REWARDS:
        raise ValueError(f"length_reward must be one of {LENGTH_REWARDS}, got {mode!r}")
    _check(lengths, correct, groups)
    length = kimi_length_rewards(lengths, correct, groups)
    if mode == "all":
        chosen = torch.ones_like(groups, dtype=torch.bool)
    else:
        chosen = torch.isin(groups, torch.tensor(
            top_lambda_groups(correct, groups, fraction, min_accuracy), dtype=groups.dtype))
    bonus = torch.where(chosen, length_weight * length, torch.zeros_like(length))
    n_groups = len(torch.unique(groups))
    n_chosen = len(torch.unique(groups[chosen])) if bool(chosen.any()) else 0
    stats = {"length_reward/groups_frac": n_chosen / max(n_groups, 1),
             "length_reward/mean": float(bonus.mean())}
    return (rewards.double() + bonus).to(rewards.dtype), stats


def _check(lengths: torch.Tensor, correct: torch.Tensor, groups: torch.Tensor) -> None:
    if not (lengths.dim() == 1 and lengths.shape == correct.shape == groups.shape):
        raise ValueError("lengths, correct and groups must be 1-D of the same length")
