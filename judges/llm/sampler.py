"""The token-level engine: token ids in, sampled token ids (and their log-probabilities) out.

One protocol, :class:`GenerationBackend`, is what every consumer samples through --
``generate(prompts, sampling, seed)`` and ``sync_weights(model)`` (called by a trainer after every
optimizer step so that the sampler follows the policy). Token ids in and out: the ids a trainer
learns from are exactly the ids sampled, multi-turn included. Implementations:

* :class:`TorchSampler` -- our own decoding loop over a KV cache on CPU: its own copy of the
  policy in the dtype this CPU runs fastest (``dtype="auto"``: bf16 where the CPU has native
  bf16, fp32 where bf16 is emulated; :mod:`judges.llm.cpu_dtype`); Llama models on the fused
  :class:`judges.llm.llama_decoder.LlamaDecoder` with a static KV cache and an optional
  cross-call prefix cache, any other architecture through its ``transformers`` forward;
  identical prompts prefilled once and fanned out (a GRPO group, a judge's k votes), the head
  all prompts of a call share (the chat template's system prompt) prefilled once, finished
  rows dropped from the batch, and no logits processors per token. Every local chat model
  (:class:`judges.llm.transformers_backend.TransformersChat`: ``rlenvs eval``, ``rlenvs serve``,
  the main job, the local LLM judges) generates through it.
* :class:`HFGenerateSampler` -- plain ``model.generate``; the reference the tests compare with.
* :class:`judges.llm.vllm_backend.VLLMSampler` -- vLLM behind the same protocol.

Sampling parameters are :class:`judges.llm.base.SamplingParams`, the one sampling type of the
house; :func:`SamplingConfig` builds one with a trainer's defaults.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from judges.llm.base import SamplingParams
from judges.llm.cpu_dtype import resolve_dtype
from judges.llm.prefix_cache import PrefixKVCache, shared_prefix
from judges.llm.weights import copy_policy_weights, merged_state_dict

__all__ = [
    "SamplingConfig",
    "SamplingParams",
    "Generation",
    "GenerationBackend",
    "TorchSampler",
    "HFGenerateSampler",
    "sample_next_token",
    "copy_policy_weights",
    "merged_state_dict",
]


def SamplingConfig(  # noqa: N802 -- the trainers' constructor of the one sampling type
    max_new_tokens: int = 128, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0,
) -> SamplingParams:
    """:class:`SamplingParams` with a trainer's defaults and TRL's argument order
    (``max_completion_length``, ``temperature``, ``top_p``, ``top_k``)."""
    return SamplingParams(temperature=temperature, top_p=top_p, top_k=top_k,
                          max_new_tokens=max_new_tokens)


@dataclass
class Generation:
    """One sampled continuation.

    Attributes:
        token_ids: generated ids, including the stop token when one was produced.
        logprobs: the sampler's log-probability of each generated id (same length).
        finished: ``True`` if a stop token ended it, ``False`` if it hit ``max_new_tokens``.
        top_logprobs: per generated id, the ``top_logprobs`` largest log-probabilities of the
            model's untempered next-token distribution (only when asked for; ARPO's entropy).
    """

    token_ids: list[int]
    logprobs: list[float]
    finished: bool
    top_logprobs: list[list[float]] | None = None


@runtime_checkable
class GenerationBackend(Protocol):
    """What a rollout needs from an inference engine."""

    def generate(
        self, prompts: Sequence[Sequence[int]], config: SamplingParams, seed: int | None = None
    ) -> list[Generation]:
        """Sample one continuation per prompt (deterministic for a given ``seed``)."""
        ...

    def sync_weights(self, model: torch.nn.Module) -> None:
        """Load the trainer's current weights (a peft model is merged on the fly)."""
        ...


def sample_next_token(
    logits: torch.Tensor, config: SamplingParams, uniform: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row of ``logits`` (B, V); returns ``(ids, logprobs)``.

    Sampling is by inverse CDF with one uniform number per row (``uniform``, shape ``(B,)``;
    drawn here if not given), so a row's sample depends only on its own logits and its own
    random number — not on which other rows share the batch. Log-probabilities are of the
    distribution actually sampled from (temperature, top-k and top-p applied), which is what
    the trainer recomputes.
    """
    logits = logits.float()
    if config.temperature == 0:
        logprobs = torch.log_softmax(logits, dim=-1)
        ids = logprobs.argmax(dim=-1)
        return ids, logprobs.gather(-1, ids[:, None]).squeeze(-1)
    if config.temperature != 1.0:
        logits = logits / config.temperature
    if config.top_k > 0 and config.top_k < logits.shape[-1]:
        kth = torch.topk(logits, config.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if config.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        sorted_probs = torch.softmax(sorted_logits, dim=-1)
        drop_sorted = sorted_probs.cumsum(dim=-1) - sorted_probs >= config.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if uniform is None:
        uniform = torch.rand(logits.shape[0], dtype=torch.float64)
    cdf = probs.cumsum(dim=-1)
    target = (uniform.to(cdf.dtype) * cdf[:, -1])[:, None]
    ids = torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp(max=logits.shape[-1] - 1)
    chosen = probs.gather(-1, ids[:, None]).squeeze(-1)
    if not bool((chosen > 0).all()):  # a draw rounded onto the end of the CDF
        ids = torch.where(chosen > 0, ids, probs.argmax(dim=-1))
        chosen = probs.gather(-1, ids[:, None]).squeeze(-1)
    return ids, chosen.log()


def _left_pad(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        if len(p):
            ids[i, width - len(p) :] = torch.as_tensor(list(p), dtype=torch.long)
            mask[i, width - len(p) :] = 1
    return ids, mask


def _check_prompts(prompts: Sequence[Sequence[int]]) -> None:
    if len(prompts) == 0:
        raise ValueError("generate() needs at least one prompt")
    for i, p in enumerate(prompts):
        if len(p) == 0:
            raise ValueError(f"prompt {i} is empty; every prompt needs at least one token")


class _HFEngine:
    """The model's own forward with a ``transformers`` ``DynamicCache`` (any architecture)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor, steps: int) -> torch.Tensor:
        from transformers import DynamicCache

        self.cache = DynamicCache(config=self.model.config)
        self.mask = mask
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                          past_key_values=self.cache, use_cache=True,
                          logits_to_keep=1).logits[:, -1]

    def step(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        ones = torch.ones((len(ids), 1), dtype=self.mask.dtype)
        self.mask = torch.cat([self.mask, ones], dim=1)
        return self.model(input_ids=ids[:, None], attention_mask=self.mask,
                          position_ids=positions[:, None], past_key_values=self.cache,
                          use_cache=True).logits[:, -1]

    def select(self, index: torch.Tensor) -> None:
        self.cache.batch_select_indices(index)
        self.mask = self.mask[index]


class _FastEngine:
    """:class:`judges.llm.llama_decoder.LlamaDecoder` (fused weights, static KV cache)."""

    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor, steps: int) -> torch.Tensor:
        width = ids.shape[1]
        self.valid = torch.zeros((len(ids), width + steps), dtype=torch.bool)
        self.valid[:, :width] = mask.bool()
        self.column = width
        return self.decoder.prefill(ids, mask, width + steps)

    def step(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        self.valid[:, self.column] = True
        logits = self.decoder.step(ids, positions, self.column, self.valid)
        self.column += 1
        return logits

    def select(self, index: torch.Tensor) -> None:
        self.decoder.select(index)
        self.valid = self.valid[index]


class TorchSampler:
    """Batched sampling with a KV cache in a plain Python loop (CPU-friendly).

    Llama-architecture models (SmolLM2, ...) run on :class:`judges.llm.llama_decoder.LlamaDecoder`
    (fused weights, static KV cache); other models use their ``transformers`` forward.

    Args:
        model: the model to sample from (the sampler keeps its own copy in ``dtype``).
        stop_token_ids: ids that end a reply (default: the model's EOS ids).
        pad_token_id: id used for left padding.
        dtype: generation precision: ``"auto"`` (default) measures which of bf16/fp32 is faster
            on this CPU (bf16 ~2x faster with native bf16, 3-5x slower where it is emulated),
            or ``"bfloat16"``/``"float32"``/a ``torch.dtype``.
        max_batch_size: prompts per forward pass (larger batches are split).
        shrink_fraction: drop finished rows from the KV cache once at least this fraction of
            the active rows has finished (0 = every time a row finishes).
        fast: use the lean Llama decoder when the architecture allows (``False``: always the
            ``transformers`` forward).
        prefix_cache_tokens: keep the KV of recent prompts (up to this many tokens) and prefill
            only the new suffix of a prompt extending one of them
            (:class:`judges.llm.prefix_cache.PrefixKVCache`; branched and multi-turn rollouts).
            0 = off. Only on the fast Llama path; cleared by :meth:`sync_weights`.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        stop_token_ids: Sequence[int] | None = None,
        pad_token_id: int | None = None,
        dtype: str | torch.dtype | None = "auto",
        max_batch_size: int = 64,
        shrink_fraction: float = 0.125,
        fast: bool = True,
        prefix_cache_tokens: int = 0,
    ) -> None:
        base = model.get_base_model() if hasattr(model, "peft_config") else model
        config = base.config
        dtype = resolve_dtype(dtype)
        self.model = type(base)(copy.deepcopy(config)).to(dtype).eval()
        self.model.requires_grad_(False)
        self.dtype = dtype
        eos = stop_token_ids
        if eos is None:
            gen_eos = getattr(getattr(base, "generation_config", None), "eos_token_id", None)
            eos = gen_eos if gen_eos is not None else config.eos_token_id
        eos_list = [eos] if isinstance(eos, int) else list(eos or [])
        if not eos_list:
            raise ValueError("no stop token: pass stop_token_ids (the model config has no eos)")
        self.stop_token_ids = eos_list
        self.pad_token_id = int(pad_token_id if pad_token_id is not None else eos_list[0])
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self.max_batch_size = max_batch_size
        self.shrink_fraction = shrink_fraction
        from judges.llm.llama_decoder import supports

        self.fast = bool(fast) and supports(self.model)
        self._decoder: Any = None
        self.prefix_cache: Any = None
        if prefix_cache_tokens and self.fast:
            self.prefix_cache = PrefixKVCache(prefix_cache_tokens)
        self.sync_weights(model)

    def sync_weights(self, model: torch.nn.Module) -> None:
        if getattr(self, "prefix_cache", None) is not None:
            self.prefix_cache.clear()  # cached keys/values belong to the old weights
        copy_policy_weights(model, self.model)
        if self.fast:
            from judges.llm.llama_decoder import LlamaDecoder

            if self._decoder is None:
                self._decoder = LlamaDecoder(self.model, self.dtype)
            else:
                self._decoder.load(self.model)

    @torch.inference_mode()
    def generate(
        self, prompts: Sequence[Sequence[int]], config: SamplingParams, seed: int | None = None,
        top_logprobs: int = 0, seeds: Sequence[int | None] | None = None,
    ) -> list[Generation]:
        """Sample one continuation per prompt; ``top_logprobs > 0`` also returns, per generated
        token, the largest log-probabilities of the untempered distribution
        (:attr:`Generation.top_logprobs`, as vLLM's ``logprobs=k``).

        ``seed`` seeds the whole call; ``seeds`` (one per prompt, instead of ``seed``) gives each
        row its own random stream, so a row's sample depends only on its prompt and its seed --
        not on the batch size or the other prompts of the call (evaluation, serving, judges).
        """
        _check_prompts(prompts)
        if top_logprobs < 0:
            raise ValueError("top_logprobs must be >= 0")
        row_generators: list[torch.Generator] | None = None
        if seeds is not None:
            if seed is not None:
                raise ValueError("pass seed (the whole call) or seeds (one per prompt), not both")
            if len(seeds) != len(prompts):
                raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
            row_generators = [torch.Generator().manual_seed(int(s)) if s is not None
                              else _unseeded_generator() for s in seeds]
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        out: list[Generation] = []
        for start in range(0, len(prompts), self.max_batch_size):
            stop = start + self.max_batch_size
            out.extend(self._generate_batch(
                prompts[start:stop], config, generator, top_logprobs,
                row_generators[start:stop] if row_generators is not None else None))
        return out

    def _generate_batch(
        self,
        prompts: Sequence[Sequence[int]],
        config: SamplingParams,
        generator: torch.Generator | None,
        top_logprobs: int = 0,
        row_generators: list[torch.Generator] | None = None,
    ) -> list[Generation]:
        engine = _FastEngine(self._decoder) if self.fast else _HFEngine(self.model)
        steps = config.max_new_tokens
        # Prefill each distinct prompt once, then fan the cache out to every row that uses it.
        keys = [tuple(p) for p in prompts]
        unique: dict[tuple[int, ...], int] = {}
        for k in keys:
            unique.setdefault(k, len(unique))
        fan_out = torch.tensor([unique[k] for k in keys], dtype=torch.long)
        cache = self.prefix_cache
        if cache is None and isinstance(engine, _FastEngine) and shared_prefix(list(unique)):
            cache = PrefixKVCache(1 << 30, keep_prompts=False)  # this call's common prefix
        if cache is not None and isinstance(engine, _FastEngine):
            logits, mask = cache.prefill(engine, list(unique), steps, share_common=True)
        else:
            ids, mask = _left_pad(list(unique), self.pad_token_id)
            logits = engine.prefill(ids, mask, steps)
        if len(unique) != len(keys):
            engine.select(fan_out)
            logits, mask = logits[fan_out], mask[fan_out]
        next_pos = mask.sum(-1)  # position id of the next token of each row

        batch = len(prompts)
        tokens = torch.full((batch, steps), self.pad_token_id, dtype=torch.long)
        logps = torch.zeros((batch, steps), dtype=torch.float32)
        lengths = torch.full((batch,), steps, dtype=torch.long)
        finished = torch.zeros(batch, dtype=torch.bool)
        stop = torch.tensor(self.stop_token_ids, dtype=torch.long)
        rows = torch.arange(batch)  # original index of each row still in the batch
        top = min(top_logprobs, int(logits.shape[-1]))
        tops = torch.zeros((batch, steps, top), dtype=torch.float32) if top else None
        for t in range(steps):
            if row_generators is None:
                uniform = torch.rand(batch, dtype=torch.float64, generator=generator)[rows]
            else:
                uniform = torch.cat([torch.rand(1, dtype=torch.float64,
                                                generator=row_generators[int(r)]) for r in rows])
            ids_t, logp_t = sample_next_token(logits, config, uniform)
            tokens[rows, t] = ids_t
            logps[rows, t] = logp_t
            if tops is not None:
                tops[rows, t] = torch.log_softmax(logits.float(), -1).topk(top, dim=-1).values
            done = torch.isin(ids_t, stop) & ~finished[rows]
            if done.any():
                lengths[rows[done]] = t + 1
                finished[rows[done]] = True
            alive = ~finished[rows]
            if t == steps - 1 or not bool(alive.any()):
                break
            dead = len(rows) - int(alive.sum())
            if dead and dead >= self.shrink_fraction * len(rows):
                index = alive.nonzero().squeeze(1)
                engine.select(index)
                rows, next_pos, ids_t = rows[index], next_pos[index], ids_t[index]
            logits = engine.step(ids_t, next_pos)
            next_pos = next_pos + 1
        return [
            Generation(
                token_ids=tokens[i, : lengths[i]].tolist(),
                logprobs=logps[i, : lengths[i]].tolist(),
                finished=bool(finished[i]),
                top_logprobs=tops[i, : lengths[i]].tolist() if tops is not None else None,
            )
            for i in range(batch)
        ]


def _unseeded_generator() -> torch.Generator:
    generator = torch.Generator()
    generator.seed()
    return generator


class HFGenerateSampler:
    """``model.generate`` behind the backend protocol (reference implementation, slower)."""

    def __init__(
        self,
        model: torch.nn.Module,
        stop_token_ids: Sequence[int] | None = None,
        pad_token_id: int | None = None,
        dtype: str | torch.dtype | None = "auto",
        max_batch_size: int = 64,
    ) -> None:
        self._inner = TorchSampler(model, stop_token_ids, pad_token_id, dtype, max_batch_size,
                                   fast=False)
        self.model = self._inner.model

    def sync_weights(self, model: torch.nn.Module) -> None:
        self._inner.sync_weights(model)

    @torch.inference_mode()
    def generate(
        self, prompts: Sequence[Sequence[int]], config: SamplingParams, seed: int | None = None
    ) -> list[Generation]:
        _check_prompts(prompts)
        if seed is not None:
            torch.manual_seed(seed)
        out: list[Generation] = []
        stop = set(self._inner.stop_token_ids)
        size = self._inner.max_batch_size
        for start in range(0, len(prompts), size):
            chunk = prompts[start : start + size]
            ids, mask = _left_pad(chunk, self._inner.pad_token_id)
            kwargs: dict[str, Any] = {
                "max_new_tokens": config.max_new_tokens,
                "pad_token_id": self._inner.pad_token_id,
                "eos_token_id": self._inner.stop_token_ids,
                "output_scores": True,
                "return_dict_in_generate": True,
            }
            if config.temperature > 0:
                kwargs.update(do_sample=True, temperature=config.temperature, top_p=config.top_p,
                              top_k=config.top_k)  # 0 disables top-k in HF too
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            res = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
            new = res.sequences[:, ids.shape[1] :]
            scores = torch.stack(res.scores, dim=1).float().log_softmax(-1)
            for i in range(len(chunk)):
                row = new[i].tolist()
                length = next((k + 1 for k, tok in enumerate(row) if tok in stop), len(row))
                lp = scores[i, torch.arange(length), new[i, :length]].tolist()
                out.append(Generation(row[:length], lp, length < len(row) or row[-1] in stop))
        return out
