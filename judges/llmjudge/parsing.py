"""Strict parsing of judge outputs, and the frame that puts a response in front of a judge.

A judge model's output is read with fixed patterns only; anything else is *unparseable* and the
caller applies its documented fallback. Score patterns, first kind found wins, last match of that
kind counts (a judge that revises itself ends with its final answer):

1. ``<score>7</score>``
2. ``Score: 7/10``, ``Score: 7``, ``Rating: 7 / 10``, ``Final score = 7`` (case-insensitive)
3. ``\\boxed{7}``

A value outside ``[low, high]``, or a ``/M`` denominator other than ``high``, is unparseable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ParsedScore", "parse_score", "parse_choice", "task_prompt", "frame_response"]

_NUM = r"(-?\d+(?:\.\d+)?)"
_SCORE_PATTERNS = [
    re.compile(r"<score>\s*" + _NUM + r"\s*</score>", re.I),
    re.compile(r"(?:final\s+)?(?:score|rating)\s*(?:[:=]|is)\s*\**\s*" + _NUM
               + r"(?:\s*(?:/|out of)\s*(\d+))?", re.I),
    re.compile(r"\\boxed\{\s*" + _NUM + r"\s*\}"),
]


@dataclass(frozen=True)
class ParsedScore:
    """A parsed score (``value`` in ``[low, high]``) or ``None`` with the reason it failed."""

    value: float | None
    normalized: float | None
    reason: str


def parse_score(text: str, low: float = 1, high: float = 10) -> ParsedScore:
    """Read a score in ``[low, high]`` from judge output; normalized to ``[0, 1]``."""
    if high <= low:
        raise ValueError("need low < high")
    for pattern in _SCORE_PATTERNS:
        matches = list(pattern.finditer(text or ""))
        if not matches:
            continue
        last = matches[-1]
        value = float(last.group(1))
        denominator = last.group(2) if last.re.groups >= 2 else None
        if denominator is not None and float(denominator) != high:
            return ParsedScore(None, None, f"score {last.group(0)!r} is not out of {high:g}")
        if not low <= value <= high:
            return ParsedScore(None, None, f"score {value:g} outside [{low:g}, {high:g}]")
        return ParsedScore(value, (value - low) / (high - low), f"parsed {last.group(0)!r}")
    return ParsedScore(None, None, "no score found (expected e.g. 'Score: 7/10')")


_CHOICE = re.compile(r"\[\[\s*([A-Z])\s*\]\]")
_CHOICE_WORD = re.compile(r"(?:winner|better(?: response)?|verdict)\s*(?:is|:)\s*\**\s*([A-Z])\b",
                          re.I)


def parse_choice(text: str, allowed: str = "ABC") -> str | None:
    """The last ``[[X]]`` (or ``Winner: X``) with ``X`` in ``allowed``; ``None`` if absent."""
    for pattern in (_CHOICE, _CHOICE_WORD):
        found = [m.group(1).upper() for m in pattern.finditer(text or "")]
        found = [c for c in found if c in allowed]
        if found:
            return found[-1]
    return None


def task_prompt(task: Mapping[str, Any]) -> str:
    """The user request a response answers: ``task["prompt"]``, else the last user message."""
    if isinstance(task.get("prompt"), str):
        return task["prompt"]
    for message in reversed(task.get("messages") or []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return str(message.get("content", ""))
    for key in ("question", "problem", "instruction"):
        if isinstance(task.get(key), str):
            return task[key]
    return ""


def frame_response(label: str, text: str) -> str:
    """Put untrusted text between explicit markers so the judge reads it as data."""
    return f"[BEGIN {label}]\n{text}\n[END {label}]"
