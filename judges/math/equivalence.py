"""``verify_math``: extract the final answer, decide equivalence with math-verify, safely.

Flow for one (response, gold):

1. type checks (TypeError for non-str input), size guard on the response;
2. gold answer (``\\boxed{}`` solution, GSM8K ``#### x``, or the raw string) and the
   response's answer by the configured rules (:mod:`judges.math.extract`), both cleaned;
3. guards on the extracted answer (length, bracket depth, non-ASCII digits);
4. fast path in-process: equal strings after whitespace normalisation, or both sides plain
   numbers (integers, decimals, ``a/b``, ``\\frac{a}{b}``) compared exactly, and a power tower
   too large to evaluate against a plain number (:mod:`judges.math.magnitude`); only cases
   whose math-verify outcome is certain are decided here, the rest go on;
5. math-verify ``parse`` + ``verify`` in a worker process with a hard timeout
   (:mod:`judges.math.pool`);
6. a :class:`~judges.verdict.Verdict` with optional partial credit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from judges.math.extract import (
    answer_problem,
    clean_answer,
    gold_answer,
    has_math_delimiters,
    strip_punctuation_in_math,
    to_choice,
    truncate,
)
from judges.math.final import final_answer, gold_boxes, gold_decimal_comma
from judges.math.hedge import hedge_in, joined_as_list, joined_values, not_a_value
from judges.math.magnitude import HUGE, tower_value
from judges.math.options import MathOptions
from judges.math.pool import get_pool
from judges.verdict import Verdict

__all__ = ["verify_math", "verify_math_batch", "extract_answer"]


@dataclass
class _Job:
    """One prepared comparison: either already decided, or a worker item."""

    verdict: Verdict | None = None
    item: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    boxed: bool = False


# ------------------------------------------------------------------------------ fast path

_INT_RE = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)$")
_DEC_RE = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?\.\d+$")
_FRAC_RE = re.compile(r"^([-+]?\d+)\s*/\s*(\d+)$|^(-?)\\frac\{(-?\d+)\}\{(\d+)\}$")
_CANON_RE = re.compile(r"\s+|\\(?:left|right)(?![A-Za-z])|\\[!,;: ]|\$")


def _number(s: str) -> tuple[Fraction, bool] | None:
    """``(value, exact)`` for a plain number: exact for integers and fractions."""
    if len(s) > 40:
        return None
    if _INT_RE.match(s):
        return Fraction(int(s.replace(",", ""))), True
    if _DEC_RE.match(s):
        digits = re.sub(r"[^0-9]", "", s).lstrip("0")
        if len(digits) > 15:  # beyond sympy's default Float precision: let math-verify decide
            return None
        return Fraction(s.replace(",", "")), False
    m = _FRAC_RE.match(s)
    if m:
        if m.group(1) is not None:
            num, den = int(m.group(1)), int(m.group(2))
        else:
            num, den = int(m.group(4)), int(m.group(5))
            num = -num if m.group(3) else num
        if den == 0:
            return None
        return Fraction(num, den), True
    return None


def _fast_compare(gold: str, pred: str, o: MathOptions) -> bool | None:
    """True/False when the outcome is certain without parsing; None otherwise.

    Plain numbers are compared exactly when the gold is exact (an integer or a fraction:
    ``0.5`` is ``1/2``, ``0.333333`` is not ``1/3``), unless the task declares a tolerance
    (``rel_tol``, or an explicit ``float_rounding``). A decimal gold is itself rounded: the
    answer is rounded to ``float_rounding`` places (6 when not given), math-verify's float
    semantics.
    """
    g, p = _number(gold), _number(pred)
    if (g is None) != (p is None):  # a tower of integer powers against a plain number
        tower = tower_value(gold if g is None else pred)
        if tower == HUGE:
            return False  # over 10^10000 against a plain number (under 10^40): unequal
        if tower is not None:
            g, p = g or (Fraction(int(tower)), True), p or (Fraction(int(tower)), True)
    if g is not None and p is not None:
        (gv, g_exact), (pv, p_exact) = g, p
        if gv == pv:
            return True
        if o.rel_tol and abs(gv - pv) <= Fraction(o.rel_tol) * max(abs(gv), abs(pv)):
            return True
        if g_exact and (p_exact or o.float_rounding is None):
            return False
        places = 6 if o.float_rounding is None else o.float_rounding
        return round(gv, places) == round(pv, places)
    cg, cp = _CANON_RE.sub("", gold), _CANON_RE.sub("", pred)
    if cg and cg == cp:
        return True
    return None


_LIST_GOLD_RE = re.compile(r",|;|\\\{|\\cup|\bor\b|\band\b")
_DECIMAL_RE = re.compile(r"\d\.\d|(?<![\d.])\.\d")


def exact_gold(gold: str, o: MathOptions) -> bool:
    """An exact gold (no decimal point) with no declared tolerance: compared exactly."""
    return o.float_rounding is None and not o.rel_tol and not _DECIMAL_RE.search(gold)


def _all_same(gold: str, cands: list[str], o: MathOptions) -> bool | None:
    """The fast-path outcome over every candidate: False as soon as one is decidedly
    different, True when all are decidedly equal, None when any needs math-verify."""
    outcomes = [_fast_compare(gold, c, o) for c in cands]
    if False in outcomes:
        return False
    return None if None in outcomes else True


def _as_float(s: str) -> float | None:
    n = _number(s)
    return float(n[0]) if n is not None else None


# --------------------------------------------------------------------------- preparation


def _guard(answer: str, o: MathOptions) -> tuple[str | None, str]:
    return answer_problem(
        answer,
        max_chars=o.max_answer_chars,
        max_depth=o.max_depth,
        unicode_digits=o.unicode_digits,
    )


def _check_types(response: Any, gold: Any) -> str:
    if not isinstance(response, str):
        raise TypeError(f"verify_math: response must be str, got {type(response).__name__}")
    if isinstance(gold, bool) or not isinstance(gold, str | int | float | Fraction):
        raise TypeError(f"verify_math: gold must be str (or a number), got {type(gold).__name__}")
    return gold if isinstance(gold, str) else str(gold)


def _prepare(response: Any, gold_in: Any, o: MathOptions) -> _Job:
    gold = _check_types(response, gold_in)
    if len(response) > o.max_response_chars:
        return _Job(
            Verdict.fail(f"response too long ({len(response)} > {o.max_response_chars} chars)")
        )
    if len(gold) > o.max_response_chars:
        return _Job(Verdict.fail(f"gold too long ({len(gold)} chars)"))

    # gold
    if o.gold_extract == "math_verify":
        g_ans, g_how = gold, "math_verify"
    elif o.gold_extract == "raw":
        g_ans, g_how = clean_answer(gold), "raw"
    else:
        g_ans, g_how = gold_answer(gold)
        if g_how == "boxed":  # several distinct boxes in a gold solution: a set answer
            g_ans = gold_boxes(gold) or g_ans
        g_ans = gold_decimal_comma(g_ans)
        if has_math_delimiters(g_ans):  # prose with math in it: math-verify extracts
            g_how = "math_verify"
    if not g_ans.strip():
        return _Job(Verdict.fail("gold answer is empty"))
    if g_how == "math_verify":
        g_ans = strip_punctuation_in_math(g_ans)
    else:
        problem, g_ans = _guard(g_ans, o)
        if problem:
            return _Job(Verdict.fail(f"gold {problem}"))
    details: dict[str, Any] = {"gold": truncate(g_ans)}

    # multiple choice: letters compared here
    if o.choices:
        g_letter = to_choice(g_ans, o.choices)
        if g_letter is None:
            return _Job(Verdict.fail("gold answer is not one of the choices", **details))
        chosen = final_answer(response, o.extract, o.choices)
        if chosen is None:
            return _Job(Verdict.fail("no answer found", **details))
        letter, rule = chosen.answer, chosen.rule
        details.update(answer=letter, rule=rule, method="choice")
        if chosen.parts:
            details["candidates"] = list(chosen.parts)
            return _Job(Verdict.fail("several choices named", **details))
        if letter.lower() == g_letter.lower():
            return _Job(Verdict.ok(**details))
        score = o.format_credit if rule == "boxed" else 0.0
        return _Job(Verdict(score, False, "wrong answer", details))

    # response: everything it states as its final answer (judges.math.final)
    final = final_answer(response, o.extract)
    if final is None:
        return _Job(Verdict.fail("no answer found", rule=None, **details))
    rule = final.rule
    details["rule"] = rule
    extra: list[str] = []  # candidates that must each be right as well
    joined: list[str] = []  # the values of an answer joined by or/and/;
    if rule == "math_verify":
        pred, p_mode = strip_punctuation_in_math(response), "text"
    else:
        pred, p_mode = clean_answer(final.answer), "answer"
        details["answer"] = truncate(pred)
        if final.parts:
            details["candidates"] = [truncate(x, 60) for x in final.parts]
        if final.trailing is not None:
            details["stated_last"] = truncate(final.trailing, 60)
            extra.append(final.trailing)
        checked = []
        for cand in [pred, *extra]:
            problem, cand = _guard(cand, o)
            if problem:
                return _Job(Verdict.fail(problem, method="guard", **details))
            checked.append(cand)
        pred, extra = checked[0], checked[1:]
        if not pred:
            return _Job(Verdict.fail("no answer found", **details))
        why = next(
            (w for w in (not_a_value(c, g_ans) for c in [pred, *extra]) if w),
            None,
        )
        # before cleaning ("42..."), and alone: a bound ends its clause ("42 or more")
        hedge = hedge_in(final.answer) or hedge_in(f"{final.answer} {final.context}")
        if why is None and hedge is not None and hedge_in(g_ans) is None:
            why = f"a hedged answer ({hedge}) is not a value"
        if why is not None:
            return _Job(Verdict.fail(why, **details))
        joined = joined_values(pred, g_ans)  # a list, or one value written several ways
        pred, extra = ", ".join(joined), [joined_as_list(x, g_ans) for x in extra]
        if has_math_delimiters(pred):  # e.g. "$3$ and $5$": let math-verify extract
            pred, p_mode = strip_punctuation_in_math(pred), "text"
    job = _Job(details=details, boxed=(rule == "boxed"))

    same = None
    cands = [pred, *extra]
    if o.fast_path and p_mode == "answer" and g_how != "math_verify":
        same = _all_same(g_ans, cands, o)
    elif o.fast_path and "expr" in o.math_verify_targets:
        if _number(g_ans.strip()) is not None and all(_number(c.strip()) for c in cands):
            same = _all_same(g_ans.strip(), [c.strip() for c in cands], o)
    if same is not None:
        details["method"] = "fast_path"
        job.verdict = _verdict(job, o, same, _as_float(g_ans.strip()), _as_float(pred.strip()))
        return job
    details["method"] = "math_verify"
    job.item = {
        "g": g_ans,
        "gm": "text" if g_how == "math_verify" else "answer",
        "p": pred,
        "pm": p_mode,
        "parts": [clean_answer(x) for x in final.parts] or (joined if len(joined) > 1 else []),
        "whole": len(joined) < 2 or bool(_LIST_GOLD_RE.search(g_ans)),
        "trail": extra[0] if extra else None,
        "targets": list(o.math_verify_targets),
        "bp": o.boxed_priority,
        "fr": 6 if o.float_rounding is None else o.float_rounding,
        "exact_gold": exact_gold(g_ans, o),
        "np": o.numeric_precision,
        "strict": o.strict,
        "asr": o.allow_set_relation_comp,
        "rel_tol": o.rel_tol,
        "exact": o.exact_rationals,
        "values": o.numeric_closeness > 0,
    }
    return job


# ------------------------------------------------------------------------------- verdicts


def _verdict(
    job: _Job, o: MathOptions, equal: bool, g_val: float | None, p_val: float | None
) -> Verdict:
    details = job.details
    if equal:
        return Verdict.ok(**details)
    score, why = 0.0, "wrong answer"
    if job.boxed and o.format_credit > 0:
        score = o.format_credit
        why = "wrong answer (format credit)"
    if o.numeric_closeness > 0 and g_val is not None and p_val is not None:
        scale = max(abs(g_val), 1e-12)
        rel_err = abs(p_val - g_val) / scale
        details["relative_error"] = rel_err
        closeness = o.numeric_closeness * max(0.0, 1.0 - rel_err / o.closeness_tol)
        if closeness > score:
            score, why = closeness, "wrong answer (numeric closeness credit)"
    return Verdict(score, False, why, details)


#: a verification that ran out of time after spending at least this share of its budget in CPU
#: on the answer is a judgement (the answer is too expensive), not a fault
ANSWER_COST_SHARE = 0.5


def _finish(job: _Job, result: dict[str, Any] | None, o: MathOptions) -> Verdict:
    details = job.details
    result = result or {"status": "crashed"}
    status = result.get("status")
    if status != "ok":
        details["status"] = status
        cpu = result.get("cpu_s")
        if status == "timeout" and cpu is not None and cpu >= ANSWER_COST_SHARE * o.timeout:
            # the worker spent the budget computing with the answer: its own cost, a judgement
            # (a reply cannot make itself unscored by being expensive); a queue, a start-up or a
            # starved or stopped worker spends little CPU: a fault (issue 28)
            details.update(killed=bool(result.get("killed")), cpu_s=round(cpu, 3),
                           answer_too_expensive=True)
            return Verdict.fail(f"verification timed out after {o.timeout:g} s computing with "
                                "the answer: too expensive to check, scored wrong", **details)
        if status in ("timeout", "memory", "crashed"):  # a fault, not a judgement of the answer
            details["unscored"] = True  # cause: verifier_timeout / verifier_error (from status)
        if status == "timeout":
            details["killed"] = bool(result.get("killed"))
            if cpu is not None:
                details["cpu_s"] = round(cpu, 3)
            where = result.get("where")
            if where:
                details["timed_out_in"] = where
            waiting = {"queue": " (no free worker)", "start-up": " (worker starting)"}
            return Verdict.fail(
                f"verification timed out after {o.timeout:g} s{waiting.get(where, '')}",
                **details,
            )
        if status == "memory":
            return Verdict.fail("verification ran out of memory", **details)
        if status == "crashed":
            return Verdict.fail("verification worker crashed", **details)
        return Verdict.fail(f"verification error ({result.get('error', 'unknown')})", **details)
    if "pred_text" in result:
        details["answer"] = truncate(str(result["pred_text"]))
    details["parsed"] = bool(result.get("pred_parsed"))  # False: compared as a string only
    if job.item and job.item["gm"] == "text" and not result.get("gold_found"):
        return Verdict.fail("gold answer could not be extracted", **details)
    if job.item and job.item["pm"] == "text" and not result.get("pred_found"):
        return Verdict.fail("no answer found", **details)
    return _verdict(
        job, o, bool(result.get("equal")), result.get("gold_value"), result.get("pred_value")
    )


# ----------------------------------------------------------------------------------- API


def verify_math(response: str, gold: str, **opts: Any) -> Verdict:
    """Judge a math response against a gold answer.

    Args:
        response: the model's text. Its final answer is extracted by ``extract`` rules
            (default: last ``\\boxed{}``, ``#### x``, "final answer", "the answer is",
            last number).
        gold: the reference: an answer (``"42"``, ``"\\frac{1}{2}"``, ``"(1, 2]"``), a GSM8K
            solution ending in ``#### 42`` or a MATH solution containing ``\\boxed{}``.
        **opts: see :class:`judges.math.options.MathOptions` (``timeout``, ``extract``,
            ``choices``, ``format_credit``, ``numeric_closeness``, ``rel_tol``, ...).

    Returns:
        A Verdict: score 1 and passed when equivalent (math-verify's ``verify``); otherwise
        a failing verdict whose ``reason`` says why ("no answer found", "wrong answer",
        "verification timed out after 5 s", ...). ``details`` holds ``answer`` (the
        extracted answer, truncated), ``rule`` (which rule found it), ``gold`` and
        ``method`` (``fast_path``, ``math_verify``, ``choice`` or ``guard``).

    Raises:
        TypeError: ``response`` is not a str (or ``gold`` is not a str or number), or an
            unknown option is given.

    Safe from any thread and from worker processes: parsing runs in separate processes
    with a hard wall-clock kill, so the caller's own SIGALRM timers are left alone. The
    whole call -- waiting for a free worker included -- ends within ``timeout`` plus the
    pool's kill grace (0.5 s) of entry; a call that ran out of time fails with the reason.
    """
    start = time.monotonic()
    o = MathOptions.from_kwargs(opts)
    job = _prepare(response, gold, o)
    if job.verdict is not None:
        return job.verdict
    assert job.item is not None
    pool = get_pool()
    deadline = start + o.timeout + pool.kill_grace_s
    return _finish(job, pool.run([job.item], o.timeout, deadline)[0], o)


def verify_math_batch(
    responses: Sequence[str], golds: Sequence[str] | str, **opts: Any
) -> list[Verdict]:
    """:func:`verify_math` over many pairs at once (fast path here, the rest spread over
    the worker pool in chunks). ``golds`` may be one gold for every response."""
    if isinstance(responses, str):
        raise TypeError("verify_math_batch: responses must be a sequence of str, not a str")
    golds_list = [golds] * len(responses) if isinstance(golds, str) else list(golds)
    if len(golds_list) != len(responses):
        raise ValueError(
            f"verify_math_batch: {len(responses)} responses but {len(golds_list)} golds"
        )
    o = MathOptions.from_kwargs(opts)
    jobs = [_prepare(r, g, o) for r, g in zip(responses, golds_list, strict=True)]
    todo = [j for j in jobs if j.verdict is None]
    if todo:
        results = get_pool().run([j.item for j in todo if j.item is not None], o.timeout)
        for job, result in zip(todo, results, strict=True):
            job.verdict = _finish(job, result, o)
    return [j.verdict for j in jobs if j.verdict is not None]


def extract_answer(response: str, **opts: Any) -> str | None:
    """The final answer ``verify_math`` judges (:func:`judges.math.final.final_answer`), as a
    cleaned string (None if none).

    Takes the extraction options of :func:`verify_math` (``extract``, ``choices``, ...).
    With the ``math_verify`` rule the string is math-verify's extracted text (computed in a
    worker).
    """
    if not isinstance(response, str):
        raise TypeError(f"extract_answer: response must be str, got {type(response).__name__}")
    o = MathOptions.from_kwargs(opts)
    if len(response) > o.max_response_chars:
        return None
    found = final_answer(response, o.extract, o.choices)
    if found is None:
        return None
    if found.rule != "math_verify":
        return found.answer if o.choices else clean_answer(found.answer) or None
    item = {
        "kind": "extract",
        "p": response,
        "targets": list(o.math_verify_targets),
        "bp": o.boxed_priority,
    }
    pool = get_pool()
    result = pool.run([item], o.timeout, time.monotonic() + o.timeout + pool.kill_grace_s)[0]
    if result.get("status") != "ok" or not result.get("pred_found"):
        return None
    return str(result.get("pred_text", "")) or None
