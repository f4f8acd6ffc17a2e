"""The result every judge returns, and the judge protocol.

A *judge* is any callable ``(response, task) -> Verdict``: ``response`` is the policy's text,
``task`` a mapping with the task's reference data (gold answer, tests, constraints, ...).
Judges never know about environments or optimizers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["Verdict", "Judge"]


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
    """

    score: float
    passed: bool
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    steps: list[float] | None = None
    metrics: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        score = float(self.score)
        if math.isnan(score):
            score = 0.0
        self.score = min(1.0, max(0.0, score))
        self.passed = bool(self.passed)
        if self.steps is not None:
            self.steps = [min(1.0, max(0.0, float(s))) for s in self.steps]

    @classmethod
    def fail(cls, reason: str, **details: Any) -> Verdict:
        """A zero-score failing verdict with a reason."""
        return cls(score=0.0, passed=False, reason=reason, details=dict(details))

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
        }


@runtime_checkable
class Judge(Protocol):
    """Anything that scores a response against a task's reference data."""

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict: ...
