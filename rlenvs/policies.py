"""Policies for evaluation and rollouts: anything that maps conversations to replies.

A ``Policy`` is ``judges.llm.ChatModel``: ``generate(conversations, sampling) -> replies``.
Local models sample through the trainers' engine (:class:`judges.llm.sampler.TorchSampler`:
the fused Llama decoder for SmolLM2), so an evaluation runs on the same fast path as training.
``load_policy`` builds one from a short spec:

=======================  ==========================================================
``"smollm2"``            the embedded SmolLM2-135M-Instruct (CPU, dtype measured)
``"http://HOST:PORT/v1"``  any OpenAI-compatible server (``vllm serve``, ``rlenvs serve``)
``"vllm:PATH"``          an in-process vLLM engine (GPU, ``rlenvs[vllm]`` extra)
``"hf:PATH"`` or a dir   a local transformers model folder
=======================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from judges.llm.base import ChatModel, Messages, SamplingParams

__all__ = ["Policy", "FunctionPolicy", "load_policy", "as_policy", "SamplingParams"]

Policy = ChatModel


class FunctionPolicy:
    """Wrap ``fn(messages) -> reply`` (a scripted or rule-based policy) as a ``Policy``."""

    def __init__(self, fn: Callable[[Messages], str], name: str = "function"):
        self.fn = fn
        self.name = name

    def generate(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None
    ) -> list[str]:
        return [self.fn(conv) for conv in conversations]


def as_policy(policy: Any) -> ChatModel:
    """``policy`` itself when it has ``generate``; a plain function ``messages -> reply`` wrapped
    in :class:`FunctionPolicy`; otherwise a ``TypeError`` saying what a policy is."""
    if hasattr(policy, "generate"):
        return policy
    if callable(policy):
        return FunctionPolicy(policy, name=getattr(policy, "__name__", "function"))
    raise TypeError(
        f"a policy needs .generate(conversations, sampling) -> replies, got "
        f"{type(policy).__name__}; wrap a function messages -> reply in "
        "rlenvs.policies.FunctionPolicy(fn), or use rlenvs.load_policy('smollm2')"
    )


def load_policy(spec: str | ChatModel, **kwargs: Any) -> ChatModel:
    """A policy from a spec string (see the module docstring) or an existing policy object.

    Keyword arguments go to the backend (``dtype``, ``batch_size``, ``model``, ``timeout_s``...).
    """
    if not isinstance(spec, str):
        return as_policy(spec)
    if spec in ("smollm2", "embedded", "default"):
        from judges.llm.transformers_backend import TransformersChat

        return TransformersChat.from_embedded(**kwargs)
    if spec.startswith(("http://", "https://")):
        from judges.llm.openai_backend import OpenAIChat

        return OpenAIChat(spec, **kwargs)
    if spec.startswith("vllm:"):
        from judges.llm.vllm_backend import VLLMChat

        return VLLMChat(spec[len("vllm:") :], **kwargs)
    path = spec[len("hf:") :] if spec.startswith("hf:") else spec
    if Path(path).is_dir():
        from judges.llm.transformers_backend import TransformersChat

        return TransformersChat.from_pretrained(path, **kwargs)
    raise ValueError(
        f"unknown policy {spec!r}: use 'smollm2', an http(s):// OpenAI-compatible URL, "
        "'vllm:PATH' or a local model folder"
    )
