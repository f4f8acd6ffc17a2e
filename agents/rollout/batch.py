"""Training samples and micro-batches.

A :class:`Sample` is one trajectory ready for the loss: its prompt and completion ids, the loss
mask, and per-token tensors (advantages, old/ref log-probs, aggregation weights, values...).
:func:`collate` pads a list of samples into ``[left pad][prompt][completion][right pad]``
tensors; :func:`length_sorted_chunks` groups samples of similar length so padding is small.
Because every algorithm expresses its loss reduction as per-token weights
(:func:`agents.algorithms.common.token_loss_weights`), regrouping never changes the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

__all__ = ["Sample", "MicroBatch", "collate", "length_sorted_chunks"]


@dataclass
class Sample:
    """One sequence for the trainer.

    Attributes:
        prompt_ids / completion_ids: token ids.
        mask: ``(C,)`` float loss mask (1 = policy token in the loss).
        tokens: per-token tensors of shape ``(C,)`` (``advantages``, ``old_logprobs``, ...).
        scalars: per-sequence floats (``reward``, ``advantage``...).
    """

    prompt_ids: list[int]
    completion_ids: list[int]
    mask: torch.Tensor
    tokens: dict[str, torch.Tensor] = field(default_factory=dict)
    scalars: dict[str, float] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + len(self.completion_ids)


@dataclass
class MicroBatch:
    """Padded tensors for a list of samples (``C`` = widest completion)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    mask: torch.Tensor
    tokens: dict[str, torch.Tensor]
    scalars: dict[str, torch.Tensor]
    completion_width: int
    indices: list[int]

    @property
    def size(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: torch.device | str) -> MicroBatch:
        """The same batch with every tensor on ``device``."""
        if torch.device(device) == self.input_ids.device:
            return self
        return MicroBatch(
            self.input_ids.to(device), self.attention_mask.to(device),
            self.position_ids.to(device), self.mask.to(device),
            {k: v.to(device) for k, v in self.tokens.items()},
            {k: v.to(device) for k, v in self.scalars.items()},
            self.completion_width, self.indices,
        )


def collate(samples: Sequence[Sample], pad_token_id: int,
            indices: Sequence[int] | None = None) -> MicroBatch:
    """Pad ``samples`` into one :class:`MicroBatch` (prompts left-padded, completions right)."""
    if not samples:
        raise ValueError("collate() needs at least one sample")
    p = max(len(s.prompt_ids) for s in samples)
    c = max(max(len(s.completion_ids) for s in samples), 1)
    n = len(samples)
    ids = torch.full((n, p + c), pad_token_id, dtype=torch.long)
    attn = torch.zeros((n, p + c), dtype=torch.long)
    mask = torch.zeros((n, c), dtype=torch.float32)
    token_keys = sorted(samples[0].tokens)
    tokens = {k: torch.zeros((n, c), dtype=torch.float32) for k in token_keys}
    for i, s in enumerate(samples):
        lp, lc = len(s.prompt_ids), len(s.completion_ids)
        ids[i, p - lp : p] = torch.as_tensor(s.prompt_ids, dtype=torch.long)
        ids[i, p : p + lc] = torch.as_tensor(s.completion_ids, dtype=torch.long)
        attn[i, p - lp : p + lc] = 1
        mask[i, :lc] = s.mask[:lc]
        for k in token_keys:
            tokens[k][i, :lc] = s.tokens[k][:lc]
    positions = (attn.cumsum(-1) - 1).clamp(min=0)
    scalar_keys = sorted(samples[0].scalars)
    scalars = {k: torch.tensor([s.scalars[k] for s in samples], dtype=torch.float32)
               for k in scalar_keys}
    return MicroBatch(ids, attn, positions, mask, tokens, scalars, c,
                      list(indices) if indices is not None else list(range(n)))


def length_sorted_chunks(samples: Sequence[Sample], size: int,
                         max_tokens: int | None = None) -> list[list[int]]:
    """Indices of ``samples`` in chunks, longest first, similar lengths together.

    A chunk holds at most ``size`` samples and, if ``max_tokens`` is set, at most that many
    padded tokens (rows × longest sequence; a single longer sample still gets its own chunk).
    Smaller chunks are often *faster* on CPU (the logits of a chunk stay in cache) and keep the
    peak memory down; the loss does not depend on the grouping.
    """
    if size < 1:
        raise ValueError("micro-batch size must be >= 1")
    order = sorted(range(len(samples)), key=lambda i: -samples[i].length)
    chunks: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = samples[current[0]].length if current else samples[i].length
        too_many = len(current) >= size
        too_big = max_tokens is not None and current and (len(current) + 1) * width > max_tokens
        if current and (too_many or too_big):
            chunks.append(current)
            current = []
        current.append(i)
    if current:
        chunks.append(current)
    return chunks
