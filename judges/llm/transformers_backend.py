"""A local causal LM as a chat backend (CPU by default), generating through the house's engine.

Conversations are rendered with the chat template and sampled by
:class:`judges.llm.sampler.TorchSampler` -- the same engine the trainers sample with (the fused
Llama decoder with a static KV cache for SmolLM2 and other plain Llamas, the model's own
``transformers`` forward for anything else), each conversation on its own random stream.
Log-probabilities for judges and the OpenAI server come from the model's forward
(:mod:`judges.llm.scoring`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from judges.llm.base import Completion, Messages, SamplingParams, row_seeds

__all__ = ["TransformersChat"]


class TransformersChat:
    """Batched chat generation with a local model.

    Args:
        model: a ``transformers`` causal LM.
        tokenizer: its tokenizer (must have a chat template).
        batch_size: conversations per ``generate`` call.
        name: model name reported in results.
    """

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 16, name: str = "local"):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.name = name
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        self._lock = threading.Lock()
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        """The :class:`judges.llm.sampler.TorchSampler` replies are sampled with (built on first
        use, in the model's dtype; call :meth:`update_weights` after changing ``model``)."""
        if self._engine is None:
            from judges.llm.sampler import TorchSampler

            self._engine = TorchSampler(
                self.model, stop_token_ids=sorted(self._end_ids()),
                pad_token_id=self.tokenizer.pad_token_id,
                dtype=next(self.model.parameters()).dtype, max_batch_size=self.batch_size)
        return self._engine

    def update_weights(self, model: Any | None = None) -> None:
        """Load ``model``'s weights (default: ``self.model``'s) into the generation engine."""
        if self._engine is not None:
            self._engine.sync_weights(model if model is not None else self.model)

    @classmethod
    def from_embedded(cls, dtype: str = "auto", **kwargs: Any) -> TransformersChat:
        """The embedded SmolLM2-135M-Instruct; ``dtype="auto"`` measures whether bf16 or fp32
        is faster on this CPU (``judges.llm.cpu_dtype.resolve_dtype``)."""
        from judges.llm.cpu_dtype import resolve_dtype
        from judges.llm.embedded import (
            EMBEDDED_MODEL_NAME,
            load_embedded_model,
            load_embedded_tokenizer,
        )

        return cls(
            load_embedded_model(resolve_dtype(dtype)),
            load_embedded_tokenizer(),
            name=kwargs.pop("name", EMBEDDED_MODEL_NAME),
            **kwargs,
        )

    @classmethod
    def from_pretrained(cls, path: str, dtype: str = "float32", **kwargs: Any) -> TransformersChat:
        """Any local model folder (no hub access here: pass a path); ``dtype`` may be
        ``"auto"`` (measured, as in :meth:`from_embedded`)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from judges.llm.cpu_dtype import resolve_dtype

        model = AutoModelForCausalLM.from_pretrained(path, dtype=resolve_dtype(dtype)).eval()
        return cls(model, AutoTokenizer.from_pretrained(path), name=kwargs.pop("name", path), **kwargs)

    def generate(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None
    ) -> list[str]:
        return [c.text for c in self.generate_completions(conversations, sampling)]

    def generate_completions(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None,
        seeds: Sequence[int | None] | None = None, top_logprobs: int | None = None,
    ) -> list[Completion]:
        """Replies with finish reasons and token counts (and log-probs when ``top_logprobs``
        is not ``None``).

        Sampling is seeded per conversation: ``seeds[i]`` (default ``sampling.seed + i``) alone
        decides conversation ``i``'s draws, so replies do not depend on ``batch_size`` or on the
        other conversations of the call (up to the float noise of padding).
        """
        from judges.llm.scoring import token_logprobs

        sampling = sampling or SamplingParams()
        seeds = row_seeds(sampling, len(conversations), seeds)
        out: list[Completion] = []
        with self._lock:
            for start in range(0, len(conversations), self.batch_size):
                batch = list(conversations[start : start + self.batch_size])
                rows = self._generate_batch_ids(batch, sampling,
                                                list(seeds[start : start + self.batch_size]))
                for text, prompt, reply, finish, used in rows:
                    entries = None
                    if top_logprobs is not None:
                        entries = token_logprobs(self.model, self.tokenizer, prompt, reply,
                                                 top_logprobs)
                    out.append(Completion(text, finish, len(prompt), used, entries))
        return out

    def _generate_batch_ids(
        self, batch: list[Messages], sampling: SamplingParams, seeds: list[int | None]
    ) -> list[tuple[str, list[int], list[int], str, int]]:
        """Per conversation: (reply text, prompt token ids, reply token ids up to the stop,
        finish reason, completion tokens generated)."""
        from judges.llm.scoring import prompt_ids

        prompts = [prompt_ids(self.tokenizer, conv) for conv in batch]
        generations = self.engine.generate(prompts, sampling, seeds=seeds)
        special = set(self.tokenizer.all_special_ids)
        results = []
        for prompt, generation in zip(prompts, generations, strict=True):
            generated = generation.token_ids
            text = self.tokenizer.decode(generated, skip_special_tokens=True)
            cut = _cut_at_stop(text, sampling.stop)
            used = len(generated)
            if len(cut) < len(text):  # generation would have stopped at the stop string
                used = self._tokens_through_stop(generated, sampling.stop)
            stopped = generation.finished or len(cut) < len(text)
            reply = [t for t in generated[:used] if t not in special]
            results.append((cut, prompt, reply, "stop" if stopped else "length", used))
        return results

    def _tokens_through_stop(self, generated: list[int], stop: Sequence[str]) -> int:
        """The fewest leading tokens of ``generated`` whose text contains a stop string."""
        low, high = 1, len(generated)
        while low < high:
            mid = (low + high) // 2
            text = self.tokenizer.decode(generated[:mid], skip_special_tokens=True)
            if len(_cut_at_stop(text, stop)) < len(text):
                high = mid
            else:
                low = mid + 1
        return low

    def _end_ids(self) -> set[int]:
        eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    # ------------------------------------------------------------------ log-probabilities

    def choice_logprobs(
        self, conversations: Sequence[Messages], choices: Sequence[str]
    ) -> list[dict[str, float]]:
        """Per conversation, ``{choice: log P(the reply's first token reads as choice)}``.

        Computed exactly from the logits (see :func:`judges.llm.scoring.choice_logprobs`).
        """
        from judges.llm.scoring import choice_logprobs

        with self._lock:
            return choice_logprobs(
                self.model, self.tokenizer, conversations, choices, self.batch_size
            )

    def generate_with_logprobs(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None,
        top_logprobs: int = 0,
    ) -> list[tuple[str, list[dict[str, Any]]]]:
        """Replies plus OpenAI-style per-token log-probabilities (``top_logprobs`` alternatives).

        Log-probabilities are those of the model's own distribution (before temperature and
        top-p), for every generated token up to the end of generation (with ``stop`` strings,
        the entries may run past the point where the text was cut).
        """
        done = self.generate_completions(conversations, sampling, top_logprobs=top_logprobs)
        return [(c.text, c.logprobs or []) for c in done]


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]
