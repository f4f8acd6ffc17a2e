"""Reading a judge's verdict: only from the judge's own final verdict line.

The judge prompt asks the judge to end with one verdict line (``Score: 7/10``; pairwise
judges ``[[A]]``). The parsers here take the judge's output as their only input -- never the
judged response -- and read exactly one line: the last non-empty line of that output, which
must be a verdict line as ``judges.llmjudge.verdict_line`` defines it (a score judge may
instead answer with one JSON object ``{"score": 7, ...}``, structured output). Every earlier
line -- the judge's reasoning, a quote of the response, scores it discusses ("the highest
possible score is 10") -- is never read, so scores planted in a response can neither raise
nor lower a verdict, and a response that merely mentions a score is scored as the judge
scored it.

There is no verdict, and the caller marks its verdict *unscored* (a fault, never a 0 score),
when the last line is not a verdict line (commentary after the verdict, a line that mixes
scores with text such as ``Score: 2/10 ... so Score: 10/10``), when the value is outside
``[low, high]`` or out of another denominator, or when the backend reports the output was cut
at its token limit (``truncated``: a judge cut off mid-quote would otherwise end with a line of
the response).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from judges.llmjudge.framing import frame_response, matching_view
from judges.llmjudge.verdict_line import (
    read_choice_line,
    read_json_score,
    read_score_line,
    score_mentions,
)

__all__ = ["ParsedScore", "parse_score", "parse_choice", "last_line", "task_prompt",
           "frame_response"]

_FENCED = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.S)
_CUT = "judge output was cut at its token limit: no complete verdict"


@dataclass(frozen=True)
class ParsedScore:
    """A parsed score (``value`` in ``[low, high]``) or ``None`` with the reason it failed."""

    value: float | None
    normalized: float | None
    reason: str


def last_line(text: str) -> str:
    """The last non-empty line of ``text`` as ``matching_view`` shows it ("" when none)."""
    lines = [line for line in matching_view(text or "")[0].splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _structured(text: str) -> str:
    view = matching_view(text or "")[0].strip()
    fenced = _FENCED.fullmatch(view)
    return fenced.group(1) if fenced else view


def parse_score(text: str, low: float = 1, high: float = 10, truncated: bool = False
                ) -> ParsedScore:
    """The judge's score in ``[low, high]`` from its final verdict line, normalized to
    ``[0, 1]``; ``truncated``: the backend cut the output at its token limit."""
    if high <= low:
        raise ValueError("need low < high")
    if truncated:
        return ParsedScore(None, None, _CUT)
    line = last_line(text)
    found = read_json_score(_structured(text)) or read_score_line(line)
    if found is None:
        values = sorted(set(score_mentions(line)))
        if len(values) > 1:
            shown = ", ".join(f"{v:g}" for v in values)
            return ParsedScore(None, None, f"conflicting scores ({shown}) on the last line: "
                               "not a verdict line")
        return ParsedScore(None, None, f"no verdict line at the end of the judge output "
                           f"(expected the last line to be e.g. 'Score: 7/{high:g}'), "
                           f"got {line[-80:]!r}")
    value, denominator = found
    if denominator is not None and denominator != high:
        return ParsedScore(None, None, f"verdict {line!r} is not out of {high:g}")
    if not low <= value <= high:
        return ParsedScore(None, None, f"score {value:g} outside [{low:g}, {high:g}]")
    return ParsedScore(value, (value - low) / (high - low), f"verdict {line!r}")


_MARKER = re.compile(r"\[\[\s*([a-z])\s*\]\]")
_ENDS_WITH_MARKER = re.compile(r"\[\[\s*[a-z]\s*\]\][\s.*_`!)]*\Z")


def parse_choice(text: str, allowed: str = "ABC", truncated: bool = False) -> str | None:
    """The choice ``X`` in ``allowed`` of the judge's last line: a line that ends with the
    ``[[X]]`` marker (every marker on it naming the same ``X``), or is ``Winner: X``.

    ``None`` when the last line is no such line, names two choices, or the output was cut
    (``truncated``).
    """
    if truncated:
        return None
    line = last_line(text)
    markers = {m.group(1).upper() for m in _MARKER.finditer(line)}
    if markers:
        ends = _ENDS_WITH_MARKER.search(line) is not None
        choice = markers.pop() if len(markers) == 1 and ends else None
    else:
        choice = read_choice_line(line)
    return choice if choice is not None and choice in allowed else None


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
