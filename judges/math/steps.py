"""Rule-based process reward: split a worked solution into steps and check its arithmetic.

:func:`check_steps` finds arithmetic claims in every step -- ``3*4 + 2 = 14``, chains
``a = b = c``, assignments ``x = 12 + 5 = 17``, ``\\frac{3}{4} \\times 8 = 6``,
``12 + 5 is 17``, ``20% of 50 = 10``, ``\\sqrt{2} \\approx 1.41`` -- and checks each with exact
sympy arithmetic (:mod:`judges.math.arith`). Expressions are parsed by a small
recursive-descent parser over a token whitelist (numbers, ``+ - * / ^ ! % ( )``, ``sqrt``,
``pi``), never with ``eval``; integer sizes, exponents and factorials are bounded, so
checking is fast and cannot hang.

Scoring policy (documented choice):

* a step with a false claim is ``"wrong"`` (score 0.0);
* a step whose claims all hold is ``"correct"`` (1.0);
* a step with nothing checkable is ``"unchecked"`` and scores ``unchecked_score``
  (default 1.0: a rule-based checker can find errors, not confirm reasoning, so prose is
  not penalised; use 0.5 for a neutral prior).

Only relations with an operator on at least one side are checked (``5 = 5`` or "step 1 is
3" are not claims). A side next to a variable (``x - 3 = 4``, ``2x + 3 = 7``) is dropped,
so algebra is left unchecked rather than misread. A decimal claim is accepted when it is
the rounded or truncated value (``10/3 = 3.33``); integer claims must be exact.
"""

from __future__ import annotations

import re
from typing import Any

from judges.math.options import MathOptions
from judges.verdict import Verdict

__all__ = ["check_steps", "split_steps"]

_MAX_SOLUTION = 200_000
_STEP_MARK = re.compile(r"(?im)^[ \t]*(?:[*#_]+\s*)?(?:step\s*\d+\s*[:.)]|\d{1,2}[.)](?=\s))")
_SENTENCE_END = re.compile(r"(?:(?<=[.?])|(?<=[^\d\s)]!))\s+(?=\S)")  # not after 5!


# ------------------------------------------------------------------------------ splitting


def _spans(text: str, cuts: list[int]) -> list[tuple[int, int]]:
    bounds = sorted({0, len(text), *cuts})
    out = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        seg = text[a:b]
        lead = len(seg) - len(seg.lstrip())
        trail = len(seg) - len(seg.rstrip())
        if seg.strip():
            out.append((a + lead, b - trail))
    return out


def split_steps(solution: str, mode: str = "auto") -> list[tuple[int, int]]:
    """Step spans ``(start, end)`` (character offsets) of a worked solution.

    ``mode``: ``"steps"`` ("Step k:" / "1." markers), ``"lines"``, ``"paragraphs"`` (blank
    lines), ``"sentences"``, or ``"auto"``: markers if there are at least two, else lines,
    else sentences when the solution is a single line.
    """
    if mode not in ("auto", "steps", "lines", "paragraphs", "sentences"):
        raise ValueError(f"unknown split mode {mode!r}")
    if mode in ("auto", "steps"):
        marks = [m.start() for m in _STEP_MARK.finditer(solution)]
        if len(marks) >= 2 or (mode == "steps" and marks):
            return _spans(solution, marks)
    if mode == "paragraphs":
        return _spans(solution, [m.end() for m in re.finditer(r"\n[ \t]*\n", solution)])
    if mode in ("auto", "lines", "steps"):
        spans = _spans(solution, [m.end() for m in re.finditer(r"\n", solution)])
        if len(spans) > 1 or mode != "auto":
            return spans
    return _spans(solution, [m.start() for m in _SENTENCE_END.finditer(solution)])


# ------------------------------------------------------------------------------------ API


def check_steps(
    solution: str,
    gold: str | None = None,
    *,
    split: str = "auto",
    unchecked_score: float = 1.0,
    aggregate: str = "mean",
    outcome_weight: float = 0.5,
    **verify_opts: Any,
) -> Verdict:
    """Process reward for a worked solution: one score per step from arithmetic checks.

    Args:
        solution: the worked solution text.
        gold: optional gold answer; when given, the final answer is judged with
            :func:`judges.math.verify_math` (``verify_opts`` are passed on) and counts in
            the score with weight ``outcome_weight``.
        split: step splitting mode (see :func:`split_steps`).
        unchecked_score: score of a step with nothing checkable (default 1.0).
        aggregate: ``"mean"`` (default) or ``"min"`` of the step scores.

    Returns:
        A Verdict with ``steps`` (one score per step, aligned with ``details["spans"]``,
        ``details["step_status"]`` in ``correct``/``wrong``/``unchecked`` and
        ``details["step_claims"]``). ``passed`` means no wrong step (and, with a gold, a
        correct final answer); ``score`` is the aggregate, mixed with the outcome score.
    """
    if not isinstance(solution, str):
        raise TypeError(f"check_steps: solution must be str, got {type(solution).__name__}")
    if gold is not None and not isinstance(gold, str):
        raise TypeError(f"check_steps: gold must be str or None, got {type(gold).__name__}")
    if aggregate not in ("mean", "min"):
        raise ValueError("aggregate must be 'mean' or 'min'")
    if not 0.0 <= unchecked_score <= 1.0 or not 0.0 <= outcome_weight <= 1.0:
        raise ValueError("unchecked_score and outcome_weight must be in [0, 1]")
    if verify_opts:
        MathOptions.from_kwargs(verify_opts)  # unknown options fail even without a gold
    if len(solution) > _MAX_SOLUTION:
        return Verdict.fail(f"solution too long ({len(solution)} > {_MAX_SOLUTION} chars)")
    from judges.math.arith import find_claims  # imports sympy: only when steps are checked

    spans = split_steps(solution, split)
    if not spans:
        return Verdict(0.0, False, "empty solution", {"spans": [], "step_status": []}, [])

    scores: list[float] = []
    status: list[str] = []
    claims: list[list[str]] = []
    first_wrong: str | None = None
    for k, (a, b) in enumerate(spans):
        found = find_claims(solution[a:b])
        claims.append([f"{c}{'' if ok else f'  [wrong: {note}]'}" for c, ok, note in found])
        if any(not ok for _, ok, _ in found):
            status.append("wrong")
            scores.append(0.0)
            if first_wrong is None:
                bad = next(c for c, ok, _ in found if not ok)
                first_wrong = f"step {k + 1} wrong: {bad}"
        elif found:
            status.append("correct")
            scores.append(1.0)
        else:
            status.append("unchecked")
            scores.append(unchecked_score)

    process = min(scores) if aggregate == "min" else sum(scores) / len(scores)
    n_wrong = status.count("wrong")
    details: dict[str, Any] = {
        "spans": [list(s) for s in spans],
        "step_status": status,
        "step_claims": claims,
        "process_score": process,
        "checked": len(spans) - status.count("unchecked"),
    }
    reason = first_wrong or (
        f"all {details['checked']} checked steps correct ({status.count('unchecked')} unchecked)"
    )
    passed = n_wrong == 0
    score = process
    if gold is not None:
        from judges.math.equivalence import verify_math

        outcome = verify_math(solution, gold, **verify_opts)
        details["outcome"] = outcome.to_dict()
        score = (1.0 - outcome_weight) * process + outcome_weight * outcome.score
        passed = passed and outcome.passed
        reason = f"{reason}; final answer: {outcome.reason}"
    return Verdict(score, passed, reason, details, scores)
