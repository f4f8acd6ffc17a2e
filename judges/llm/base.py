"""The interface every LLM backend implements: conversations in, replies out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["SamplingParams", "ChatModel", "LogprobChatModel", "Messages", "BackendError"]

Messages = list[dict[str, Any]]


class BackendError(RuntimeError):
    """An LLM backend could not produce a reply (server down, bad answer, ...)."""


@dataclass(frozen=True)
class SamplingParams:
    """How to sample a reply.

    ``temperature == 0`` means greedy decoding. ``seed`` makes sampling reproducible where the
    backend supports it (the local transformers backend always does).
    """

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 256
    seed: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


@runtime_checkable
class ChatModel(Protocol):
    """A batch of conversations -> one reply text per conversation."""

    name: str

    def generate(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None
    ) -> list[str]: ...


@runtime_checkable
class LogprobChatModel(ChatModel, Protocol):
    """A chat model that also tells how likely short answers are as the reply's first token.

    ``choice_logprobs(conversations, ["Yes", "No"])`` returns, per conversation, the natural
    log-probability of each choice (tokens that read as the choice once whitespace is stripped,
    summed); ``-inf`` where the backend saw no such token (an HTTP server reports only its top-k).
    """

    def choice_logprobs(
        self, conversations: Sequence[Messages], choices: Sequence[str]
    ) -> list[dict[str, float]]: ...
