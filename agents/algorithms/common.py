"""Building blocks shared by every algorithm: masked statistics, KL estimators, the clipped
surrogate and loss aggregation (``loss_type``).

Notation (TRL 1.16 / verl 0.9.1 names, docs/defaults.md): ``logp`` current policy, ``old`` the
behaviour policy, ``ref`` the frozen reference; ``M`` the loss mask (1 on policy tokens, 0 on
padding and on environment/tool tokens); ``L`` a per-token loss matrix ``(B, T)``.
"""

from __future__ import annotations

import torch

__all__ = [
    "masked_sum",
    "masked_mean",
    "masked_var",
    "masked_whiten",
    "kl_estimate",
    "clipped_surrogate",
    "LOSS_TYPES",
    "aggregate_loss",
    "token_loss_weights",
]

KL_ALIASES = {
    "k1": "k1", "kl": "k1",
    "k2": "k2", "mse": "k2",
    "k3": "k3", "low_var_kl": "k3",
    "k1+": "k1+", "k3+": "k3+",
}

# TRL loss_type (and our name for verl's seq-mean-token-sum) -> description
LOSS_TYPES = {
    "grpo": "mean_i [ sum_t L*M / sum_t M ]   (verl seq-mean-token-mean)",
    "bnpo": "sum L*M / sum M over each micro-batch, averaged over micro-batches",
    "dapo": "sum L*M / (active tokens of the whole optimizer-step batch)   (verl token-mean)",
    "dr_grpo": "sum L*M / (B * max_completion_length)   (verl seq-mean-token-sum-norm)",
    "seq_mean_token_sum": "mean_i [ sum_t L*M ]   (verl seq-mean-token-sum)",
}


def masked_sum(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    return (x * mask).sum() if dim is None else (x * mask).sum(dim)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Σ x·M / Σ M (0 where Σ M = 0)."""
    if dim is None:
        return masked_sum(x, mask) / mask.sum().clamp(min=1)
    return masked_sum(x, mask, dim) / mask.sum(dim).clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of the masked entries (Bessel-corrected by default, as TRL and verl)."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    if unbiased:
        n = mask.sum()
        if n <= 1:
            return torch.zeros((), dtype=x.dtype)
        var = var * n / (n - 1)
    return var


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(x − mean) / sqrt(var + 1e-8) over masked entries (mean kept if ``shift_mean=False``)."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    white = (x - mean) * torch.rsqrt(var + 1e-8)
    return white if shift_mean else white + mean


def kl_estimate(logp: torch.Tensor, ref_logp: torch.Tensor, kind: str = "k3",
                clamp: bool = False) -> torch.Tensor:
    """Per-token KL(π_θ‖π_ref) estimate from sampled-token log-probs (Schulman's k1/k2/k3).

    With ``x = ref − logp``:  k1 = −x;  k2 = ½x²;  k3 = eˣ − x − 1.
    ``"k1+"``/``"k3+"`` (verl): the value of k1/k3 with the gradient of k2 (straight-through).
    Aliases: ``kl`` = k1, ``mse`` = k2, ``low_var_kl`` = k3.
    ``clamp`` (verl semantics): k3 uses x clamped to [−20, 20] and is capped to [−10, 10].
    """
    try:
        kind = KL_ALIASES[kind]
    except KeyError:
        raise ValueError(f"unknown KL estimator {kind!r}; choose one of {sorted(KL_ALIASES)}") \
            from None
    x = ref_logp - logp
    if kind == "k1":
        return -x
    if kind == "k2":
        return 0.5 * x**2
    if kind == "k3":
        return _k3(x, clamp)
    k2 = 0.5 * x**2
    value = -x if kind == "k1+" else _k3(x, clamp)
    return k2 - k2.detach() + value.detach()


def _k3(x: torch.Tensor, clamp: bool) -> torch.Tensor:
    if not clamp:
        return torch.exp(x) - x - 1
    x = torch.clamp(x, -20.0, 20.0)
    return torch.clamp(torch.exp(x) - x - 1, -10.0, 10.0)


def clipped_surrogate(
    log_ratio: torch.Tensor,
    advantages: torch.Tensor,
    epsilon_low: float,
    epsilon_high: float,
    dual_clip: float | None = None,
    delta: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO clipped surrogate per token (or per sequence): returns ``(loss, flags)``.

    ρ = exp(log_ratio);  loss = max(−A·ρ', −A·clip(ρ, 1−ε_low, 1+ε_high)) with ρ' = min(ρ, δ)
    when ``delta`` is set (INTELLECT-2 two-sided clip). Dual-clip (verl ``clip_ratio_c``): for
    A < 0 the loss is additionally capped at −A·c. ``flags`` hold boolean masks of where each
    clip was active (for clip-fraction metrics).
    """
    ratio = torch.exp(log_ratio)
    unclipped = torch.clamp(ratio, max=delta) if delta is not None else ratio
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    loss1 = -advantages * unclipped
    loss2 = -advantages * clipped
    loss = torch.maximum(loss1, loss2)
    flags = {
        "low": (ratio < 1 - epsilon_low) & (advantages < 0),
        "high": (ratio > 1 + epsilon_high) & (advantages > 0),
    }
    if dual_clip is not None:
        if dual_clip <= 1.0:
            raise ValueError(f"dual_clip (clip_ratio_c) must be > 1, got {dual_clip}")
        capped = torch.minimum(loss, -advantages * dual_clip)
        flags["dual"] = (advantages < 0) & (loss > -advantages * dual_clip)
        loss = torch.where(advantages < 0, capped, loss)
    return loss, flags


def token_loss_weights(
    mask: torch.Tensor,
    loss_type: str,
    max_completion_length: int | None = None,
    micro_batch_size: int | None = None,
    *,
    skip_empty_rows: bool = False,
    token_normalizer: float | None = None,
) -> torch.Tensor:
    """Weights ``W`` with ``aggregate_loss(L, M, loss_type) == Σ W·L`` for one optimizer step.

    ``mask`` is the ``(B, T)`` loss mask of the whole optimizer-step batch (all gradient
    accumulation micro-batches, in their logical order). Writing the aggregation as a per-token
    weight lets the trainer regroup sequences into any physical micro-batches (sorted by length)
    and still get exactly the loss of the logical batch.

    * ``grpo``: W = M / (|o_i| · B)
    * ``bnpo``: W = M / (Σ M over i's micro-batch · number of micro-batches)
    * ``dapo``: W = M / Σ M
    * ``dr_grpo``: W = M / (B · max_completion_length)
    * ``seq_mean_token_sum``: W = M / B

    ``skip_empty_rows`` (verl's seq-mean modes): B counts only rows with a token in the loss.
    ``token_normalizer`` (``dapo``): divide by this instead of Σ M (TRL 1.16 with
    ``steps_per_generation > gradient_accumulation_steps`` divides by the generation batch's
    tokens × GA / spg).
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; choose one of {sorted(LOSS_TYPES)}")
    mask = mask.float()
    batch: float | torch.Tensor = mask.shape[0]
    if skip_empty_rows:
        batch = (mask.sum(-1) > 0).sum().clamp(min=1)
    if loss_type == "grpo":
        return mask / (mask.sum(-1, keepdim=True).clamp(min=1) * batch)
    if loss_type == "dapo":
        if token_normalizer is not None:
            return mask / max(float(token_normalizer), 1.0)
        return mask / mask.sum().clamp(min=1)
    if loss_type == "dr_grpo":
        if not max_completion_length:
            raise ValueError("loss_type='dr_grpo' needs max_completion_length")
        return mask / (batch * max_completion_length)
    if loss_type == "seq_mean_token_sum":
        return mask / batch
    rows = mask.shape[0]
    size = micro_batch_size or rows
    if rows % size:
        raise ValueError(f"batch of {rows} is not a multiple of micro_batch_size={size}")
    chunks = mask.view(rows // size, size, -1)
    per_chunk = chunks.sum(dim=(1, 2), keepdim=True).clamp(min=1)
    return (chunks / (per_chunk * (rows // size))).view_as(mask)


def aggregate_loss(
    loss: torch.Tensor,
    mask: torch.Tensor,
    loss_type: str,
    max_completion_length: int | None = None,
    micro_batch_size: int | None = None,
    *,
    skip_empty_rows: bool = False,
) -> torch.Tensor:
    """Reduce a per-token loss ``(B, T)`` to a scalar per ``loss_type`` (see ``LOSS_TYPES``)."""
    weights = token_loss_weights(mask, loss_type, max_completion_length, micro_batch_size,
                                 skip_empty_rows=skip_empty_rows)
    return (loss * weights).sum()
