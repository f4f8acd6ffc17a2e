"""LLM inference backends (used by LLM judges and, through ``rlenvs.policies``, as policies)."""

from judges.llm.base import BackendError, ChatModel, Messages, SamplingParams
from judges.llm.embedded import EmbeddedModelMissing

__all__ = ["ChatModel", "SamplingParams", "Messages", "BackendError", "EmbeddedModelMissing"]
