"""DAPO's two data-side components: dynamic sampling and overlong reward shaping.

(Clip-higher and the token-level loss are GRPO settings: ``epsilon_high=0.28``,
``loss_type="dapo"``; DAPO uses β = 0.)

Dynamic sampling (verl ``algorithm.filter_groups``): drop every group whose metric has zero
standard deviation (all right / all wrong: no gradient); keep generating batches and
concatenating surviving groups until the training batch is full, at most
``max_num_gen_batches`` generation batches (≤ 0: unlimited).

Overlong reward shaping (soft punishment), with L_max = ``max_completion_length`` and
L_cache = ``overlong_buffer_len``:

    R_len(|y|) = 0                                   if |y| ≤ L_max − L_cache
               = ((L_max − L_cache) − |y|) / L_cache  if L_max − L_cache < |y| ≤ L_max
               = −1                                  if |y| > L_max   (TRL; ``linear=False``)
               = ((L_max − L_cache) − |y|) / L_cache  if |y| > L_max   (verl; ``linear=True``)
    (times ``penalty_factor``; added to the task reward). verl's reward manager keeps the linear
    ramp past L_max (−2 at L_max + L_cache); a multi-turn episode can exceed L_max.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["overlong_penalty", "groups_with_signal"]


def overlong_penalty(
    lengths: torch.Tensor | Sequence[int],
    max_completion_length: int,
    overlong_buffer_len: int,
    penalty_factor: float = 1.0,
    linear: bool = False,
) -> torch.Tensor:
    """Soft overlong punishment ``R_len`` for completion ``lengths`` (policy tokens)."""
    if not 0 < overlong_buffer_len <= max_completion_length:
        raise ValueError("overlong_buffer_len must be in (0, max_completion_length]")
    lengths = torch.as_tensor(lengths, dtype=torch.float64)
    start = max_completion_length - overlong_buffer_len
    penalty = torch.where(lengths <= start, torch.zeros_like(lengths),
                          (start - lengths) / overlong_buffer_len)
    if not linear:
        penalty = torch.where(lengths > max_completion_length, -torch.ones_like(lengths), penalty)
    return (penalty * penalty_factor).float()


def groups_with_signal(metric: torch.Tensor, groups: torch.Tensor) -> list[int]:
    """Group ids (in first-seen order) whose ``metric`` values are not all equal.

    Groups of a single completion are kept (as in verl).
    """
    kept: list[int] = []
    seen: set[int] = set()
    for g in groups.tolist():
        if g in seen:
            continue
        seen.add(g)
        values = metric[groups == g]
        if values.numel() == 1 or float(values.double().std()) > 0:
            kept.append(g)
    return kept
