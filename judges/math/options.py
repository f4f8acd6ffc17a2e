"""Options of :func:`judges.math.verify_math`, validated once per call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from judges.math.extract import DEFAULT_RULES, RULES

__all__ = ["MathOptions"]


@dataclass(frozen=True)
class MathOptions:
    """Everything ``verify_math(response, gold, **opts)`` accepts as ``opts``.

    Extraction
        extract: the answer containers accepted (``boxed``, ``hash``, ``final_answer``,
            ``answer_is``) and the fallbacks tried in order when none is found (``last_math``,
            ``last_number``, ``last_latex``, ``math_verify``, ``choice``); a single string is
            accepted. Which container holds the final answer is decided by
            :func:`judges.math.final.final_answer` (the last committed one outside thinking
            blocks), not by the order here. ``"math_verify"`` hands the whole text to
            math-verify's extractor.
        gold_extract: ``"auto"`` (last ``\\boxed{}`` if any, else text after ``####``, else the
            whole string), ``"raw"`` (the whole string) or ``"math_verify"``.
        choices: multiple-choice letters (e.g. ``"ABCD"``); switches to letter comparison.
        math_verify_targets / boxed_priority: the extraction configs used where math-verify
            extracts by itself (``"latex"``, ``"expr"``, ``"string"``; boxed priority 0 means
            boxed first, as in math-verify's own test helper).
    Equivalence (passed to ``math_verify.verify``)
        float_rounding, numeric_precision, strict, allow_set_relation_comp;
        float_rounding: None (default) compares an exact gold (integer, fraction, exact
            expression: no decimal point) exactly -- ``0.5`` meets ``1/2``, ``0.333333`` does
            not meet ``1/3``, ``42.000000000001`` does not meet ``42`` -- and rounds answers
            to 6 places against a decimal gold (itself a rounded value); an int declares a
            tolerance: both sides rounded to that many places, as math-verify does.
        rel_tol: a declared numeric tolerance, ``|a-b| <= rel_tol * max(|a|,|b|)`` (None = off).
        exact_rationals: when math-verify says "equal" but both sides are exact rational
            numbers (no decimals, no percent) that differ, say "not equal" -- math-verify's
            numeric ``evalf(chop=True)`` equates e.g. ``1/2^99`` and ``1/2^98`` (issue #14).
    Partial credit for dense reward schedules (both off by default; ``passed`` stays False)
        format_credit: score of a wrong answer that was given in ``\\boxed{}``.
        numeric_closeness: largest score of a wrong numeric answer; the score falls linearly
            from ``numeric_closeness`` at relative error 0 to 0 at ``closeness_tol``.
        The score of a wrong answer is the larger of the two.
    Safety
        timeout: seconds for the whole ``verify_math`` call, counted from entry: waiting for
            a free worker, its start-up and the work (parse + verify) all fit in
            ``timeout + kill_grace_s`` (pool setting, 0.5 s); a worker that has not answered
            by then is killed. In ``verify_math_batch`` it bounds each comparison's work.
        max_response_chars, max_answer_chars, max_depth: inputs beyond these fail at once.
        unicode_digits: translate non-ASCII decimal digits (Arabic-Indic, full-width...) to
            ASCII instead of failing the answer.
        fast_path: decide obvious cases (equal strings, plain numbers) without a worker.
    """

    extract: tuple[str, ...] = DEFAULT_RULES
    gold_extract: str = "auto"
    choices: tuple[str, ...] | None = None
    math_verify_targets: tuple[str, ...] = ("latex", "expr")
    boxed_priority: int = 0
    float_rounding: int | None = None
    numeric_precision: int = 15
    strict: bool = True
    allow_set_relation_comp: bool = False
    rel_tol: float | None = None
    exact_rationals: bool = True
    format_credit: float = 0.0
    numeric_closeness: float = 0.0
    closeness_tol: float = 0.1
    timeout: float = 5.0
    max_response_chars: int = 500_000
    max_answer_chars: int = 2_000
    max_depth: int = 50
    unicode_digits: bool = False
    fast_path: bool = True

    @classmethod
    def from_kwargs(cls, opts: dict[str, Any]) -> MathOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(opts) - known)
        if unknown:
            raise TypeError(
                f"unknown verify_math option(s) {', '.join(unknown)}; "
                f"known options: {', '.join(sorted(known))}"
            )
        kw = dict(opts)
        if "extract" in kw:
            kw["extract"] = _names(kw["extract"], "extract")
            bad = [r for r in kw["extract"] if r not in RULES]
            if bad:
                raise ValueError(f"unknown extraction rule(s) {bad}; known rules: {list(RULES)}")
        if kw.get("choices") is not None:
            kw["choices"] = _names(kw["choices"], "choices", split_chars=True)
            if "extract" not in opts:
                kw["extract"] = ("boxed", "final_answer", "answer_is", "choice")
            elif "math_verify" in kw["extract"]:
                raise ValueError("the 'math_verify' rule does not apply to multiple choice")
        if "math_verify_targets" in kw:
            kw["math_verify_targets"] = _names(kw["math_verify_targets"], "math_verify_targets")
            bad = [t for t in kw["math_verify_targets"] if t not in ("latex", "expr", "string")]
            if bad:
                raise ValueError(f"unknown math_verify_targets {bad}: use latex, expr, string")
        if kw.get("gold_extract", "auto") not in ("auto", "raw", "math_verify"):
            raise ValueError("gold_extract must be 'auto', 'raw' or 'math_verify'")
        o = cls(**kw)
        if o.float_rounding is not None and (
            isinstance(o.float_rounding, bool)
            or not isinstance(o.float_rounding, int)
            or o.float_rounding < 0
        ):
            raise ValueError("float_rounding must be None or a non-negative int")
        if not o.timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        for name in ("format_credit", "numeric_closeness"):
            if not 0.0 <= getattr(o, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if o.closeness_tol <= 0:
            raise ValueError("closeness_tol must be positive")
        return o


def _names(value: Any, what: str, split_chars: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        return (
            tuple(value)
            if split_chars and "," not in value
            else tuple(v.strip() for v in value.split(",") if v.strip())
        )
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise TypeError(f"{what} must be a string or a sequence of strings, got {type(value).__name__}")
