"""Local ``transformers`` causal LM as a chat backend (CPU by default)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from judges.llm.base import Messages, SamplingParams

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
    def from_embedded(cls, dtype: str = "bfloat16", **kwargs: Any) -> TransformersChat:
        """The embedded SmolLM2-135M-Instruct (bf16 is ~1.6x faster than fp32 on CPU)."""
        import torch

        from judges.llm.embedded import (
            EMBEDDED_MODEL_NAME,
            load_embedded_model,
            load_embedded_tokenizer,
        )

        torch_dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32}[dtype]
        return cls(
            load_embedded_model(torch_dtype),
            load_embedded_tokenizer(),
            name=kwargs.pop("name", EMBEDDED_MODEL_NAME),
            **kwargs,
        )

    @classmethod
    def from_pretrained(cls, path: str, dtype: str = "float32", **kwargs: Any) -> TransformersChat:
        """Any local model folder (no hub access here: pass a path)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch_dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32}[dtype]
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).eval()
        return cls(model, AutoTokenizer.from_pretrained(path), name=kwargs.pop("name", path), **kwargs)

    def generate(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None
    ) -> list[str]:
        sampling = sampling or SamplingParams()
        replies: list[str] = []
        with self._lock:
            for start in range(0, len(conversations), self.batch_size):
                batch = list(conversations[start : start + self.batch_size])
                seed = None if sampling.seed is None else sampling.seed + start
                replies.extend(self._generate_batch(batch, sampling, seed))
        return replies

    def _generate_batch(
        self, batch: list[Messages], sampling: SamplingParams, seed: int | None
    ) -> list[str]:
        return [text for text, _, _ in self._generate_batch_ids(batch, sampling, seed)]

    def _generate_batch_ids(
        self, batch: list[Messages], sampling: SamplingParams, seed: int | None
    ) -> list[tuple[str, list[int], list[int]]]:
        """Per conversation: (reply text, prompt token ids, reply token ids up to the stop)."""
        import torch

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
        }
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
            kwargs["top_k"] = sampling.top_k if sampling.top_k > 0 else None
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if sampling.stop:
            kwargs.update(stop_strings=list(sampling.stop), tokenizer=self.tokenizer)
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            out = self.model.generate(**enc, **kwargs)
        width = enc["input_ids"].shape[1]
        new_tokens = out[:, width:]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        special = set(self.tokenizer.all_special_ids)
        results = []
        for row, text in enumerate(texts):
            mask = enc["attention_mask"][row].bool()
            prompt = enc["input_ids"][row][mask].tolist()
            reply = [t for t in new_tokens[row].tolist() if t not in special]
            results.append((_cut_at_stop(text, sampling.stop), prompt, reply))
        return results

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
        from judges.llm.scoring import token_logprobs

        sampling = sampling or SamplingParams()
        out: list[tuple[str, list[dict[str, Any]]]] = []
        with self._lock:
            for start in range(0, len(conversations), self.batch_size):
                batch = list(conversations[start : start + self.batch_size])
                seed = None if sampling.seed is None else sampling.seed + start
                for text, prompt, reply in self._generate_batch_ids(batch, sampling, seed):
                    entries = token_logprobs(self.model, self.tokenizer, prompt, reply, top_logprobs)
                    out.append((text, entries))
        return out


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]
