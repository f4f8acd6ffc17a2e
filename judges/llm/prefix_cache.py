"""A prompt-prefix KV cache across :meth:`TorchSampler.generate` calls (fast Llama path).

Within one ``generate`` call identical prompts are prefilled once. Branched and multi-turn
rollouts also send prompts that *extend* a prompt of an earlier call: a Tree-GRPO expansion
re-sends a node's context, the next turn of an episode sends ``context + reply + feedback``.
:class:`PrefixKVCache` keeps the keys/values of recent prompts (keyed by their token tuple,
least recently used evicted beyond ``max_tokens``); a new prompt copies the KV of its longest
cached prefix into the decoder's static cache and only its suffix (at least one token, for
the next-token logits) is run through the model.

Layout of one prefill (``A`` = longest prefix used, ``S`` = longest suffix, per row ``L_i`` and
``s_i``): the prefix KV sits right-aligned in columns ``[A - L_i, A)``, the suffix tokens
right-aligned in ``[A + S - s_i, A + S)``, everything else is masked padding; position ids are
the true ones (``0..L_i+s_i-1``), so attention and RoPE equal a plain prefill. The cache is
dropped whenever the sampler loads new weights.

Prompts of one call usually share a long head (the chat template's system prompt, an
instruction common to every task): 26 of the 49 tokens of an Arithmetic prompt for SmolLM2.
:meth:`PrefixKVCache.prefill` with ``share_common=True`` runs that common prefix once, at batch
one, and every prompt reuses its keys/values -- the prefill work vLLM's automatic prefix caching
skips. :class:`judges.llm.sampler.TorchSampler` does this in every call, with a transient cache
when it keeps none across calls.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["PrefixKVCache", "shared_prefix"]

# run a call's common prompt prefix once when that skips at least this many prompt tokens
SHARED_PREFIX_MIN_SAVED = 32


def shared_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """Length of the prefix all ``prompts`` share that is worth running once: it leaves every
    prompt at least one token of its own and skips at least ``SHARED_PREFIX_MIN_SAVED`` prompt
    tokens of prefill; 0 otherwise."""
    if len(prompts) < 2:
        return 0
    first, n = prompts[0], min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        k = 0
        while k < n and p[k] == first[k]:
            k += 1
        n = k
        if n == 0:
            return 0
    return n if (len(prompts) - 1) * n >= SHARED_PREFIX_MIN_SAVED else 0


class PrefixKVCache:
    """LRU store of per-prompt KV tensors for :class:`judges.llm.llama_decoder.LlamaDecoder`.

    Args:
        max_tokens: total prompt tokens kept (KV of one SmolLM2 token is ~23 KB in bf16).
        keep_prompts: store the KV of every prompt prefilled (``False``: only the common
            prefixes of ``share_common`` calls, for a cache that lives one call).
    """

    def __init__(self, max_tokens: int, keep_prompts: bool = True) -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        self.max_tokens = max_tokens
        self.keep_prompts = keep_prompts
        self.entries: OrderedDict[tuple[int, ...], tuple[list[torch.Tensor],
                                                         list[torch.Tensor]]] = OrderedDict()
        self.tokens = 0
        self.reused_tokens = 0  # prompt tokens whose prefill was skipped
        self.prefilled_tokens = 0  # prompt tokens run through the model

    def clear(self) -> None:
        self.entries.clear()
        self.tokens = 0

    def longest_prefix(self, prompt: Sequence[int]) -> tuple[tuple[int, ...] | None, int]:
        """(cached key, usable length): the longest cached prompt that ``prompt`` starts with;
        the usable length leaves at least one token of ``prompt`` to run."""
        best: tuple[int, ...] | None = None
        for key in self.entries:
            if len(key) <= len(prompt) and (best is None or len(key) > len(best)) \
                    and tuple(prompt[: len(key)]) == key:
                best = key
        if best is None:
            return None, 0
        self.entries.move_to_end(best)
        return best, min(len(best), len(prompt) - 1)

    def _store(self, key: tuple[int, ...], ks: list[torch.Tensor], vs: list[torch.Tensor]) -> None:
        if key in self.entries or len(key) > self.max_tokens:
            return
        self.entries[key] = (ks, vs)
        self.tokens += len(key)
        while self.tokens > self.max_tokens:
            old, _ = self.entries.popitem(last=False)
            self.tokens -= len(old)

    @torch.inference_mode()
    def prefill(self, engine: Any, prompts: Sequence[Sequence[int]], steps: int,
                share_common: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefill ``prompts`` on a ``_FastEngine`` reusing cached prefixes; returns the
        next-token logits (B, V) and the prompt validity mask (B, W) like ``_left_pad``.

        ``share_common``: first run the prefix common to all ``prompts``
        (:func:`shared_prefix`) once at batch one, unless the cache already holds it."""
        dec = engine.decoder
        common = shared_prefix(prompts) if share_common else 0
        if common and common <= self.max_tokens and \
                self.longest_prefix(prompts[0][:common])[1] < common - 1:
            head = tuple(prompts[0][:common])
            self.prefill(engine, [head], 0)
            if head not in self.entries:  # a cache keeping its prompts has stored it already
                self._store(head, [c[0].clone() for c in dec.cache_k],
                            [c[0].clone() for c in dec.cache_v])
        found = [self.longest_prefix(p) for p in prompts]
        lens = [n for _, n in found]
        suffixes = [list(p[n:]) for p, n in zip(prompts, lens, strict=True)]
        a, s = max(lens), max(len(x) for x in suffixes)
        b, width = len(prompts), a + s
        shape = (b, dec.n_kv, width + steps, dec.head_dim)
        dec.cache_k = [torch.zeros(shape, dtype=dec.dtype) for _ in range(dec.n_layers)]
        dec.cache_v = [torch.zeros(shape, dtype=dec.dtype) for _ in range(dec.n_layers)]
        valid = torch.zeros((b, width + steps), dtype=torch.bool)
        ids = torch.full((b, s), 0, dtype=torch.long)
        positions = torch.zeros((b, s), dtype=torch.long)
        rows_of: dict[tuple[tuple[int, ...], int], list[int]] = {}
        for i, (key, n) in enumerate(found):
            if key is not None and n:
                rows_of.setdefault((key, n), []).append(i)
        for (key, n), rows in rows_of.items():  # one copy per cached prefix, all its rows
            ks, vs = self.entries[key]
            index = torch.tensor(rows)
            for layer in range(dec.n_layers):
                dec.cache_k[layer][index, :, a - n : a] = ks[layer][:, :n]
                dec.cache_v[layer][index, :, a - n : a] = vs[layer][:, :n]
            valid[index, a - n : a] = True
        for i, ((_, n), suffix) in enumerate(zip(found, suffixes, strict=True)):
            m = len(suffix)
            ids[i, s - m :] = torch.as_tensor(suffix, dtype=torch.long)
            positions[i, s - m :] = torch.arange(n, n + m)
            valid[i, width - m : width] = True
        columns = torch.arange(width)
        causal = columns[None, :] <= (a + torch.arange(s))[:, None]  # (S, W)
        mask = causal[None] & valid[:, None, :width]
        mask[:, torch.arange(s), a + torch.arange(s)] = True  # padding queries see themselves
        hidden = dec._forward(ids, positions, a, mask[:, None])
        logits = dec.logits(hidden)
        for i, (prompt, n, suffix) in enumerate(zip(prompts, lens, suffixes, strict=True)):
            m = len(suffix)
            if self.keep_prompts:
                keep = torch.cat([torch.arange(a - n, a), torch.arange(width - m, width)])
                self._store(tuple(prompt), [c[i, :, keep].clone() for c in dec.cache_k],
                            [c[i, :, keep].clone() for c in dec.cache_v])
            self.reused_tokens += n
            self.prefilled_tokens += m
        engine.valid = valid
        engine.column = width
        return logits, valid[:, :width].long()
