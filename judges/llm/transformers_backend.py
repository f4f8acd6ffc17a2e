"""Local ``transformers`` causal LM as a chat backend (CPU by default)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from judges.llm.base import Completion, Messages, SamplingParams

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
        if seeds is None:
            seeds = [None if sampling.seed is None else sampling.seed + i
                     for i in range(len(conversations))]
        if len(seeds) != len(conversations):
            raise ValueError(f"{len(seeds)} seeds for {len(conversations)} conversations")
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
        import torch
        from transformers import LogitsProcessorList

        enc = self.tokenizer.apply_chat_template(
            [[{"role": m["role"], "content": m["content"]} for m in conv] for conv in batch],
            add_generation_prompt=True,
            return_tensors="pt",
            padding=True,
            return_dict=True,
        )
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            # greedy over the row sampler's one-hot choice when sampling (see _RowSampler)
            "do_sample": False, "temperature": None, "top_p": None, "top_k": None,
        }
        if sampling.temperature > 0:
            kwargs["logits_processor"] = LogitsProcessorList([_RowSampler(seeds, sampling)])
        if sampling.stop:
            kwargs.update(stop_strings=list(sampling.stop), tokenizer=self.tokenizer)
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        width = enc["input_ids"].shape[1]
        new_tokens = out[:, width:]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        special = set(self.tokenizer.all_special_ids)
        ends = self._end_ids()
        results = []
        for row, text in enumerate(texts):
            mask = enc["attention_mask"][row].bool()
            prompt = enc["input_ids"][row][mask].tolist()
            generated = new_tokens[row].tolist()
            hit_end = next((i for i, t in enumerate(generated) if t in ends), None)
            if hit_end is not None:
                used = hit_end + 1
            else:
                used = len(generated)
                while used and generated[used - 1] == self.tokenizer.pad_token_id:
                    used -= 1
            cut = _cut_at_stop(text, sampling.stop)
            stopped = hit_end is not None or len(cut) < len(text) or \
                used < sampling.max_new_tokens
            reply = [t for t in generated[:used] if t not in special]
            results.append((cut, prompt, reply, "stop" if stopped else "length", used))
        return results

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


class _RowSampler:
    """Samples each row's next token with its own ``torch.Generator`` (temperature, top-k,
    top-p as in transformers' warpers) and returns a one-hot score, so greedy decoding picks it.

    A shared RNG would make a row's draws depend on the rows sampled before it in the batch.
    """

    def __init__(self, seeds: Sequence[int | None], sampling: SamplingParams) -> None:
        import torch

        self.generators = []
        for seed in seeds:
            g = torch.Generator()
            g.manual_seed(seed) if seed is not None else g.seed()
            self.generators.append(g)
        self.sampling = sampling

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        s = self.sampling
        logits = scores.float() / s.temperature
        if s.top_k > 0:
            kth = torch.topk(logits, min(s.top_k, logits.shape[-1])).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if s.top_p < 1.0:
            ordered, order = torch.sort(logits, descending=False)
            cumulative = ordered.softmax(-1).cumsum(-1)
            drop = cumulative <= 1 - s.top_p
            drop[..., -1] = False  # keep at least the most likely token
            logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
        probs = logits.softmax(-1)
        chosen = torch.cat([torch.multinomial(probs[i], 1, generator=g)
                            for i, g in enumerate(self.generators)])
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(len(chosen)), chosen] = 0.0
        return out


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]
