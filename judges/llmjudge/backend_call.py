"""A judge's backend call: a failure becomes a failing verdict with the reason, not a crash.

A judge inside an RL loop must not take the run down because its server hiccupped, and it must
never pass a response it could not judge. :func:`call_backend` runs one backend call and
returns ``(result, None)`` or ``(None, reason)``; with ``raise_on_error=True`` it re-raises.
:func:`failed_verdict` is the verdict such a failure gets (score 0, not passed, the reason in
``details["backend_error"]`` and ``details["unscored"] = True``, the flag every LLM judge sets
on a verdict it could not score, so a consumer such as ``MixtureOfJudges`` can tell "scored
low" from "not scored"). :func:`generate_outputs` is the judges' generation call: each reply
with whether the backend cut it at its token limit (backends with ``generate_completions``
report it; a cut reply has no complete verdict line, see ``judges.llmjudge.parsing``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from judges.llm.base import Messages, SamplingParams
from judges.verdict import Verdict

__all__ = ["call_backend", "failed_verdict", "generate_outputs"]


def call_backend(
    fn: Callable[..., Any], *args: Any, expect: int | None = None, raise_on_error: bool = False
) -> tuple[Any, str | None]:
    """``fn(*args)``; ``expect`` checks the number of results (one per conversation)."""
    try:
        result = fn(*args)
        if expect is not None and len(result) != expect:
            raise ValueError(f"backend returned {len(result)} results for {expect} conversations")
    except Exception as exc:
        if raise_on_error:
            raise
        message = str(exc).strip() or "no message"
        return None, f"judge backend failed: {type(exc).__name__}: {message[:500]}"
    return result, None


def failed_verdict(reason: str, name: str) -> Verdict:
    """Score 0, not passed, the backend failure in the reason and ``details``."""
    return Verdict(0.0, False, reason, {"backend_error": reason, "unscored": True,
                                        "components": {name: 0.0}})


def generate_outputs(
    model: Any, conversations: list[Messages], sampling: SamplingParams,
    raise_on_error: bool = False,
) -> tuple[list[tuple[str, bool]] | None, str | None]:
    """``([(text, truncated), ...], None)`` or ``(None, reason)``, one reply per conversation.

    ``truncated`` is true when the backend reports the reply was cut at ``max_new_tokens``
    (``finish_reason == "length"``); backends with ``generate`` only report nothing (false).
    """
    completions = getattr(model, "generate_completions", None)
    if callable(completions):
        def run() -> list[tuple[str, bool]]:
            return [(c.text, c.finish_reason == "length")
                    for c in completions(conversations, sampling)]
    else:
        def run() -> list[tuple[str, bool]]:
            return [(text, False) for text in model.generate(conversations, sampling)]
    return call_backend(run, expect=len(conversations), raise_on_error=raise_on_error)
