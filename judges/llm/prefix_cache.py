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
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["PrefixKVCache"]


class PrefixKVCache:
    """LRU store of per-prompt KV tensors for :class:`judges.llm.llama_decoder.LlamaDecoder`.

    Args:
        max_tokens: total prompt tokens kept (KV of one SmolLM2 token is ~23 KB in bf16).
    """

    def __init__(self, max_tokens: int) -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        self.max_tokens = max_tokens
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
    def prefill(self, engine: Any, prompts: Sequence[Sequence[int]], steps: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefill ``prompts`` on a ``_FastEngine`` reusing cached prefixes; returns the
        next-token logits (B, V) and the prompt validity mask (B, W) like ``_left_pad``."""
        dec = engine.decoder
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
        for i, ((key, n), suffix) in enumerate(zip(found, suffixes, strict=True)):
            if key is not None and n:
                ks, vs = self.entries[key]
                for layer in range(dec.n_layers):
                    dec.cache_k[layer][i, :, a - n : a] = ks[layer][:, :n]
                    dec.cache_v[layer][i, :, a - n : a] = vs[layer][:, :n]
                valid[i, a - n : a] = True
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
            keep = torch.cat([torch.arange(a - n, a), torch.arange(width - m, width)])
            self._store(tuple(prompt), [c[i, :, keep].clone() for c in dec.cache_k],
                        [c[i, :, keep].clone() for c in dec.cache_v])
            self.reused_tokens += n
            self.prefilled_tokens += m
        engine.valid = valid
        engine.column = width
        return logits, valid[:, :width].long()
