"""A judge's backend call: a failure becomes a failing verdict with the reason, not a crash.

A judge inside an RL loop must not take the run down because its server hiccupped, and it must
never pass a response it could not judge. :func:`call_backend` runs one backend call and
returns ``(result, None)`` or ``(None, reason)``; with ``raise_on_error=True`` it re-raises.
:func:`failed_verdict` is the verdict such a failure gets (score 0, not passed, the reason in
``details["backend_error"]`` and ``details["unscored"] = True``, the flag every LLM judge sets
on a verdict it could not score, so a consumer such as ``MixtureOfJudges`` can tell "scored
low" from "not scored").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from judges.verdict import Verdict

__all__ = ["call_backend", "failed_verdict"]


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
