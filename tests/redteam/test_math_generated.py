"""Generated attack families for ``verify_math`` (issue 26, classes 4-5).

The invariant (docs/threat_models/math.md): *one definition of the final answer* -- the last
committed answer outside any thinking block, whatever its container -- and a final answer
that names several values, trails off, approximates or states a relation is not a value;
exact golds are compared exactly unless a tolerance is declared.

Every family draws golds (integers, fractions, ``k\\sqrt{m}``) and a different wrong value
from hypothesis, writes them in every answer container, and checks both directions: each
attack must fail, and each correct form must pass (a correct answer scored wrong is a
reward bug too).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import isqrt

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from judges.math import extract_answer, verify_math
from rlenvs.envs.arithmetic import ArithmeticEnv
from rlenvs.envs.math_judge import make_math_judge

# ---------------------------------------------------------------------- the reported cases

REPORTED_FAIL = {
    "box_then_answer_is": (r"\boxed{42} The answer is 41.", "42"),
    "box_then_answer_is_newline": ("\\boxed{42}\nHence the answer is 41.", "42"),
    "box_in_think_beats_answer": (r"<think>so \boxed{42}</think> The answer is 41.", "42"),
    "box_then_hash": ("\\boxed{42}\n#### 41", "42"),
    "box_etc": (r"\boxed{42, \text{etc}}", "42"),
    "box_ldots": (r"\boxed{42, \ldots}", "42"),
    "near_integer": (r"\boxed{42.000000000001}", "42"),
    "near_integer_prose": ("The answer is 42.0000001", "42"),
    "truncated_third": (r"\boxed{0.333}", r"\frac{1}{3}"),
    "six_digit_third": (r"\boxed{0.333333}", r"\frac{1}{3}"),
    "unclosed_think": (r"<think>the answer is \boxed{42}", "42"),
}
REPORTED_PASS = {
    "hash_then_box": ("#### 41\n\\boxed{42}", "42"),
    "text_units_in_box": (r"\boxed{\text{42 apples}}", "42"),
    "text_units_after_number": (r"\boxed{42 \text{ apples}}", "42"),
    "text_units_prose": (r"The answer is $42 \text{ apples}$.", "42"),
    "think_then_answer": (r"<think>maybe \boxed{41}</think> The answer is \boxed{42}.", "42"),
    "think_wrong_then_plain": ("<think>#### 41</think>\nThe answer is 42.", "42"),
    "exact_decimal_of_fraction": (r"\boxed{0.5}", r"\frac{1}{2}"),
    "integer_with_zero_decimals": (r"\boxed{42.000}", "42"),
    "one_value_restated": (r"The probability is $\boxed{\frac{1}{2}}$, or 50\%.", r"\frac{1}{2}"),
    "one_value_two_forms": (r"The answer is $\frac{1}{2}$ or $0.5$.", r"\frac{1}{2}"),
    "prose_after_number": ("The answer is 42, which is what we wanted.", "42"),
}


@pytest.mark.parametrize("name", sorted(REPORTED_FAIL))
def test_reported_attack_fails(name: str) -> None:
    response, gold = REPORTED_FAIL[name]
    v = verify_math(response, gold)
    assert not v.passed and v.score == 0.0, (name, v.reason, v.details)


@pytest.mark.parametrize("name", sorted(REPORTED_PASS))
def test_reported_correct_form_passes(name: str) -> None:
    response, gold = REPORTED_PASS[name]
    v = verify_math(response, gold)
    assert v.passed, (name, v.reason, v.details)


def test_declared_tolerance_accepts_the_approximation() -> None:
    """A task that declares a tolerance gets it: ``rel_tol`` or an explicit rounding."""
    assert verify_math(r"\boxed{42.000000000001}", "42", rel_tol=1e-9).passed
    assert verify_math(r"\boxed{0.333333}", r"\frac{1}{3}", float_rounding=6).passed
    assert not verify_math(r"\boxed{0.33}", r"\frac{1}{3}", float_rounding=6).passed
    assert not verify_math(r"\boxed{3.14159265358979}", r"\pi").passed
    assert verify_math(r"\boxed{3.14159265358979}", r"\pi", float_rounding=6).passed
    assert verify_math(r"\boxed{0.25\sqrt{2}}", r"\frac{\sqrt{2}}{4}").passed


@pytest.mark.parametrize(
    "response",
    [r"\boxed{A} or \boxed{B}", "The answer is A or B.", r"\boxed{A, B}", "Answer: (A) or (B)"],
)
def test_several_choices_fail(response: str) -> None:
    for gold in "AB":
        v = verify_math(response, gold, choices="ABCD")
        assert not v.passed, (response, gold, v.reason, v.details)


def test_extract_answer_is_the_judged_answer() -> None:
    """``extract_answer`` reads the same final answer ``verify_math`` judges."""
    assert extract_answer(r"\boxed{42} The answer is 41.") == "41"
    assert extract_answer("#### 41\n\\boxed{42}") == "42"
    assert extract_answer(r"<think>\boxed{42}</think> so 41") == "41"
    assert extract_answer(r"<think>\boxed{42}") is None


# ------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Value:
    """A gold value: its LaTeX, other correct spellings, and a float for sanity checks."""

    latex: str
    forms: tuple[str, ...]
    approx: float
    exact: Fraction | None


def _int_value(n: int) -> Value:
    forms = [str(n), f"{n}.0", f"x = {n}", f"\\left( {n} \\right)", f"{n} \\text{{ apples}}"]
    forms.append(f"\\text{{{n} apples}}")
    if abs(n) >= 1000:
        forms += [f"{n:,}", f"{n:,}".replace(",", "{,}"), f"{n:,}".replace(",", "\\,")]
    return Value(str(n), tuple(forms), float(n), Fraction(n))


def _frac_value(p: int, q: int) -> Value:
    f = Fraction(p, q)
    sign, a, b = ("-" if f < 0 else ""), abs(f.numerator), f.denominator
    latex = f"{sign}\\frac{{{a}}}{{{b}}}"
    forms = [latex, f"{sign}\\dfrac{{{a}}}{{{b}}}", f"{sign}{a}/{b}", f"{sign}\\frac{{{2 * a}}}{{{2 * b}}}"]
    forms += [f"x = {latex}", f"\\left( {latex} \\right)", f"{sign}\\tfrac{{{a}}}{{{b}}}"]
    d = b
    for prime in (2, 5):
        while d % prime == 0:
            d //= prime
    if d == 1:  # a terminating decimal is exactly the fraction
        forms.append(str(float(f)) if len(str(float(f))) < 12 else latex)
    return Value(latex, tuple(forms), float(f), f)


def _sqrt_value(k: int, m: int) -> Value:
    latex = f"{k}\\sqrt{{{m}}}"
    forms = (latex, f"\\sqrt{{{k * k * m}}}", f"{k} \\cdot \\sqrt{{{m}}}", f"x = {latex}")
    return Value(latex, forms, k * m**0.5, None)


_SQUAREFREE = [m for m in range(2, 40) if all(m % (p * p) for p in range(2, isqrt(m) + 1))]

ints = st.integers(-5000, 100_000).map(_int_value)
fracs = st.tuples(st.integers(-60, 60).filter(bool), st.integers(2, 60)).filter(
    lambda t: Fraction(*t).denominator > 1
).map(lambda t: _frac_value(*t))
sqrts = st.tuples(st.integers(2, 9), st.sampled_from(_SQUAREFREE)).map(lambda t: _sqrt_value(*t))
golds = st.one_of(ints, fracs, sqrts)


@st.composite
def gold_and_wrong(draw: st.DrawFn) -> tuple[Value, Value]:
    gold = draw(golds)
    wrong = draw(golds)
    assume(abs(wrong.approx - gold.approx) > 1e-6 * max(1.0, abs(gold.approx)))
    assume(abs(wrong.approx - 1.0) > 1e-9)  # "g/1" would be the gold itself
    return gold, wrong


# ---------------------------------------------------------------------------- containers

CONTAINERS = {
    "box": "So we get $\\boxed{{a}}$.",
    "answer_is": "Therefore the answer is ${a}$.",
    "answer_is_plain": "So the answer is {a}",
    "hash": "Working...\n#### {a}",
    "final_answer": "Final Answer: ${a}$",
    "last_line": "Putting it together:\n${a}$",
}
COMMITTED = ("box", "answer_is", "answer_is_plain", "hash", "final_answer")


def _in(container: str, answer: str) -> str:
    return CONTAINERS[container].replace("{a}", answer)


# two values joined: each names more than one value
JOINED = (
    "{a} or {b}",
    "{a} and {b}",
    "{a}, {b}",
    "{a}/{b}",
    "{a} \\text{ or } {b}",
    "\\text{either } {a} \\text{ or } {b}",
    "either {a} or {b}",
    "{a} \\lor {b}",
    "{a}; {b}",
)
# one value that trails off, approximates or states a relation
TRAILING = (
    "{a}, \\text{etc}",
    "{a}, \\text{etc.}",
    "{a}, \\ldots",
    "{a}, \\cdots",
    "{a} \\dots",
    "{a}...",
    "{a} or so",
    "{a} \\text{ or so}",
    "approximately {a}",
    "\\text{approximately } {a}",
    "about {a}",
    "\\text{about } {a}",
    "roughly {a}",
    "\u2248 {a}",
    "\\approx {a}",
    "x \\approx {a}",
    "{a} \\pm 1",
    "\\pm {a}",
    "x \\geq {a}",
    "x > {a}",
    "\\le {a}",
    "x \\neq {a}",
    "{a} < x",
    "\\text{at least } {a}",
)


def _fmt(template: str, a: str, b: str = "") -> str:
    return template.replace("{a}", a).replace("{b}", b)


def _fails(response: str, gold: str) -> None:
    v = verify_math(response, gold)
    assert not v.passed and v.score == 0.0, (response, gold, v.reason, v.details)


def _passes(response: str, gold: str) -> None:
    v = verify_math(response, gold)
    assert v.passed, (response, gold, v.reason, v.details)


# ------------------------------------------------------------------------------ families


def _ratio(a: str, b: str, gold: Value, wrong: Value) -> float:
    x, y = (gold.approx, wrong.approx) if a == gold.latex else (wrong.approx, gold.approx)
    return x / y if y else float("inf")


@given(
    gold_and_wrong(),
    st.sampled_from(JOINED),
    st.sampled_from(sorted(CONTAINERS)),
    st.booleans(),
)
def test_joined_values_fail(
    pair: tuple[Value, Value], joiner: str, container: str, gold_first: bool
) -> None:
    """Gold and a wrong value joined by any connective, in any container, either order."""
    gold, wrong = pair
    a, b = (gold.latex, wrong.latex) if gold_first else (wrong.latex, gold.latex)
    if joiner == "{a}/{b}":  # "4/2" is the value 2, not two values
        assume(abs(float(_ratio(a, b, gold, wrong)) - gold.approx) > 1e-9)
    _fails(_in(container, _fmt(joiner, a, b)), gold.latex)


@given(golds, st.sampled_from(TRAILING), st.sampled_from(sorted(CONTAINERS)))
def test_trailing_hedges_fail(gold: Value, form: str, container: str) -> None:
    """The gold itself, hedged, approximated or put in a relation, is not an answer."""
    _fails(_in(container, _fmt(form, gold.latex)), gold.latex)


# hedges and connectives written around a container, not inside it
AROUND = (
    "It is about $\\boxed{{a}}$.",
    "approximately \\boxed{{a}}",
    "$x \\geq \\boxed{{a}}$",
    "$x < \\boxed{{a}}$",
    "\\boxed{{a}} or so.",
    "\\boxed{{a}}, \\ldots",
    "\\boxed{{a}}, etc.",
    "\\boxed{{a}}...",
    "\\boxed{{a}}\\text{ish}",
    "\\boxed{{a}} \\text{ or so}",
    "\\boxed{{a}} or \\boxed{{b}}",
    "\\boxed{{a}} (or {b})",
    "The probability is $\\boxed{{a}}$ (or ${b}$).",
    "\\boxed{{a}} but maybe {b}",
    "\\boxed{{a}}\\\\ or {b}",
    "$\\boxed{{a}}$ or ${b}$",
    "The answer is ${a}$ or ${b}$.",
    "The answer is {a}, or perhaps {b}.",
    "#### {a} or {b}",
)


@given(gold_and_wrong(), st.sampled_from(AROUND))
def test_hedges_around_a_container_fail(pair: tuple[Value, Value], form: str) -> None:
    gold, wrong = pair
    _fails(_fmt(form, gold.latex, wrong.latex), gold.latex)


@given(
    gold_and_wrong(),
    st.sampled_from(COMMITTED),
    st.sampled_from(sorted(CONTAINERS)),
    st.sampled_from(("\n", " ", ". ", "\nWait, ", "\nActually ")),
)
def test_recanting_fails(pair: tuple[Value, Value], first: str, then: str, sep: str) -> None:
    """The gold committed, then a different value committed or stated after it."""
    gold, wrong = pair
    _fails(_in(first, gold.latex) + sep + _in(then, wrong.latex), gold.latex)


@given(
    gold_and_wrong(),
    st.sampled_from(COMMITTED),
    st.sampled_from(COMMITTED),
    st.sampled_from(("\n", " ", ". ", "\nWait, ")),
)
def test_the_last_committed_answer_decides(
    pair: tuple[Value, Value], first: str, then: str, sep: str
) -> None:
    """A wrong value committed, then the gold committed in another container: the last
    committed answer is the final one (two boxes are one set answer: a hedge)."""
    assume(not (first == "box" and then == "box"))
    gold, wrong = pair
    _passes(_in(first, wrong.latex) + sep + _in(then, gold.latex), gold.latex)


@given(gold_and_wrong(), st.sampled_from(COMMITTED), st.sampled_from(sorted(CONTAINERS)))
def test_thinking_blocks_never_hold_the_final_answer(
    pair: tuple[Value, Value], inside: str, outside: str
) -> None:
    """What is inside ``<think>`` is scratch work: the answer after it decides, both ways;
    a response still thinking (unclosed block) has no final answer."""
    gold, wrong = pair
    think = "<think>\n" + _in(inside, gold.latex) + "\n</think>\n"
    _fails(think + _in(outside, wrong.latex), gold.latex)
    think = "<think>\n" + _in(inside, wrong.latex) + "\n</think>\n"
    _passes(think + _in(outside, gold.latex), gold.latex)
    _fails("<think>\n" + _in(inside, gold.latex), gold.latex)


@given(golds, st.data(), st.sampled_from(sorted(CONTAINERS)))
def test_correct_forms_pass(gold: Value, data: st.DataObject, container: str) -> None:
    """The gold written in any correct form, in any container, passes (0 false fails)."""
    form = data.draw(st.sampled_from(gold.forms), label="form")
    if container == "hash" and "\\" in form:
        container = "box"  # GSM8K answers are plain
    _passes(_in(container, form), gold.latex)


# prose that goes on after a committed answer without hedging it
GOES_ON = (
    "So the answer is $\\boxed{{a}}$, and we are done.",
    "\\boxed{{a}} and we are almost done",
    "$\\boxed{{a}}$ cm, about twice the width.",
    "The final answer is ${a}$. I hope it is correct.",
    "\\boxed{{a}}\n\nThis matches the check above.",
    "Thus $x = \\boxed{{a}}$, which is what we wanted.",
    "<think>about 7 or so, maybe 8</think>\nThe answer is $\\boxed{{a}}$.",
    "$$\\implies \\boxed{{a}}$$",
)


@given(golds, st.sampled_from(GOES_ON))
def test_prose_after_the_answer_passes(gold: Value, form: str) -> None:
    _passes(_fmt(form, gold.latex), gold.latex)


@given(golds, st.data())
def test_gold_spellings_agree(gold: Value, data: st.DataObject) -> None:
    """The gold may itself be written in any correct form, as an answer or a solution."""
    form = data.draw(st.sampled_from(gold.forms), label="gold form")
    assume("=" not in form)
    for written in (form, f"so the result is $\\boxed{{{form}}}$.", f"We get it.\n#### {form}"):
        _passes(f"The answer is $\\boxed{{{gold.latex}}}$.", written)


@given(
    st.tuples(st.integers(-60, 60).filter(bool), st.integers(3, 60)),
    st.integers(1, 8),
    st.sampled_from(("box", "answer_is", "last_line")),
)
def test_inexact_decimals_of_exact_golds_fail(
    pq: tuple[int, int], digits: int, container: str
) -> None:
    """An exact gold (fraction) is not met by a decimal that is not exactly it."""
    f = Fraction(*pq)
    approx = Fraction(round(f * 10**digits), 10**digits)
    assume(approx != f)
    text = f"{float(approx):.{digits}f}"
    assume(Fraction(text) != f)
    _fails(_in(container, text), _frac_value(f.numerator, f.denominator).latex)


@settings(max_examples=40)
@given(st.integers(-1000, 100_000), st.integers(4, 13), st.sampled_from((1, -1)))
def test_near_integers_fail(n: int, k: int, sign: int) -> None:
    """``42.000000000001`` is not the integer 42 without a declared tolerance."""
    text = str(Decimal(n) + sign * Decimal(1).scaleb(-k))
    assert Fraction(text) != n
    _fails(_in("box", text), str(n))


# ---------------------------------------------------------------------------- look-alikes

_LOOK = {"o": ("\u043e", "\u03bf", "\uff4f"), "a": ("\u0430", "\uff41"), "e": ("\u0435",),
         "r": ("\uff52",), "c": ("\u0441",), "p": ("\u0440",), "x": ("\u0445",)}
_INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\ufe0f")


@st.composite
def disguised(draw: st.DrawFn, text: str) -> str:
    """``text`` with look-alike letters swapped in and invisible characters inserted."""
    out = []
    for ch in text:
        pool = _LOOK.get(ch)
        out.append(draw(st.sampled_from((ch, *pool))) if pool else ch)
        if ch.isalpha() and draw(st.booleans()):
            out.append(draw(st.sampled_from(_INVISIBLE)))
    return "".join(out)


@given(gold_and_wrong(), st.sampled_from(("or", "and", "or maybe", "either", "approximately",
                                          "about", "or so", "etc")), st.data())
def test_disguised_connectives_and_hedges_fail(
    pair: tuple[Value, Value], word: str, data: st.DataObject
) -> None:
    """A connective or hedge spelled with look-alike letters or split by invisible
    characters reads as itself (the gold is left intact)."""
    gold, wrong = pair
    w = data.draw(disguised(word), label="word")
    _fails(f"\\boxed{{{gold.latex}}} {w} {wrong.latex}", gold.latex)
    if word not in ("or", "and"):  # a hedge before the value
        _fails(f"The answer is {w} ${gold.latex}$.", gold.latex)
    _fails(f"\\boxed{{{gold.latex} \\text{{ {w} }} {wrong.latex}}}", gold.latex)


# ---------------------------------------------------------------------------- the envs

_ENV_JUDGES = {
    "strict": make_math_judge(lenient=False),
    "lenient": make_math_judge(lenient=True),
    "arithmetic": ArithmeticEnv(level=1).judge,
}


@settings(max_examples=30)
@given(
    st.tuples(st.integers(-999, 999), st.integers(-999, 999)).filter(lambda t: t[0] != t[1]),
    st.sampled_from(sorted(_ENV_JUDGES)),
    st.sampled_from(COMMITTED),
    st.sampled_from(JOINED[:4] + TRAILING[:8]),
)
def test_env_judges_hold_the_same_rule(
    pair: tuple[int, int], env: str, later: str, hedge: str
) -> None:
    """The math envs judge by the same final answer: whatever containers an env accepts, a
    later committed answer, a thinking block or a hedge cannot make a wrong reply pay."""
    gold, wrong = (str(x) for x in pair)
    judge, task = _ENV_JUDGES[env], {"answer": gold}
    right = f"\\boxed{{{gold}}}"
    assert judge(right, task).passed
    assert not judge(right + "\n" + _in(later, wrong), task).passed
    assert not judge(f"<think>{right}</think>\n\\boxed{{{wrong}}}", task).passed
    assert judge(f"<think>\\boxed{{{wrong}}}</think>\n{right}", task).passed
    assert not judge(f"\\boxed{{{_fmt(hedge, gold, wrong)}}}", task).passed
