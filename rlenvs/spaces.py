"""Spaces for text environments.

Gymnasium's ``Text`` space only admits a fixed character set (alphanumerics by default), so it
rejects ordinary model output such as ``"\\boxed{42}"`` or non-English text. These spaces accept
any Unicode text; ``sample()`` draws deterministic (seeded) random text for checkers and tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.spaces import Space

__all__ = ["UnicodeText", "ChatMessages", "ROLES"]

ROLES = ("system", "user", "assistant", "tool")

# Characters `sample()` draws from: ASCII, LaTeX-ish punctuation and some non-Latin scripts.
_SAMPLE_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    " \n\t.,;:!?()[]{}<>+-*/=^_\\$#%&'\"|~`@"
    "éüßçñøåœ αβγδπΣΩ 数学答案 العربية हिन्दी ∑∫√∞≤≥ 🙂"
)


class UnicodeText(Space[str]):
    """Any Python ``str`` of at most ``max_length`` characters (``None`` = unbounded)."""

    def __init__(self, max_length: int | None = None, seed: int | np.random.Generator | None = None):
        if max_length is not None and max_length < 1:
            raise ValueError("max_length must be positive or None")
        self.max_length = max_length
        super().__init__(dtype=str, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and (self.max_length is None or len(x) <= self.max_length)

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """Random Unicode text (up to 64 characters, within ``max_length``)."""
        limit = 64 if self.max_length is None else min(64, self.max_length)
        length = int(self.np_random.integers(1, limit + 1))
        idx = self.np_random.integers(0, len(_SAMPLE_ALPHABET), size=length)
        return "".join(_SAMPLE_ALPHABET[i] for i in idx)

    def __repr__(self) -> str:
        return f"UnicodeText(max_length={self.max_length})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnicodeText) and other.max_length == self.max_length

    def to_jsonable(self, sample_n: Sequence[str]) -> list[str]:
        return list(sample_n)

    def from_jsonable(self, sample_n: Sequence[str]) -> list[str]:
        return list(sample_n)


class ChatMessages(Space[list]):
    """A conversation: a list of ``{"role": str, "content": str, ...}`` dicts.

    ``role`` must be one of ``roles``; extra keys (``name``, ``tool_call_id``, ``tool_calls``) are
    allowed. ``max_messages`` bounds the list length (``None`` = unbounded).
    """

    def __init__(
        self,
        roles: Sequence[str] = ROLES,
        max_messages: int | None = None,
        seed: int | np.random.Generator | None = None,
    ):
        self.roles = tuple(roles)
        self.max_messages = max_messages
        self._text = UnicodeText()
        super().__init__(dtype=object, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def seed(self, seed: int | None = None) -> Any:
        seeds = super().seed(seed)
        self._text.seed(int(self.np_random.integers(2**31)))
        return seeds

    def contains(self, x: Any) -> bool:
        if not isinstance(x, list):
            return False
        if self.max_messages is not None and len(x) > self.max_messages:
            return False
        return all(
            isinstance(m, dict)
            and m.get("role") in self.roles
            and isinstance(m.get("content"), str)
            for m in x
        )

    def sample(self, mask: Any = None, probability: Any = None) -> list[dict[str, str]]:
        """A random short conversation starting with a user turn."""
        n = int(self.np_random.integers(1, 4))
        if self.max_messages is not None:
            n = min(n, self.max_messages)
        roles = ["user" if i % 2 == 0 else "assistant" for i in range(n)]
        return [{"role": r, "content": self._text.sample()} for r in roles]

    def __repr__(self) -> str:
        return f"ChatMessages(roles={self.roles}, max_messages={self.max_messages})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ChatMessages)
            and other.roles == self.roles
            and other.max_messages == self.max_messages
        )

    def to_jsonable(self, sample_n: Sequence[list]) -> list[list]:
        return [list(s) for s in sample_n]

    def from_jsonable(self, sample_n: Sequence[list]) -> list[list]:
        return [list(s) for s in sample_n]
