"""Policies for evaluation and rollouts: anything that maps conversations to replies.

A ``Policy`` is ``judges.llm.ChatModel``: ``generate(conversations, sampling) -> replies``.
Local models sample through the trainers' engine (:class:`judges.llm.sampler.TorchSampler`:
the fused Llama decoder for SmolLM2), so an evaluation runs on the same fast path as training.
``load_policy`` builds one from a short spec, and :class:`SystemPromptPolicy` gives any policy
text at the top of its system message (``rlenvs eval --system-prompt-file``: e.g. the experience
library Training-Free GRPO writes):

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

__all__ = ["Policy", "FunctionPolicy", "SystemPromptPolicy", "read_system_prompt", "load_policy",
           "as_policy", "SamplingParams", "BusyMachineWarning", "warn_if_busy", "busy_load"]

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


class SystemPromptPolicy:
    """``policy`` conditioned on ``text``: every conversation it answers starts with ``text``
    (prepended to the conversation's system message, or as a new system message when there is
    none). The environment, its transcripts and its judges never see the text.

    Replies keep the wrapped policy's per-conversation seeds (``generate_completions``)."""

    def __init__(self, policy: Any, text: str) -> None:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("SystemPromptPolicy needs non-empty text")
        import hashlib

        self.policy = as_policy(policy)
        self.text = text
        self.batch_size = getattr(self.policy, "batch_size", 16)
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        self.name = f"{getattr(self.policy, 'name', type(self.policy).__name__)} + system " \
                    f"prompt {digest}"

    def conversation(self, messages: Messages) -> Messages:
        """``messages`` as the wrapped policy sees them."""
        out = [dict(m) for m in messages]
        if out and out[0].get("role") == "system" and isinstance(out[0].get("content"), str):
            out[0]["content"] = f"{self.text}\n\n{out[0]['content']}"
        else:
            out.insert(0, {"role": "system", "content": self.text})
        return out

    def generate(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None
    ) -> list[str]:
        return self.policy.generate([self.conversation(c) for c in conversations], sampling)

    @property
    def generate_completions(self) -> Callable[..., Any] | None:
        inner = getattr(self.policy, "generate_completions", None)
        if inner is None:
            return None

        def call(conversations: Sequence[Messages], sampling: SamplingParams | None = None,
                 **kwargs: Any) -> Any:
            return inner([self.conversation(c) for c in conversations], sampling, **kwargs)

        return call


def read_system_prompt(path: str | Path) -> str:
    """Text for :class:`SystemPromptPolicy` from a file: a JSON object's ``"system_prompt"``
    (the experience library of ``rlenvs train --algo training_free_grpo``) or the file's text;
    ``ValueError`` with a one-line reason otherwise."""
    import json

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"system prompt file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
        if not isinstance(data, dict) or not isinstance(data.get("system_prompt"), str):
            raise ValueError(f"{path}: a JSON system prompt file needs a string "
                             "'system_prompt' (an experience library has one)")
        text = data["system_prompt"]
    if not text.strip():
        raise ValueError(f"{path}: the system prompt is empty")
    return text


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

        warn_if_busy()
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

        warn_if_busy()
        return TransformersChat.from_pretrained(path, **kwargs)
    raise ValueError(
        f"unknown policy {spec!r}: use 'smollm2', an http(s):// OpenAI-compatible URL, "
        "'vllm:PATH' or a local model folder"
    )


class BusyMachineWarning(RuntimeWarning):
    """The CPU is already busy: a local model will generate several times slower than usual."""


_BUSY_WARNED = False


def busy_load() -> tuple[float, int] | None:
    """``(1-minute load average, cores)`` when the machine is already busy -- the load within
    half a core of the core count -- else ``None`` (also where there is no load average). The
    one test for "busy": ``rlenvs main`` then generates with one torch thread
    (:func:`rlenvs.suite.threads_for_load`) and :func:`warn_if_busy` says so."""
    import os

    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # pragma: no cover - not on every platform
        return None
    cores = os.cpu_count() or 1
    return (load, cores) if load >= cores - 0.5 else None


def warn_if_busy() -> bool:
    """Warn once per process when the machine is already busy (:func:`busy_load`) before a
    local model generates on it. The README's quick tour took 2 min 58 s beside the test
    suite, 11.4 s idle, and said nothing (issue 30). Returns whether it warned."""
    global _BUSY_WARNED
    import warnings

    busy = None if _BUSY_WARNED else busy_load()
    if busy is None:
        return False
    _BUSY_WARNED = True
    load, cores = busy
    warnings.warn(
        f"this machine is busy (1-minute load average {load:.1f} on {cores} cores): a local "
        "model generates several times slower than on a quiet machine. On contended cores "
        "torch.set_num_threads(1) is often faster (rlenvs main does it).",
        BusyMachineWarning, stacklevel=3)
    return True
