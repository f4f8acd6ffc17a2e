"""verify_math equivalence through the public API (real worker processes, real math-verify)."""

from __future__ import annotations

import pytest

from judges import Verdict
from judges.math import verify_math, verify_math_batch

# (response, gold, expected) -- responses as a model writes them, golds as datasets store them
CASES = [
    # integers, GSM8K style
    ("She has 5 + 7 = 12 apples.\n#### 12", "12", True),
    ("#### 1,000", "1000", True),
    ("The answer is 13.", "#### 12", False),
    ("so the answer is -3", "-3", True),
    # fractions and decimals
    (r"The answer is $\boxed{\frac{1}{2}}$.", "0.5", True),
    (r"\boxed{\dfrac{2}{4}}", r"\frac12", True),
    # an exact gold is compared exactly (issue 26): 0.5 is 1/2, 0.333333 is not 1/3
    (r"\boxed{0.333333}", r"\frac{1}{3}", False),
    (r"\boxed{0.33}", r"\frac{1}{3}", False),
    (r"\boxed{1.50}", "3/2", True),
    (r"\boxed{7.0000001}", "7", False),
    (r"\boxed{7.0000001}", "7.0", True),  # a decimal gold is itself rounded (6 places)
    (r"\boxed{7.000}", "7", True),
    # percentages
    (r"\boxed{50\%}", "50", True),
    (r"\boxed{50\%}", "0.5", True),
    ("The answer is 25 percent.", "25", True),
    (r"\boxed{20\%}", "25", False),
    # sets, intervals, tuples
    (r"\boxed{\{3, 1, 2\}}", r"\{1,2,3\}", True),
    (r"\boxed{1, 2}", r"\{1,2,3\}", False),
    (r"\boxed{(-\infty, 3]}", r"(-\infty,3]", True),
    (r"\boxed{(1, 2]}", "[1, 2)", False),
    (r"\boxed{(3, -2)}", "(3,-2)", True),
    (r"\boxed{(-2, 3)}", "(3,-2)", False),
    # equations and inequalities
    (r"\boxed{x = 5}", "5", True),
    (r"\boxed{y = 1 + 2x}", "y = 2x + 1", True),
    (r"\boxed{x > 2}", "2 < x", True),
    # expressions
    (r"\boxed{(x+1)^2}", "x^2 + 2x + 1", True),
    (r"\boxed{2\sqrt{2}}", r"\sqrt{8}", True),
    (r"\boxed{\frac{\sqrt{2}}{2}}", r"\frac{1}{\sqrt{2}}", True),
    (r"\boxed{\pi r^2}", r"r^2\pi", True),
    (r"\boxed{x^3}", "x^2", False),
    # units and text
    (r"\boxed{12\text{ cm}}", "12", True),
    ("The answer is 18 dollars.", "18", True),
    (r"\boxed{45^\circ}", "45", True),
    (r"\boxed{\text{Monday}}", r"\text{Monday}", True),
    # latex vs plain
    ("The answer is 1/2", r"\frac{1}{2}", True),
    (r"\boxed{\frac{3}{4}}", "0.75", True),
    (r"thus $x = \frac{3}{4}$", "0.75", True),
    # gold as a MATH solution
    (r"\boxed{12\pi}", r"The area is $\pi r^2 = \boxed{12\pi}$.", True),
    # trailing punctuation inside math (math-verify 0.9.0 alone gets these wrong)
    (r"The final answer is $\frac{1}{3}.$", r"\frac{1}{3}", True),
    # exact rationals (math-verify alone equates them, issue #14)
    (r"\boxed{\frac{1}{2^{98}}}", r"\frac{1}{2^{99}}", False),
    # matrices
    (
        r"\boxed{\begin{pmatrix}1 & 2\\3 & 4\end{pmatrix}}",
        r"\begin{pmatrix}1&2\\3&4\end{pmatrix}",
        True,
    ),
]


@pytest.mark.parametrize("response, gold, expected", CASES)
def test_equivalence(response: str, gold: str, expected: bool) -> None:
    v = verify_math(response, gold)
    assert isinstance(v, Verdict)
    assert v.passed is expected, v
    assert v.score == (1.0 if expected else 0.0)
    assert v.reason == ("correct" if expected else "wrong answer")


def test_batch_matches_single_calls() -> None:
    responses = [r for r, _, _ in CASES]
    golds = [g for _, g, _ in CASES]
    batch = verify_math_batch(responses, golds)
    assert [v.passed for v in batch] == [e for _, _, e in CASES]
    assert verify_math_batch(["#### 4", r"\boxed{4}", "5"], "4")[2].passed is False


def test_details() -> None:
    v = verify_math(r"Thus $\boxed{\frac{6}{8}}$.", "0.75")
    assert v.details["answer"] == r"\frac{6}{8}"
    assert v.details["rule"] == "boxed"
    assert v.details["gold"] == "0.75"
    assert v.details["method"] == "fast_path"
    v = verify_math(r"\boxed{x+1}", "1+x")
    assert v.details["method"] == "math_verify"
    long = verify_math(r"\boxed{" + "x+" * 600 + "1}", "1")
    assert len(long.details["answer"]) < 300  # truncated


def test_fast_path_agrees_with_worker() -> None:
    pairs = [("12", "12"), ("12", "13"), ("0.5", r"\frac{1}{2}"), ("3/4", "0.75"), ("2", "2.0")]
    for gold, pred in pairs:
        fast = verify_math(rf"\boxed{{{pred}}}", gold)
        slow = verify_math(rf"\boxed{{{pred}}}", gold, fast_path=False)
        assert fast.details["method"] == "fast_path"
        assert slow.details["method"] == "math_verify"
        assert fast.passed == slow.passed


def test_no_answer() -> None:
    v = verify_math("I don't know.", "42")
    assert not v.passed and v.reason == "no answer found" and v.details["rule"] is None
    v = verify_math("so the answer is", "42", extract=("boxed",))
    assert v.reason == "no answer found"


def test_multiple_choice() -> None:
    assert verify_math("The answer is (B).", "B", choices="ABCD").passed
    assert verify_math(r"\boxed{b}", "(B)", choices="ABCD").passed
    v = verify_math(r"\boxed{C}", "B", choices="ABCD", format_credit=0.1)
    assert not v.passed and v.score == pytest.approx(0.1)
    assert verify_math("no idea", "B", choices="ABCD").reason == "no answer found"


def test_rel_tol() -> None:
    assert not verify_math(r"\boxed{3.14}", r"\pi").passed
    assert verify_math(r"\boxed{3.14}", r"\pi", rel_tol=1e-3).passed
    assert verify_math(r"\boxed{101}", "100", rel_tol=0.02).passed


def test_format_credit() -> None:
    wrong_boxed = verify_math(r"\boxed{41}", "42", format_credit=0.2)
    assert not wrong_boxed.passed and wrong_boxed.score == pytest.approx(0.2)
    assert "format" in wrong_boxed.reason
    wrong_plain = verify_math("The answer is 41", "42", format_credit=0.2)
    assert wrong_plain.score == 0.0
    right = verify_math(r"\boxed{42}", "42", format_credit=0.2)
    assert right.passed and right.score == 1.0
    assert verify_math(r"\boxed{41}", "42").score == 0.0  # off by default


def test_numeric_closeness() -> None:
    near = verify_math(r"\boxed{99}", "100", numeric_closeness=0.5, closeness_tol=0.1)
    assert not near.passed and near.score == pytest.approx(0.5 * (1 - 0.01 / 0.1))
    assert near.details["relative_error"] == pytest.approx(0.01)
    far = verify_math(r"\boxed{50}", "100", numeric_closeness=0.5)
    assert far.score == 0.0
    # values computed in the worker for non-plain answers
    frac = verify_math(r"\boxed{\frac{9}{10}\pi}", r"\pi", numeric_closeness=0.5)
    assert frac.details["method"] == "math_verify"
    assert frac.score == pytest.approx(0.5 * (1 - 0.1 / 0.1), abs=1e-6)
    sym = verify_math(r"\boxed{x}", "y", numeric_closeness=0.5)
    assert sym.score == 0.0
    both = verify_math(r"\boxed{99}", "100", numeric_closeness=0.5, format_credit=0.3)
    assert both.score == pytest.approx(0.45)  # the larger credit wins


def test_bad_input_types_and_options() -> None:
    with pytest.raises(TypeError, match="response must be str"):
        verify_math(None, "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="response must be str"):
        verify_math(b"1", "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="gold must be str"):
        verify_math("1", ["1"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown verify_math option"):
        verify_math("1", "1", timeot=3)
    with pytest.raises(ValueError, match="timeout"):
        verify_math("1", "1", timeout=0)
    with pytest.raises(ValueError, match="format_credit"):
        verify_math("1", "1", format_credit=2)
    with pytest.raises(TypeError, match="sequence of str"):
        verify_math_batch("1", "1")
    assert verify_math(r"\boxed{42}", 42).passed  # numeric golds are accepted


@pytest.mark.parametrize(
    "response, gold, reason",
    [
        ("", "1", "no answer found"),
        (r"\boxed{}", "1", "no answer found"),
        ("x" * 600_000, "1", "response too long"),
        (r"\boxed{" + "7" * 5000 + "}", "1", "answer too long"),
        (r"\boxed{" + "(" * 80 + "1" + ")" * 80 + "}", "1", "nested too deeply"),
        (r"\boxed{٤٢}", "42", "non-ASCII digits"),
        (r"\boxed{４２}", "42", "non-ASCII digits"),
        (r"\boxed{42}", "", "gold answer is empty"),
    ],
)
def test_bad_content_is_a_verdict(response: str, gold: str, reason: str) -> None:
    v = verify_math(response, gold)
    assert not v.passed and v.score == 0.0
    assert reason in v.reason


def test_unicode_digits_opt_in_and_minus_sign() -> None:
    assert verify_math(r"\boxed{٤٢}", "42", unicode_digits=True).passed
    assert verify_math(r"\boxed{４２}", "42", unicode_digits=True).passed
    assert verify_math("\\boxed{\u22125}", "-5").passed
