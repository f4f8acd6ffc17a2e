"""Fresh red team, math (issue 26, before closing): holes found by attacking ``verify_math``
through its public API after the math invariant was written.

* markup around a trailing connective: ``\\boxed{42} **or 41**``, ``*or* 41``, ``<b>or 41</b>``,
  `` `or 41` ``, ``or \\(41\\)`` were paid (the clause after the answer was read raw, so the
  connective was not seen as the start of a joined value);
* a bound spelled after the value: ``\\boxed{42 \\text{ or more}}``, ``42 and up`` were paid;
* a question mark: ``\\boxed{42?}`` and ``\\boxed{42}\\boxed{?}`` were paid.

Opposite direction: the same markup around a correct answer and prose that goes on after it
("or more precisely", "and up to sign") still pass.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judges.math import verify_math

MARKUP = [("**", "**"), ("*", "*"), ("_", "_"), ("__", "__"), ("`", "`"), ("<b>", "</b>"),
          ("<em>", "</em>"), ("<strong>", "</strong>"), ("", "")]
# where the markup sits around "or <wrong>"
SHAPES = [
    "{o}or {w}{c}", "{o}or{c} {w}", "or {o}{w}{c}", "{o}(or {w}){c}", "{o}or{c} \\({w}\\)",
    "or \\({w}\\)", "or \\[{w}\\]", "{o}or{c} ${w}$", "{o}and {w}{c}",
]
BOUNDS = ["or more", "or less", "or fewer", "or higher", "or lower", "or above", "or below",
          "or greater", "and up", "and above"]

values = st.integers(min_value=-999, max_value=9999)


@st.composite
def gold_and_wrong(draw):
    gold = draw(values)
    wrong = draw(values.filter(lambda w: w != gold))
    return str(gold), str(wrong)


@settings(max_examples=60)
@given(gw=gold_and_wrong(), mark=st.sampled_from(MARKUP), shape=st.sampled_from(SHAPES),
       box=st.sampled_from(["\\boxed{{{g}}}", "$\\boxed{{{g}}}$", "The answer is ${g}$"]),
       end=st.sampled_from(["", ".", "\n"]))
def test_markup_around_a_trailing_value_is_read(gw, mark, shape, box, end):
    gold, wrong = gw
    tail = shape.format(o=mark[0], c=mark[1], w=wrong)
    reply = f"So {box.format(g=gold)} {tail}{end}"
    v = verify_math(reply, gold)
    assert not v.passed, (reply, v.details.get("answer"))


@settings(max_examples=40)
@given(g=values, mark=st.sampled_from(MARKUP),
       tail=st.sampled_from(["", " and we are done", ", or more precisely {g}",
                             " (checked twice)", ", which is the answer"]))
def test_markup_around_a_correct_answer_still_passes(g, mark, tail):
    gold = str(g)
    reply = f"The total is {mark[0]}$\\boxed{{{gold}}}${mark[1]}{tail.format(g=gold)}."
    v = verify_math(reply, gold)
    assert v.passed, (reply, v.reason)


@settings(max_examples=40)
@given(g=values, bound=st.sampled_from(BOUNDS),
       form=st.sampled_from(["\\boxed{{{g} \\text{{ {b}}}}}", "\\boxed{{{g}}} {b}.",
                             "The answer is {g} {b}.", "\\boxed{{{g}}} {b}"]))
def test_a_bound_after_the_value_is_not_a_value(g, bound, form):
    reply = form.format(g=g, b=bound)
    v = verify_math(reply, str(g))
    assert not v.passed, (reply, v.details.get("answer"))


@pytest.mark.parametrize("reply", ["\\boxed{42?}", "\\boxed{42\\text{?}}", "\\boxed{42}\n\\boxed{?}",
                                   "The answer is $42?$"])
def test_a_questioned_answer_is_not_a_value(reply):
    assert not verify_math(reply, "42").passed


@pytest.mark.parametrize("reply", [
    "Is it 42? Yes: \\boxed{42}.", "What is $6 \\cdot 7$? It is $\\boxed{42}$.",
    "\\boxed{42}, or more precisely 42 apples.", "The answer is $\\boxed{42}$ and up to sign it is unique.",
    "We need 42 or more steps? No: exactly \\boxed{42}.",
])
def test_correct_styles_next_to_the_new_readings_pass(reply):
    v = verify_math(reply, "42")
    assert v.passed, v.reason


COMMENTARY = [
    "\n\nThis is the number of apples after {n} days.",
    ". Check: the result satisfies all {n} conditions.",
    "\n\nStep {n} was the key step.",
    " apples left, {n} fewer than Tom.",
]


@settings(max_examples=20)
@given(g=st.integers(10, 999), n=st.integers(2, 9), tail=st.sampled_from(COMMENTARY))
def test_commentary_after_a_correct_answer_passes(g, n, tail):
    reply = f"So the total is $\\boxed{{{g}}}${tail.format(n=n)}"
    v = verify_math(reply, str(g))
    assert v.passed, (reply, v.reason, v.details.get("stated_last"))


LETTERS = ["A", "B", "C", "D", "E"]
CHOICE_TAILS = ["(or {w})", "or {w}", "**or {w}**", "*or* ({w})", ", or maybe ({w})",
                "or possibly {w}", "/{w}", "<b>or {w}</b>", "and {w}", "or $({w})$"]


@settings(max_examples=40)
@given(g=st.sampled_from(LETTERS), w=st.sampled_from(LETTERS), tail=st.sampled_from(CHOICE_TAILS),
       box=st.sampled_from(["\\boxed{{{g}}}", "\\boxed{{({g})}}", "$\\boxed{{\\text{{{g}}}}}$"]))
def test_a_choice_joined_after_the_answer_is_several_choices(g, w, tail, box):
    # was: "\boxed{A} (or B)", "\boxed{A} **or B**" paid for gold A: only numbers were read there
    if w == g:
        return
    reply = f"So {box.format(g=g)} {tail.format(w=w)}."
    v = verify_math(reply, g, choices=LETTERS)
    assert not v.passed, (reply, v.details)


@settings(max_examples=30)
@given(g=st.sampled_from(LETTERS), tail=st.sampled_from(
    ["", " and that is final", " and I am sure", ", and a note: the others are wrong",
     " (checked twice)", " or, in other words, {g}"]))
def test_a_choice_with_prose_after_it_still_passes(g, tail):
    reply = f"The answer is \\boxed{{{g}}}{tail.format(g=g)}."
    v = verify_math(reply, g, choices=LETTERS)
    assert v.passed, (reply, v.reason)


@settings(max_examples=40)
@given(g=st.integers(2, 999), d=st.integers(1, 9),
       wrap=st.sampled_from(["\\[{b}\\]", "\\({b}\\)", "$${b}$$", "${b}$", "\\[ {b} \\]"]),
       tail=st.sampled_from([" or {w}", " or so", ", \\ldots", " (or {w})", " or maybe {w}"]))
def test_a_hedge_after_a_display_closing_is_part_of_the_answer(g, d, wrap, tail):
    # was: "\[\boxed{42}\] or 41" and "\(\boxed{42}\) or 41" paid for 42 ($...$ did not)
    box = wrap.format(b=f"\\boxed{{{g}}}")
    assert verify_math(box, str(g)).passed
    reply = box + tail.format(w=g + d)
    assert not verify_math(reply, str(g)).passed, reply


@settings(max_examples=20)
@given(g=st.integers(2, 500), d=st.sampled_from([-1, 1, 7]),
       sep=st.sampled_from([" else ", " vs ", " versus ", " otherwise ", " (alternatively ", "|",
                            " \\mid "]))
def test_a_value_joined_by_any_connective_after_the_box_is_not_one_value(g, d, sep):
    reply = f"\\boxed{{{g}}}{sep}{g + d}"
    assert not verify_math(reply, str(g)).passed, reply
