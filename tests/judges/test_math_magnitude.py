"""Power towers too large to evaluate (issue 26, noticed): ``\\boxed{9^{9^{9^{9^9}}}}`` ran
until the worker was killed (an unscored timeout); a tower of integer powers is now bounded
by exact evaluation from the top, and a huge one is provably unequal to any plain number."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judges.math import verify_math
from judges.math.magnitude import HUGE, tower_value


@pytest.mark.parametrize("tower", ["9^{9^{9^{9^9}}}", "9^{9^{9}}", "10^{10^{10}}", "2^(3^(4^5))",
                                   "10^{10001}", "9^{ 9^{ 9 } }"])
def test_huge_towers_are_wrong_for_a_plain_number_fast_and_scored(tower):
    for gold in ("42", "0", "-3", "1/2", "0.25", "9" * 39):
        v = verify_math(f"\\boxed{{{tower}}}", gold)
        assert not v.passed and v.status == "scored" and v.details["method"] == "fast_path", v
    v = verify_math("\\boxed{42}", tower)  # a trusted gold written as a tower: the same reading
    assert not v.passed and v.details["method"] == "fast_path"
    assert verify_math(f"\\boxed{{{tower}}}", tower).passed  # the same tower still passes


@pytest.mark.parametrize("text,value", [("1^{9^{9^9}}", 1), ("0^{9^{9^9}}", 0), ("2^{1^{9^{9^9}}}", 2),
                                        ("2^{10}", 1024), ("3^{2^{2}}", 81), ("7^0", 1)])
def test_towers_with_small_values_are_compared_as_their_value(text, value):
    assert tower_value(text) == value
    assert verify_math(f"\\boxed{{{text}}}", str(value)).passed
    assert not verify_math(f"\\boxed{{{text}}}", str(value + 1)).passed
    assert verify_math(f"\\boxed{{{value}}}", text).passed


@pytest.mark.parametrize("text", ["9^9^9", "-9^{9^9}", "x^{9^9}", "9^{9}^{9}", "{9}^{9^9}",
                                  "9^{9^9} + 1", "9", "9^{}", "9^{9^{9}"])
def test_anything_else_is_left_to_math_verify(text):
    """Ambiguous chains ('9^9^9': (9^9)^9 is small), signs, variables, operations."""
    assert tower_value(text) is None


@settings(max_examples=60)
@given(st.lists(st.integers(0, 12), min_size=2, max_size=5))
def test_tower_value_is_exact_or_provably_over_the_bound(bases):
    """Against exact evaluation where that is cheap, and against logarithms where it is not."""
    text = bases[-1]
    for b in reversed(bases[:-1]):
        text = f"{b}^{{{text}}}"
    got = tower_value(str(text))
    value = bases[-1]
    for b in reversed(bases[:-1]):
        if value is not None and (b < 2 or value < 20_000 / math.log10(b)):
            value = b**value if b > 1 else (b if value > 0 else 1)
        elif b < 2:
            value = b  # b^(huge) for b in (0, 1)
        else:
            value = None  # huge
    if value is None or (value > 0 and math.log10(value) > 10_001):
        assert got == HUGE, (text, got)
    elif math.log10(max(value, 1)) < 9_999:
        assert got == value, text
