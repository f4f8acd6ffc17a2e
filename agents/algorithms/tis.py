"""Truncated importance sampling (TIS) between the rollout engine and the trainer.

The engine that samples (vLLM: its own kernels, often bf16) and the trainer's forward give the
same ids slightly different probabilities, so the samples are a little off-policy even before
the first optimizer step. The correction weights each token's loss by

    w = π_train(y | x) / π_sampler(y | x),     computed as exp(logp_train - logp_sampler),

bounded so that a few tokens the sampler found unlikely cannot dominate the gradient:

* ``token_truncate``    per-token ``w`` clipped to ``[cap_min, cap]`` (TIS; verl ``rollout_is=token``)
* ``token_mask``        per-token ``w`` outside ``[cap_min, cap]`` set to 0 (verl's IcePop)
* ``sequence_truncate`` one ``w`` per row (the product of its tokens' ratios), clipped
* ``sequence_mask``     a row whose ``w`` is out of bounds gets weight 0

Names follow TRL 1.16 (``vllm_importance_sampling_correction``, ``vllm_importance_sampling_mode``,
``vllm_importance_sampling_clip_max`` / ``_clip_min``) and so do the metrics
(``sampling/sampling_logp_difference/{mean,max}``, ``sampling/importance_sampling_ratio/
{min,mean,max}``). The weights carry no gradient: they change the measure, not the objective.
:class:`agents.trainers.grpo.GRPOTrainer` multiplies the per-token policy loss by them and
leaves the KL term as it is (TRL 1.16: ``per_token_loss * ratio`` before ``+ beta * kl``;
verl: ``pg_losses * rollout_is_weights``). One difference in the metrics: in the sequence modes
a row with no loss token (a masked truncated completion) is left out of the ratio statistics,
where TRL counts its ratio of 1.
"""

from __future__ import annotations

import math

import torch

__all__ = ["TIS_MODES", "check_bounds", "sampler_correction_weights", "row_correction_weights"]

TIS_MODES = ("token_truncate", "token_mask", "sequence_truncate", "sequence_mask")
# exp() of a log-ratio beyond this overflows nothing but means nothing either (verl's bound)
_LOG_RATIO_BOUND = 20.0


def sampler_correction_weights(
    trainer_logprobs: torch.Tensor,
    sampler_logprobs: torch.Tensor,
    mask: torch.Tensor,
    mode: str = "token_truncate",
    cap: float | None = 3.0,
    cap_min: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Per-token importance weights ``(B, T)`` of the trainer's policy over the sampler's.

    Args:
        trainer_logprobs: the trainer's log-probabilities of the sampled ids (B, T) (the "old"
            policy: the weights the rollout was sampled with, recomputed by the trainer).
        sampler_logprobs: the engine's log-probabilities of the same ids (B, T); NaN where the
            engine gave none (those tokens get weight 1 and are left out of the metrics).
        mask: 1 on tokens the loss covers (policy tokens), 0 elsewhere (B, T).
        mode: one of :data:`TIS_MODES`.
        cap: upper bound C_max (None: no upper bound; needs ``cap_min`` in a mask mode).
        cap_min: lower bound C_min (None: none).

    Returns:
        ``(weights, metrics)``: weights are 0 where ``mask`` is 0 and detached; metrics use TRL's
        names plus ``sampling/importance_sampling_ratio/bounded_frac`` (share of weighted units
        -- tokens or rows -- that were clipped or masked).
    """
    check_bounds(mode, cap, cap_min)
    if trainer_logprobs.shape != sampler_logprobs.shape or trainer_logprobs.shape != mask.shape:
        raise ValueError(f"shapes differ: trainer {tuple(trainer_logprobs.shape)}, sampler "
                         f"{tuple(sampler_logprobs.shape)}, mask {tuple(mask.shape)}")
    trainer = trainer_logprobs.detach().float()
    sampler = sampler_logprobs.detach().float()
    keep = mask.bool()
    scored = keep & ~torch.isnan(sampler)
    diff = torch.where(scored, trainer - sampler.nan_to_num(0.0), torch.zeros_like(trainer))
    sequence = mode.startswith("sequence")
    log_ratio = diff.sum(-1, keepdim=True) if sequence else diff
    ratio = torch.exp(log_ratio.clamp(-_LOG_RATIO_BOUND, _LOG_RATIO_BOUND))
    low = -math.inf if cap_min is None else cap_min
    high = math.inf if cap is None else cap
    out_of_bounds = (ratio < low) | (ratio > high)
    if mode.endswith("truncate"):
        bounded = ratio.clamp(min=cap_min, max=cap)
    else:
        bounded = ratio.masked_fill(out_of_bounds, 0.0)
    weights = bounded.expand_as(trainer) * keep

    delta = (trainer - sampler).abs()[scored]
    units = bounded.flatten() if sequence else bounded[keep]
    flagged = out_of_bounds.flatten() if sequence else out_of_bounds[keep]
    if sequence:  # rows with no loss token carry no weight
        rows = keep.any(-1)
        units, flagged = units[rows], flagged[rows]
    metrics = {
        "sampling/sampling_logp_difference/mean": _stat(delta, torch.mean),
        "sampling/sampling_logp_difference/max": _stat(delta, torch.max),
        "sampling/importance_sampling_ratio/min": _stat(units, torch.min),
        "sampling/importance_sampling_ratio/mean": _stat(units, torch.mean),
        "sampling/importance_sampling_ratio/max": _stat(units, torch.max),
        "sampling/importance_sampling_ratio/bounded_frac": _stat(flagged.float(), torch.mean),
    }
    return weights.detach(), metrics


def check_bounds(mode: str, cap: float | None, cap_min: float | None) -> None:
    """Refuse a mode or bounds :func:`sampler_correction_weights` cannot use (config time)."""
    if mode not in TIS_MODES:
        raise ValueError(f"vllm_importance_sampling_mode must be one of {list(TIS_MODES)}, "
                         f"got {mode!r}")
    if cap is None and cap_min is None:
        raise ValueError("importance sampling needs a bound: cap (vllm_importance_sampling_"
                         "clip_max) and/or cap_min (vllm_importance_sampling_clip_min)")
    for name, bound in (("cap", cap), ("cap_min", cap_min)):
        if bound is not None and (isinstance(bound, bool) or
                                  not (isinstance(bound, (int, float)) and bound > 0)):
            raise ValueError(f"{name} must be a positive number or None, got {bound!r}")
    if cap is not None and cap_min is not None and cap_min > cap:
        raise ValueError(f"cap_min ({cap_min}) must not exceed cap ({cap})")


def row_correction_weights(
    trainer_logprobs: list[torch.Tensor],
    sampler_logprobs: list[list[float] | None],
    masks: list[torch.Tensor],
    mode: str = "token_truncate",
    cap: float | None = 3.0,
    cap_min: float | None = None,
) -> tuple[list[torch.Tensor], dict[str, float]]:
    """:func:`sampler_correction_weights` of rows of different lengths (a trainer's samples).

    Row ``i`` has ``len(masks[i])`` tokens: the trainer's log-probs of them, the sampler's (a
    list of floats; ``None`` or NaN entries where the engine gave none: weight 1) and the loss
    mask. Returns each row's weights (same length) and the batch's metrics.
    """
    if not len(trainer_logprobs) == len(sampler_logprobs) == len(masks):
        raise ValueError(f"{len(trainer_logprobs)} trainer rows, {len(sampler_logprobs)} "
                         f"sampler rows, {len(masks)} masks")
    if not masks:
        raise ValueError("no rows to weight")
    width = max(1, max(len(m) for m in masks))
    shape = (len(masks), width)
    trainer = torch.zeros(shape)
    sampler = torch.full(shape, math.nan)
    mask = torch.zeros(shape)
    for i, (t, s, m) in enumerate(zip(trainer_logprobs, sampler_logprobs, masks, strict=True)):
        n = len(m)
        if len(t) != n or (s is not None and len(s) != n):
            raise ValueError(f"row {i}: {len(t)} trainer log-probs, "
                             f"{None if s is None else len(s)} sampler log-probs, {n} mask "
                             "entries (one per completion id)")
        trainer[i, :n] = t.detach().float()
        if s is not None:
            sampler[i, :n] = torch.tensor([math.nan if x is None else float(x) for x in s])
        mask[i, :n] = m
    weights, metrics = sampler_correction_weights(trainer, sampler, mask, mode, cap, cap_min)
    return [weights[i, : len(m)].clone() for i, m in enumerate(masks)], metrics


def _stat(values: torch.Tensor, fn: object) -> float:
    return float(fn(values)) if values.numel() else 0.0  # type: ignore[operator]
