"""Combine judges: all-of, any-of and weighted mixtures, each part reported by name.

A part that could not judge (an unscored verdict, a fault) makes the composite unscored whenever
the composite's outcome depends on it: ``all_of`` still fails on a part that was judged and
failed, ``any_of`` still passes on a part that was judged and passed; ``weighted`` always
depends on every part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from judges.verdict import Verdict, fault_of

JudgeFn = Callable[[str, Mapping[str, Any]], Verdict]

__all__ = ["all_of", "any_of", "weighted"]


def _run_parts(parts: Mapping[str, JudgeFn], response: str, task: Mapping[str, Any]) -> dict[str, Verdict]:
    if not parts:
        raise ValueError("a composite judge needs at least one named part")
    return {name: judge(response, task) for name, judge in parts.items()}


def _components(verdicts: Mapping[str, Verdict]) -> dict[str, Any]:
    return {
        "components": {name: v.score for name, v in verdicts.items()},
        "parts": {name: v.to_dict() for name, v in verdicts.items()},
    }


def all_of(**parts: JudgeFn) -> JudgeFn:
    """Passes only if every part passes; score = the minimum part score."""

    def judge(response: str, task: Mapping[str, Any]) -> Verdict:
        verdicts = _run_parts(parts, response, task)
        failed = [n for n, v in verdicts.items() if not v.passed and v.scored]
        fault = None if failed else fault_of(verdicts, **_components(verdicts))
        if fault is not None:
            return fault
        reason = "all passed" if not failed else "failed: " + ", ".join(
            f"{n} ({verdicts[n].reason})" for n in failed
        )
        return Verdict(
            score=min(v.score for v in verdicts.values() if v.scored),
            passed=not failed,
            reason=reason,
            details=_components(verdicts),
        )

    return judge


def any_of(**parts: JudgeFn) -> JudgeFn:
    """Passes if any part passes; score = the maximum part score."""

    def judge(response: str, task: Mapping[str, Any]) -> Verdict:
        verdicts = _run_parts(parts, response, task)
        passed = [n for n, v in verdicts.items() if v.passed]
        fault = None if passed else fault_of(verdicts, **_components(verdicts))
        if fault is not None:
            return fault
        reason = ("passed: " + ", ".join(passed)) if passed else "none passed: " + "; ".join(
            f"{n} ({v.reason})" for n, v in verdicts.items()
        )
        return Verdict(
            score=max(v.score for v in verdicts.values()),
            passed=bool(passed),
            reason=reason,
            details=_components(verdicts),
        )

    return judge


def weighted(parts: Mapping[str, tuple[JudgeFn, float]], pass_threshold: float = 1.0) -> JudgeFn:
    """Score = sum(w_i * score_i) / sum(w_i); passes when the score reaches ``pass_threshold``."""
    total = sum(w for _, w in parts.values())
    if total <= 0 or any(w < 0 for _, w in parts.values()):
        raise ValueError("weights must be non-negative with a positive sum")

    def judge(response: str, task: Mapping[str, Any]) -> Verdict:
        verdicts = _run_parts({n: j for n, (j, _) in parts.items()}, response, task)
        fault = fault_of(verdicts, **_components(verdicts))
        if fault is not None:
            return fault
        score = sum(verdicts[n].score * w for n, (_, w) in parts.items()) / total
        return Verdict(
            score=score,
            passed=score >= pass_threshold - 1e-12,
            reason=f"weighted score {score:.3f}",
            details=_components(verdicts),
        )

    return judge
