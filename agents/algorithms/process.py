"""Process-reward advantages (DeepSeekMath's process supervision for GRPO).

Each completion i has steps j with rewards r_{i,j} ending at token index e_{i,j} (per-step
scores from ``info["step_rewards"]``; a turn without them is one step worth its turn reward).
Normalise every step reward with the statistics of *all* steps of the group, then give each
token the sum of the normalised rewards of its own step and every later step:

    r̃_{i,j} = (r_{i,j} − mean_group(r)) / (std_group(r) + ε)
    A_{i,t} = Σ_{j : e_{i,j} ≥ t} r̃_{i,j}

Tokens after the last step end get no advantage (callers extend the last step to the end of the
reply). ``std`` is Bessel-corrected; a group with a single step has mean 0 and std 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["process_advantages"]


def process_advantages(
    step_rewards: Sequence[Sequence[float]],
    step_ends: Sequence[Sequence[int]],
    groups: Sequence[int],
    length: int,
    epsilon: float = 1e-4,
    normalize: bool = True,
) -> torch.Tensor:
    """Token advantages ``(N, length)`` from per-step rewards (see the module docstring)."""
    if not len(step_rewards) == len(step_ends) == len(groups):
        raise ValueError("step_rewards, step_ends and groups need one entry per completion")
    normed: list[list[float]] = [list(map(float, r)) for r in step_rewards]
    if normalize:
        for g in set(groups):
            members = [i for i, gi in enumerate(groups) if gi == g]
            values = torch.tensor([v for i in members for v in normed[i]], dtype=torch.float64)
            if values.numel() > 1:
                mean, std = float(values.mean()), float(values.std())
            else:
                mean, std = 0.0, 1.0
            for i in members:
                normed[i] = [(v - mean) / (std + epsilon) for v in normed[i]]
    adv = torch.zeros((len(groups), length), dtype=torch.float64)
    for i, (rewards, ends) in enumerate(zip(normed, step_ends, strict=True)):
        if len(rewards) != len(ends):
            raise ValueError(f"completion {i}: {len(rewards)} step rewards but {len(ends)} ends")
        for r, e in zip(rewards, ends, strict=True):
            if not 0 <= e < length:
                raise ValueError(f"completion {i}: step end {e} outside [0, {length})")
            adv[i, : e + 1] += r
    return adv.float()
