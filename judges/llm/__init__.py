"""LLM inference backends (used by LLM judges and, through ``rlenvs.policies``, as policies)."""

from judges.llm.base import BackendError, ChatModel, LogprobChatModel, Messages, SamplingParams
from judges.llm.cache import CachedChat
from judges.llm.embedded import EmbeddedModelMissing

__all__ = [
    "ChatModel",
    "LogprobChatModel",
    "SamplingParams",
    "Messages",
    "BackendError",
    "CachedChat",
    "EmbeddedModelMissing",
]
