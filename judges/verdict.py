"""The result every judge returns, and the judge protocol.

A *judge* is any callable ``(response, task) -> Verdict``: ``response`` is the policy's text,
``task`` a mapping with the task's reference data (gold answer, tests, constraints, ...).
Judges never know about environments or optimizers.

**A fault is not a reward.** Every verdict carries a :attr:`Verdict.status`: ``"scored"`` (a
judgement of the response, whatever its score) or ``"unscored"`` (the judge could not judge: its
backend failed or timed out, the sandbox could not start, the verifier crashed or ran out of time
on its own side), with :attr:`Verdict.cause` naming which (one of :data:`CAUSES`). An unscored
verdict is never passed and its score is a placeholder that no trainer, evaluation or adapter may
use as a reward. A *program's* timeout or crash in a code task is a judgement (the program
failed), not a fault. ``details["unscored"]`` mirrors the status (older code reads it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["Verdict", "Judge", "SCORED", "UNSCORED", "CAUSES", "is_unscored", "fault_of"]

SCORED = "scored"
UNSCORED = "unscored"
#: why a verdict is unscored (``Verdict.cause``)
CAUSES = (
    "judge_backend",      # an LLM judge's / reward model's backend failed, was cut off or unparseable
    "sandbox",            # the code sandbox could not start or failed on its own side
    "verifier_error",     # a rule verifier raised (a bug or an input it cannot read)
    "verifier_timeout",   # a rule verifier ran out of time on its own side (e.g. symbolic math)
    "tool",               # a tool's infrastructure failed (not the call's own error)
    "env",                # the environment (or its server) failed mid-episode
    "deadline",           # the episode or round ran past its wall-clock budget
)


def _infer_cause(details: dict[str, Any]) -> str:
    if details.get("backend_error") or details.get("remote_failure"):
        return "judge_backend"
    if details.get("infra_error"):
        return "sandbox"
    if details.get("status") == "timeout":
        return "verifier_timeout"
    return "verifier_error"


def fault_of(parts: Mapping[str, Verdict], reason: str = "a part could not judge", /,
             **details: Any) -> Verdict | None:
    """The unscored verdict a composite of ``parts`` gives when one of its parts is a fault (the
    first fault's cause; every fault named in the reason), or ``None`` when every part is scored."""
    faults = [(n, v) for n, v in parts.items() if v.status == UNSCORED]
    if not faults:
        return None
    named = "; ".join(f"{n}: {v.reason}" for n, v in faults)
    return Verdict.unscored(f"unscored: {reason} ({named})", faults[0][1].cause or "verifier_error",
                            faults=[n for n, _ in faults], **details)


def is_unscored(verdict: Any) -> bool:
    """Whether ``verdict`` (a :class:`Verdict`, its JSON dict, or anything else) is a fault."""
    if isinstance(verdict, Verdict):
        return verdict.status == UNSCORED
    if isinstance(verdict, Mapping):
        details = verdict.get("details")
        return verdict.get("status") == UNSCORED or (
            isinstance(details, Mapping) and bool(details.get("unscored")))
    return False


@dataclass
class Verdict:
    """A judge's decision on one response.

    Attributes:
        score: reward in ``[0, 1]`` (clamped on construction; NaN becomes 0).
        passed: whether the response counts as correct / compliant.
        reason: a short human-readable explanation (always set for failures).
        details: judge-specific data (extracted answer, per-test results, parts of a composite).
        steps: process reward, one score in ``[0, 1]`` per reasoning step, or ``None``.
        metrics: measurements that differ between identical runs (durations, CPU, memory);
            kept out of equality so seeded episodes compare equal.
        status: ``"scored"`` (a judgement) or ``"unscored"`` (a fault: no reward may be taken
            from it); set from ``details["unscored"]`` when given there.
        cause: why an unscored verdict is unscored (one of :data:`CAUSES`); ``None`` if scored.
    """

    score: float
    passed: bool
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    steps: list[float] | None = None
    metrics: dict[str, Any] = field(default_factory=dict, compare=False)
    status: str = SCORED
    cause: str | None = None

    def __post_init__(self) -> None:
        if self.status not in (SCORED, UNSCORED):
            raise ValueError(f"Verdict.status must be {SCORED!r} or {UNSCORED!r}, "
                             f"got {self.status!r}")
        if self.details.get("unscored"):
            self.status = UNSCORED
        if self.status == UNSCORED:
            self.details["unscored"] = True
            self.passed = False
            if self.cause is None:
                self.cause = _infer_cause(self.details)
            if self.cause not in CAUSES:
                raise ValueError(f"Verdict.cause must be one of {CAUSES}, got {self.cause!r}")
        else:
            self.cause = None
        score = float(self.score)
        if math.isnan(score):
            score = 0.0
        self.score = min(1.0, max(0.0, score))
        self.passed = bool(self.passed)
        if self.steps is not None:
            self.steps = [min(1.0, max(0.0, float(s))) for s in self.steps]

    @property
    def scored(self) -> bool:
        """Whether this verdict is a judgement (not a fault)."""
        return self.status == SCORED

    @classmethod
    def fail(cls, reason: str, score: float = 0.0, **details: Any) -> Verdict:
        """A failing verdict with a reason (score 0 unless given, e.g. partial credit)."""
        return cls(score=score, passed=False, reason=reason, details=dict(details))

    @classmethod
    def unscored(cls, reason: str, cause: str, score: float = 0.0, **details: Any) -> Verdict:
        """A fault: the judge could not judge (``cause`` one of :data:`CAUSES`). Not passed; its
        ``score`` is a placeholder no reward may be taken from."""
        return cls(score=score, passed=False, reason=reason, details=dict(details),
                   status=UNSCORED, cause=cause)

    @classmethod
    def ok(cls, reason: str = "correct", score: float = 1.0, **details: Any) -> Verdict:
        """A passing verdict (score 1 unless given)."""
        return cls(score=score, passed=True, reason=reason, details=dict(details))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (details are kept as given; callers keep them JSON-safe)."""
        return {
            "score": self.score,
            "passed": self.passed,
            "reason": self.reason,
            "details": self.details,
            "steps": self.steps,
            "metrics": self.metrics,
            "status": self.status,
            "cause": self.cause,
        }


@runtime_checkable
class Judge(Protocol):
    """Anything that scores a response against a task's reference data."""

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict: ...
