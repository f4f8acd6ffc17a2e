"""Rule-based process reward: step splitting, alignment, arithmetic checks."""

from __future__ import annotations

import time

import pytest

from judges.math import check_steps
from judges.math.steps import split_steps

SOLUTION = """Step 1: Each box holds 3*4 + 2 = 14 apples.
Step 2: There are 5 boxes, so 14 \\times 5 = 70 apples.
Step 3: She gives away 12 + 5 = 18 apples.
Step 4: Let x be what is left; then x - 3 = 4 is a different story.
Step 5: So 70 - 17 = 53, and $\\frac{3}{4} \\times 8 = 6$.
The answer is \\boxed{53}."""


def test_steps_are_aligned_with_spans_and_status() -> None:
    v = check_steps(SOLUTION)
    spans = v.details["spans"]
    status = v.details["step_status"]
    assert v.steps is not None and len(v.steps) == len(spans) == len(status) == 5
    assert None not in v.steps
    for (a, b), k in zip(spans, range(1, 6), strict=True):
        assert SOLUTION[a:b].startswith(f"Step {k}:")
        assert SOLUTION[a:b] == SOLUTION[a:b].strip()
    assert status == ["correct", "correct", "wrong", "unchecked", "correct"]
    assert v.steps == [1.0, 1.0, 0.0, 1.0, 1.0]
    assert not v.passed
    assert v.reason.startswith("step 3 wrong: 12 + 5 = 18")
    assert v.score == pytest.approx(0.8)
    assert "wrong: 17 vs 18" in v.details["step_claims"][2][0]


def test_gold_counts_too() -> None:
    good = check_steps(SOLUTION.replace("= 18", "= 17"), gold="53")
    assert good.passed and good.score == 1.0
    assert good.details["outcome"]["passed"]
    wrong_answer = check_steps(SOLUTION.replace("= 18", "= 17"), gold="54")
    assert not wrong_answer.passed and wrong_answer.score == pytest.approx(0.5)
    both = check_steps(SOLUTION, gold="54", outcome_weight=0.25)
    assert both.score == pytest.approx(0.75 * 0.8)


def test_min_aggregate_and_unchecked_score() -> None:
    assert check_steps(SOLUTION, aggregate="min").score == 0.0
    neutral = check_steps("We think hard.\nThen 2 + 2 = 4.", unchecked_score=0.5)
    assert neutral.steps == [0.5, 1.0] and neutral.score == pytest.approx(0.75)


@pytest.mark.parametrize(
    "text, status",
    [
        ("3 + 4 = 7", "correct"),
        ("3 + 4 = 8", "wrong"),
        ("x = 3 + 4 = 7", "correct"),  # assignment chain: a claimed intermediate value
        ("x = 3 + 4 = 8", "wrong"),
        ("12 + 5 = 17 = 3 * 6", "wrong"),  # every link of a chain is checked
        ("3 + 4 is 7", "correct"),
        ("The sum 12 plus 5 equals 18.", "wrong"),
        ("2(3 + 4) = 14", "correct"),
        ("2^{10} = 1024", "correct"),
        ("5! = 120", "correct"),
        ("(-2)^2 = 4 and -2^2 = -4", "correct"),
        ("10/3 = 3.33", "correct"),  # a rounded decimal claim
        ("10/3 = 3.5", "wrong"),
        ("2.5 + 1 = 3.4", "wrong"),
        ("20% of 50 = 10", "correct"),
        ("\\sqrt{16} = 4", "correct"),
        ("\\sqrt{2} \\approx 1.41", "correct"),
        ("\\pi \\approx 3.14", "correct"),
        ("\\frac{3}{4} \\cdot 8 = 6", "correct"),
        ("$1,000 + 250 = 1,250$ dollars", "correct"),
        ("3 × 4 = 12 and 12 ÷ 4 = 3", "correct"),
        ("7 − 2 = 5", "correct"),
        # not checkable: algebra, bare numbers, undefined or enormous values
        ("x - 3 = 4", "unchecked"),
        ("2x + 3 = 7", "unchecked"),
        ("x^2 = 9", "unchecked"),
        ("Step 1 is 7", "unchecked"),
        ("5 = 5", "unchecked"),
        ("1/0 = 5", "unchecked"),
        ("10^{100000} = 1", "unchecked"),
        ("1000000! = 1", "unchecked"),
        ("We have 3 apples.", "unchecked"),
    ],
)
def test_claims(text: str, status: str) -> None:
    v = check_steps(text, split="lines")
    assert v.details["step_status"] == [status], v.details["step_claims"]


def test_split_modes() -> None:
    text = "First we add.\nThen 2 + 2 = 4.\n\nFinally 4 * 2 = 8. Done."
    assert len(split_steps(text, "lines")) == 3
    assert len(split_steps(text, "paragraphs")) == 2
    assert len(split_steps(text, "sentences")) == 4
    assert len(split_steps(text)) == 3  # auto: lines
    one_line = "First 2 + 2 = 4. Then 4 * 2 = 9. Done!"
    v = check_steps(one_line)
    assert v.details["step_status"] == ["correct", "wrong", "unchecked"]
    for (a, b), piece in zip(v.details["spans"], ["First", "Then", "Done"], strict=True):
        assert one_line[a:b].startswith(piece)
    numbered = "1. Add: 2 + 2 = 4\n   still step one\n2. Double: 4 * 2 = 8"
    assert len(split_steps(numbered)) == 2


def test_bad_input() -> None:
    with pytest.raises(TypeError, match="solution must be str"):
        check_steps(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aggregate"):
        check_steps("1 + 1 = 2", aggregate="max")
    empty = check_steps("   ")
    assert not empty.passed and empty.steps == [] and empty.reason == "empty solution"
    start = time.perf_counter()
    hostile = check_steps(("2^" * 3000 + "2 = 5\n") * 5 + "(" * 5000 + "1 = 1" + "9" * 50_000)
    assert time.perf_counter() - start < 5.0
    assert hostile.steps is not None and len(hostile.steps) == 6
