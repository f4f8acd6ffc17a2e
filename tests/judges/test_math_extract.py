"""Answer extraction rules of judges.math (in-process, no worker needed)."""

from __future__ import annotations

import time

import pytest

from judges.math import extract_answer
from judges.math.extract import clean_answer, find_boxed, gold_answer


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"so $\boxed{42}$.", "42"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),
        (r"first \boxed{3}, then \boxed{4}", "4"),
        (r"\boxed{x^{2^{3}} + \sqrt{\frac{a}{b}}}", r"x^{2^{3}} + \sqrt{\frac{a}{b}}"),
        (r"\fbox{7}", "7"),
        (r"\boxed 5 apples", "5"),
        (r"\boxed{5} and then an empty \boxed{}", "5"),
        (r"\boxed{12", None),  # unbalanced: not a box
        ("no box here", None),
    ],
)
def test_find_boxed(text: str, expected: str | None) -> None:
    assert find_boxed(text) == expected


@pytest.mark.parametrize(
    "response, rules, expected",
    [
        (r"... so the answer is $\boxed{\frac{3}{4}}$.", ("boxed",), r"\frac{3}{4}"),
        ("She pays 5 + 7 = 12 dollars.\n#### 12", ("hash",), "12"),
        ("#### 1,000", ("hash",), "1,000"),
        ("The answer is 42.", ("answer_is",), "42"),
        ("The answer is $x = 3$. Done", ("answer_is",), "x = 3"),
        ("Answer: **17**", ("answer_is",), "17"),
        ("The answer is 18 dollars.", ("answer_is",), "18"),
        ("The answer is 3.5 apples.", ("answer_is",), "3.5"),
        ("Final Answer: The final answer is $12$. I hope it is correct.", ("final_answer",), "12"),
        ("final answer:\n\n  \\frac{1}{3}", ("final_answer",), r"\frac{1}{3}"),
        ("We had 3 apples and ate 2, leaving 1.", ("last_number",), "1"),
        ("total is 1,234,567 units", ("last_number",), "1,234,567"),
        ("ratio 3/4 of the cake", ("last_number",), "3/4"),
        (r"so x is \frac{5}{8}", ("last_number",), r"\frac{5}{8}"),
        ("it rose by 12.5%", ("last_number",), "12.5%"),
        (r"so $x = 2\sqrt{3}$", ("last_latex",), r"x = 2\sqrt{3}"),
        (r"we get \(\pi r^2\) here", ("last_latex",), r"\pi r^2"),
        (r"thus $x = 2\sqrt{3}$", ("last_math",), r"x = 2\sqrt{3}"),
        (r"$9 \times 2$ so she has 18 left", ("last_math",), "18"),
        ("no digits at all", ("boxed", "hash", "answer_is", "last_number"), None),
        # rules name the accepted containers; the last committed answer wins whatever the
        # rules' order (issue 26: one definition of the final answer)
        ("The answer is 5. \\boxed{6}", ("answer_is", "boxed"), "6"),
        ("The answer is 5. \\boxed{6}", ("boxed", "answer_is"), "6"),
        ("\\boxed{6} The answer is 5.", ("boxed", "answer_is"), "5"),
        ("\\boxed{6} The answer is 5.", ("boxed",), "6"),
    ],
)
def test_extract_rules(response: str, rules: tuple[str, ...], expected: str | None) -> None:
    assert extract_answer(response, extract=rules) == expected


def test_default_rules_and_details() -> None:
    assert extract_answer(r"blah \boxed{7} then #### 8") == "8"  # the last committed answer
    assert extract_answer("#### 8\nblah \\boxed{7}") == "7"
    assert extract_answer("blah\n#### 8") == "8"
    assert extract_answer("I think the answer is 9") == "9"
    assert extract_answer("the total is 10") == "10"
    assert extract_answer("") is None


@pytest.mark.parametrize(
    "response, expected",
    [
        ("The answer is (B).", "B"),
        ("Answer: c", "C"),
        (r"\boxed{D}", "D"),
        (r"\boxed{\text{(A)}}", "A"),
        ("After checking each option, I pick\n(C)", "C"),
        ("I would say B) 42 is right. The answer is B", "B"),
        ("Nothing to choose", None),
    ],
)
def test_multiple_choice(response: str, expected: str | None) -> None:
    assert extract_answer(response, choices="ABCD") == expected


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("$42$", "42"),
        (r"\(\frac{1}{2}\)", r"\frac{1}{2}"),
        (r"\dfrac{3}{4}.", r"\frac{3}{4}"),
        ("**12**", "12"),
        ("\u22125", "-5"),
        (r"1\,000\,000", "1000000"),
        ("1 000", "1000"),
        ("$18", "18"),
        ("18 dollars", "18"),
        ("50 percent", "50%"),
        ("2x", "2x"),  # a variable is not a unit
        ("5 pi", "5 pi"),
        (r"\boxed{7}", "7"),
        ("$3$ and $5$", "$3$ and $5$"),  # two spans stay for math-verify to read
        ("100!", "100!"),  # factorial, not an exclamation
    ],
)
def test_clean_answer(raw: str, cleaned: str) -> None:
    assert clean_answer(raw) == cleaned


@pytest.mark.parametrize(
    "gold, answer, how",
    [
        ("42", "42", "raw"),
        (r"\frac{1}{2}", r"\frac{1}{2}", "raw"),
        ("Natalia sold 48/2 = 24 clips.\n#### 72", "72", "hash"),
        (r"The area is $\boxed{12\pi}$.", r"12\pi", "boxed"),
    ],
)
def test_gold_answer(gold: str, answer: str, how: str) -> None:
    assert gold_answer(gold) == (answer, how)


def test_extraction_is_linear_on_hostile_text() -> None:
    hostile = [
        "\\[" * 20000,
        "\\boxed{" * 10000,
        "$" * 50000,
        "answer is " * 20000,
        "1," * 100000,
        "(" * 100000,
        # the rest of the answer's clause and thinking blocks (issue 26)
        "\\boxed{42}" + "a" * 200000,
        "\\boxed{42}" + "$" * 200000,
        "\\boxed{42} or " + "x" * 200000,
        "answer: " + "\\text{" * 30000,
        "\\boxed{42} " + "maybe " * 30000,
        "<think>" * 30000,
        "<think>a</think>" * 12000 + "\\boxed{42}",
        "\u200b" * 200000 + "\\boxed{42}",  # the reader view (look-alikes, invisibles)
        "\u0430\u0431 " * 60000 + "\\boxed{42}",
    ]
    for text in hostile:
        start = time.perf_counter()
        extract_answer(text, extract=("boxed", "hash", "final_answer", "answer_is", "last_math"))
        assert time.perf_counter() - start < 2.0


def test_type_errors() -> None:
    with pytest.raises(TypeError, match="response must be str"):
        extract_answer(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown extraction rule"):
        extract_answer("x", extract=("boxed", "nope"))
    with pytest.raises(TypeError, match="unknown verify_math option"):
        extract_answer("x", extrakt=("boxed",))
