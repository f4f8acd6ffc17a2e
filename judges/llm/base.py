"""The interface every LLM backend implements: conversations in, replies out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["SamplingParams", "row_seeds", "ChatModel", "LogprobChatModel", "CompletionModel", "Completion",
           "Messages", "BackendError"]

Messages = list[dict[str, Any]]


class BackendError(RuntimeError):
    """An LLM backend could not produce a reply (server down, bad answer, ...)."""


@dataclass(frozen=True)
class SamplingParams:
    """How to sample a reply: the one sampling type of every engine (evaluation, serving, LLM
    judges and training rollouts alike).

    ``temperature == 0`` means greedy decoding (log-probabilities are then those of the
    untempered distribution). ``top_k == 0`` turns top-k off. ``seed`` makes sampling
    reproducible where the backend supports it (the local engine always does); ``stop`` strings
    end a reply early (chat backends; a token-level engine stops on its stop token ids only).
    Trainers build theirs with :func:`judges.llm.sampler.SamplingConfig` (TRL's defaults:
    temperature 1, 128 new tokens).
    """

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 256
    seed: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


@dataclass(frozen=True)
class Completion:
    """One reply with what OpenAI's API reports about it.

    ``finish_reason``: ``"stop"`` (end of turn or a stop string) or ``"length"`` (cut at
    ``max_new_tokens``); token counts are the backend tokenizer's; ``logprobs`` are OpenAI-style
    per-token entries when asked for.
    """

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[dict[str, Any]] | None = None


def row_seeds(sampling: SamplingParams, count: int,
              seeds: Sequence[int | None] | None = None) -> list[int | None]:
    """Each conversation's seed: ``seeds`` as given (checked against ``count``), else
    ``sampling.seed + i`` (``None`` throughout without a seed)."""
    if seeds is None:
        return [None if sampling.seed is None else sampling.seed + i for i in range(count)]
    if len(seeds) != count:
        raise ValueError(f"{len(seeds)} seeds for {count} conversations")
    return list(seeds)


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


@runtime_checkable
class CompletionModel(ChatModel, Protocol):
    """A chat model that reports finish reasons and token counts, with a seed per conversation.

    ``seeds[i]`` alone decides conversation ``i``'s sampling, whatever else is in the batch and
    however it is split; without ``seeds``, conversation ``i`` uses ``sampling.seed + i``.
    """

    def generate_completions(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None,
        seeds: Sequence[int | None] | None = None, top_logprobs: int | None = None,
    ) -> list[Completion]: ...
