"""What of an episode may leave the judging process: the public view sent over every wire.

A task's fields split into public ones (``env.public_task``: what the prompt is built from) and
private ones (answers, solutions, tests, references, hidden state). Everything a server or an
adapter hands to a client or a policy is built here from allow-lists, never by deleting known
secret names:

* the task: ``public_task`` only;
* ``info``: the keys every env shares (:data:`PUBLIC_INFO_KEYS`) plus the env's own
  ``public_info_keys``; anything else (a judge's extra output) stays home;
* the verdict: ``score``, ``passed``, ``steps``, ``status`` and ``cause`` (whether it is a
  judgement or a fault, and which: :mod:`judges.verdict`) and the details flags in
  :data:`PUBLIC_DETAIL_KEYS`; its ``reason`` (free text a judge writes while it holds the
  answer) and error messages are sent only when they contain no private value of the task
  (:func:`names_private`), else a fixed notice replaces them;
* ``state_key``: keyed with the server's secret (the plain key hashes the task, answer included,
  so a client could test guesses of the answer against it); equal states keep equal keys, on
  one server or across servers that share the secret (``RLENVS_STATE_KEY_SECRET``).

``PublicView(reveal_private=True)`` sends everything (a server started with
``--reveal-private``, for trusted evaluation clients).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from judges import Verdict
from rlenvs.serving.protocol import to_jsonable

__all__ = ["PublicView", "PUBLIC_INFO_KEYS", "PUBLIC_DETAIL_KEYS", "WITHHELD", "private_values",
           "names_private"]

PUBLIC_INFO_KEYS = frozenset({
    "verdict", "reward_components", "raw_score", "turn", "step_rewards", "tool_calls",
    "tool_calls_total", "tool_call_errors", "truncated_reason", "attempt", "repeated_answer",
    "state_key", "task", "reward_status", "reward_cause",
})
PUBLIC_DETAIL_KEYS = frozenset({"unscored", "unjudgeable", "infra_error", "components"})
WITHHELD = ("withheld: this text names a private field of the task (the server sends it only "
            "when started with --reveal-private)")


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from _leaves(v)
    elif value is not None and not isinstance(value, bool):
        yield value


def private_values(task: Mapping[str, Any], public: Mapping[str, Any]) -> list[str]:
    """Every private leaf of ``task`` as text (strings, numbers), and each line of a long one."""
    out: set[str] = set()
    for key, value in task.items():
        if key in public:
            continue
        for leaf in _leaves(value):
            text = str(leaf).strip()
            if not text:
                continue
            out.add(text)
            out.update(line.strip() for line in text.splitlines() if len(line.strip()) >= 8)
            if isinstance(leaf, float) and math.isfinite(leaf) and leaf == int(leaf):
                out.add(str(int(leaf)))
    return sorted(out, key=len, reverse=True)


def names_private(text: str, values: list[str]) -> bool:
    """Whether ``text`` contains one of ``values`` as a whole token (case-insensitive)."""
    folded = " ".join(text.split()).casefold()
    for value in values:
        needle = " ".join(value.split()).casefold()
        if needle and re.search(rf"(?<![\w.]){re.escape(needle)}(?![\w])", folded):
            return True
    return False


class PublicView:
    """Builds the wire form of a task, an ``info`` dict and a verdict for one server."""

    def __init__(self, reveal_private: bool = False, secret: bytes | None = None) -> None:
        self.reveal_private = reveal_private
        self._secret = secret or os.urandom(32)

    def state_key(self, key: str) -> str:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()[:16]

    def task(self, env: Any, task: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if task is None:
            return None
        if self.reveal_private:
            return to_jsonable(dict(task))
        return to_jsonable(env.unwrapped.public_task(dict(task)))

    def _private(self, env: Any) -> list[str]:
        task = getattr(getattr(env.unwrapped, "_episode", None), "task", None)
        if not isinstance(task, Mapping):
            return []
        return private_values(task, env.unwrapped.public_task(dict(task)))

    def text(self, env: Any, text: str) -> str:
        """``text`` (a reason, an error message) unless it names a private value."""
        if self.reveal_private or not names_private(text, self._private(env)):
            return text
        return WITHHELD

    def verdict(self, env: Any, verdict: Any) -> Any:
        if self.reveal_private or not isinstance(verdict, Verdict):
            return to_jsonable(verdict) if self.reveal_private else None
        details = verdict.details if isinstance(verdict.details, Mapping) else {}
        return to_jsonable({
            "score": verdict.score, "passed": verdict.passed,
            "reason": self.text(env, _wire_reason(verdict, details)),
            "details": {k: details[k] for k in sorted(PUBLIC_DETAIL_KEYS) if k in details},
            "steps": verdict.steps,
            "status": verdict.status, "cause": verdict.cause,
        })

    def info(self, env: Any, info: Mapping[str, Any]) -> dict[str, Any]:
        """The wire form of gym's ``info`` after a reset or a step of ``env``."""
        if self.reveal_private:
            return to_jsonable(dict(info))
        allowed = PUBLIC_INFO_KEYS | set(getattr(env.unwrapped, "public_info_keys", ()))
        out: dict[str, Any] = {}
        for key in sorted(allowed & set(info)):
            value = info[key]
            if key == "verdict":
                value = self.verdict(env, value)
            elif key == "task":
                value = self.task(env, value)
            elif key == "state_key" and isinstance(value, str):
                value = self.state_key(value)
            out[key] = to_jsonable(value)
        return out


# Statuses of a code verdict's per-test records (``judges.code.run_tests``): a fixed vocabulary.
_TEST_STATUSES = frozenset({"passed", "failed", "error", "not_run", "timeout", "crashed"})


def _wire_reason(verdict: Verdict, details: Mapping[str, Any]) -> str:
    """The reason a client may read. A verdict built from running the policy's program
    (per-test records in ``details["tests"]``) is summarised from the records' fixed fields
    -- counts, the first failing test's index and status -- because its free text is the
    program's own (an exception message can echo the hidden tests' inputs it was called with).
    Other reasons are the judge's words, sent unless they name a private value."""
    tests = details.get("tests")
    if not (isinstance(tests, list) and tests and all(isinstance(t, Mapping) for t in tests)):
        return str(verdict.reason)
    passed = sum(1 for t in tests if t.get("passed") is True)
    out = f"{passed}/{len(tests)} tests passed"
    first = next((i for i, t in enumerate(tests) if t.get("passed") is not True), None)
    if first is not None:
        status = str(tests[first].get("status"))
        out += f"; test {first} {status if status in _TEST_STATUSES else 'failed'}"
    if isinstance(details.get("program_error"), Mapping):
        out += "; the program raised before the tests ran"
    return out

