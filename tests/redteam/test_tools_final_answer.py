"""The tool environments read the final answer by the math room's one definition (issue 26).

ToolMath and SearchQA judge ``committed`` (``rlenvs/tools/answers.py``): the reply's reader's
view (invisible characters dropped, look-alike letters read as ASCII) without its thinking
blocks; every box agrees; a hedge or joined value right after the last box is part of it; a
later committed answer of another form ("the answer is X", ``#### X``, "Final Answer: X")
must be right as well. Before: a recant after the box, a box only inside ``<think>`` (closed
or not) and a connective disguised by a zero-width or Cyrillic letter all paid.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import rlenvs
from rlenvs.envs.searchqa import DEFAULT_QUESTIONS, judge_short_answer, normalize_answer
from rlenvs.envs.toolmath import judge_numeric_answer

MATH = {"question": "Compute 6 * 7.", "answer": "42"}
GOLD, WRONG = "42", "41"
QA = {"question": "On which river lies the birthplace of the founder of Port Ilvane?",
      "answer": "Lusk", "aliases": ["River Lusk"]}
NAME, OTHER = "Lusk", "Ost"

ZW = "\u200b"
CYRILLIC = str.maketrans({"o": "\u043e", "a": "\u0430", "e": "\u0435", "T": "\u0422",
                          "s": "\u0455", "O": "\u041e"})


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _zero_width(text: str) -> str:
    """A zero-width space between the letters of every word (never between digits)."""
    return "".join(c + ZW if c.isalpha() else c for c in text)


DISGUISES = {
    "none": lambda t: t,
    "zero-width": _zero_width,
    "cyrillic": lambda t: t.translate(CYRILLIC),
    "full-width": _full_width,
}


def _math(reply: str) -> bool:
    return judge_numeric_answer(reply, MATH).passed


def _qa(reply: str) -> bool:
    return judge_short_answer(reply, QA).passed


# --------------------------------------------------------------------- reported instances

MATH_HOLES = [
    "\\boxed{42} The answer is 41.",
    "\\boxed{42}\n#### 41",
    "\\boxed{42}\n\nFinal Answer: 41",
    "<think>\\boxed{42}</think> The answer is 41.",
    "<think>\\boxed{42}</think> 41",
    "<think>I am sure: \\boxed{42}",
    "\\boxed{42} <think>actually \\boxed{42}",
    "\\boxed{42} o\u200br 41",
    "\\boxed{42} \u043er 41",
    "\\boxed{42} or so",
    "\\boxed{42} \u0422he answer is 41.",
    "\\boxed{42} \uff3cboxed{41}",
    "\\boxed{\uff14\uff11}",
    "\\boxed{4\u200b2}",
    "\\boxed{42} \\fbox{41}",
    "\\boxed{42} \\boxed 41",
    "approximately \\boxed{42}",
    "\\boxed{42}\u060c 41",  # the audit's instance: an Arabic comma, then another value
    "\\boxed{42}, 41",
    "\\boxed{42} 41",
    "\\boxed{42 o\u200br 41}",  # a hedge split inside the box
    "\\boxed{42 \u043er 41}",
    "It is \u0430b\u043eut $\\boxed{42}$.",
]


@pytest.mark.parametrize("reply", MATH_HOLES)
def test_toolmath_recants_thinking_and_disguises_do_not_pay(reply):
    verdict = judge_numeric_answer(reply, MATH)
    assert not verdict.passed and verdict.score == 0.0, (reply, verdict.reason)


MATH_RIGHT = [
    "\\boxed{42}",
    "\\boxed{42}. The answer is 42.",
    "\\boxed{42}\n#### 42",
    "The answer is 41... no, recomputing: \\boxed{42}",
    "<think>maybe \\boxed{41}</think> The product is \\boxed{42}.",
    "\\boxed{\uff14\uff12}",
    "\\boxed{\u200b42}",
    "\\boxed{42}. The answer is 42, which the calculator confirmed.",
]


@pytest.mark.parametrize("reply", MATH_RIGHT)
def test_toolmath_correct_answers_with_harmless_prose_pass(reply):
    verdict = judge_numeric_answer(reply, MATH)
    assert verdict.passed, (reply, verdict.reason)


def test_toolmath_thousands_and_prose_in_a_later_answer():
    task = {"question": "q", "answer": "1234"}
    for reply in ("\\boxed{1,234}. The answer is 1234 as computed.", "\\boxed{1234}\n#### 1,234",
                  "\\boxed{1234}\n\nFinal Answer: the product is 1234.",
                  "\\boxed{1234}. The answer is x = 1234."):
        assert judge_numeric_answer(reply, task).passed, reply
    for reply in ("\\boxed{1234}. The answer is 1234 or 1235.", "\\boxed{1234}. The answer is 1234 maybe.",
                  "\\boxed{1234}. The answer is not 1234.", "\\boxed{1234}. The answer is 1234 is wrong.",
                  "\\boxed{1234}. Final Answer: 1234 mod 7", "\\boxed{1234}. The answer is 1233 + 1.",
                  "\\boxed{1234}. The answer is ab\u043eut 1234."):
        assert not judge_numeric_answer(reply, task).passed, reply


QA_HOLES = [
    "\\boxed{Lusk} The answer is Ost.",
    "\\boxed{Lusk}\nFinal Answer: Ost",
    "<think>\\boxed{Lusk}</think> The answer is Ost.",
    "<think>It is \\boxed{Lusk}",
    "\\boxed{Lusk} or Ost",
    "\\boxed{Lusk} \u043er Ost",
    "\\boxed{Lusk} o\u200br Ost",
    "\\boxed{Lusk} \uff3cboxed{Ost}",
    "\\boxed{\u041est}",
    "\\boxed{Lusk}\u060c Ost",
    "\\boxed{Lusk}; Ost",
    "\\boxed{Lusk o\u200br Ost}",
    "\\boxed{Lusk \u043er Ost}",
]


@pytest.mark.parametrize("reply", QA_HOLES)
def test_searchqa_recants_thinking_and_disguises_do_not_pay(reply):
    verdict = judge_short_answer(reply, QA)
    assert not verdict.passed and verdict.score == 0.0, (reply, verdict.reason)


@pytest.mark.parametrize("reply", [
    "\\boxed{Lusk}", "\\boxed{Lusk}. The answer is Lusk, a river in the north.",
    "\\boxed{the river Lusk}. So the answer is River Lusk.", "\\boxed{Lu\u0455k}",
    "<think>\\boxed{Ost}?</think> \\boxed{Lusk}", "\\boxed{L\u200busk}",
])
def test_searchqa_correct_answers_with_harmless_prose_pass(reply):
    verdict = judge_short_answer(reply, QA)
    assert verdict.passed, (reply, verdict.reason)


def test_a_gold_with_look_alike_letters_gets_the_same_reading():
    task = {"question": "Which town?", "answer": "\u041est"}  # a Cyrillic O in the gold itself
    assert judge_short_answer("\\boxed{Ost}", task).passed
    assert not judge_short_answer("\\boxed{Lusk}", task).passed


def test_the_answer_tool_and_the_env_read_the_same_way():
    env = rlenvs.make("rlenvs/ToolMath-v0", kinds=["multiply"])
    _, info = env.reset(seed=3)
    gold = int(info["task"]["answer"])
    call = '<tool_call>{{"name": "answer", "arguments": {{"answer": "{}"}}}}</tool_call>'
    for reply, paid in ((f"\\boxed{{{gold}}}. The answer is {gold + 1}.", False),
                        (f"<think>\\boxed{{{gold}}}</think> The answer is {gold + 1}.", False),
                        (call.format(f"{gold} or {gold + 1}"), False),
                        (call.format(f"{gold}</think>"), False),
                        (call.format(str(gold)), True),
                        (f"\\boxed{{{gold}}}. The answer is {gold}.", True)):
        _, reward, _, _, info = env.unwrapped.clone().step(reply)
        assert (reward == 1.0) is paid, (reply, info["verdict"].reason)


# ---------------------------------------------------------------------- generated families

ROWS = [json.loads(line) for line in DEFAULT_QUESTIONS.read_text().splitlines() if line.strip()]


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, str, Callable[[str], bool], bool]:
    """``(gold, wrong, judge, is_searchqa)``: a shipped SearchQA row and another row's answer,
    or a ToolMath integer gold (any sign and size) and a different integer."""
    if draw(st.booleans()):
        row = draw(st.sampled_from(ROWS))
        others = [r["answer"] for r in ROWS if normalize_answer(r["answer"]) not in
                  {normalize_answer(a) for a in [row["answer"], *row.get("aliases", [])]}]
        wrong = draw(st.sampled_from(others))
        return row["answer"], wrong, lambda r: judge_short_answer(r, row).passed, True
    gold = draw(st.integers(-10**12, 10**12))
    wrong = gold + draw(st.integers(1, 10**6)) * draw(st.sampled_from([1, -1]))
    task = {"question": "q", "answer": str(gold)}
    return str(gold), str(wrong), lambda r: judge_numeric_answer(r, task).passed, False


CASES = _cases()
RECANTS = ["The answer is {v}.", "#### {v}", "Final Answer: {v}", "So the answer is ${v}$.",
           "Answer: {v}"]
CONTAINERS = ["\\boxed{{{v}}}", "$\\boxed{{{v}}}$", "\\[\\boxed{{{v}}}\\]", "**\\boxed{{{v}}}**"]
PLACES = ["outside", "closed-think", "unclosed-think"]
PROSE = ["", " Done.", "\n\nI used the calculator to check this.", " Hope this helps!",
         " That is the final result."]


def _reply(container: str, value: str, place: str, recant: str, disguise: str) -> str:
    box = container.format(v=value)
    if place == "closed-think":
        box = f"<think>{box}</think>"
    elif place == "unclosed-think":
        box = f"Let me think. <think>{box}"
    return f"{box}\n{DISGUISES[disguise](recant)}" if place != "unclosed-think" else (
        f"{DISGUISES[disguise](recant)} {box}")


@settings(max_examples=300)  # ~1 ms each: cover the product of the forms
@given(st.sampled_from(RECANTS), st.sampled_from(CONTAINERS), st.sampled_from(PLACES),
       st.sampled_from(sorted(DISGUISES)), CASES)
def test_generated_recants_and_thinking_never_pay(recant, container, place, disguise, case):
    """Gold boxed, a different committed answer after it (or the box only in thinking): no
    order, container, thinking placement or disguise of the words pays."""
    gold, wrong, judge, _ = case
    reply = _reply(container, gold, place, recant.format(v=wrong), disguise)
    assert not judge(reply), reply


@settings(max_examples=300)  # ~1 ms each: cover the product of the forms
@given(st.sampled_from(RECANTS), st.sampled_from(CONTAINERS), st.sampled_from(PLACES),
       st.sampled_from(sorted(DISGUISES)), CASES)
def test_generated_wrong_boxes_never_pay_whatever_follows(recant, container, place, disguise, case):
    """The opposite order: a wrong box, then the gold as a later answer; still no pay."""
    gold, wrong, judge, _ = case
    reply = _reply(container, wrong, place, recant.format(v=gold), disguise)
    assert not judge(reply), reply


JOINERS = [" or {v}", " or so", ", or {v}", " / {v}", " (or {v})", " nor {v}"]


@settings(max_examples=300)  # ~1 ms each: cover the product of the forms
@given(st.sampled_from(JOINERS), st.sampled_from(CONTAINERS), st.sampled_from(sorted(DISGUISES)),
       CASES)
def test_generated_disguised_hedges_after_the_box_are_seen(joiner, container, disguise, case):
    gold, wrong, judge, qa = case
    # "0 / 1" and "42 / 1" are the gold's value itself (a quotient), not an alternative
    assume(qa or "/" not in joiner or (gold != "0" and wrong != "1"))
    words = DISGUISES[disguise](joiner.replace("{v}", "\x00")).replace("\x00", wrong)
    reply = container.format(v=gold) + words
    assert not judge(reply), reply


HEDGES_BEFORE = ["approximately ", "about ", "roughly ", "It is maybe ", "at least ", "around "]


@settings(max_examples=300)  # ~1 ms each: cover the product of the forms
@given(st.sampled_from(HEDGES_BEFORE), st.sampled_from(CONTAINERS),
       st.sampled_from(sorted(DISGUISES)), CASES)
def test_generated_disguised_hedges_before_the_box_are_seen(hedge, container, disguise, case):
    gold, _, judge, _ = case
    reply = DISGUISES[disguise](hedge) + container.format(v=gold)
    assert not judge(reply), reply


@settings(max_examples=300)  # ~1 ms each: cover the product of the forms
@given(st.sampled_from(CONTAINERS), st.sampled_from(RECANTS + [""]), st.sampled_from(PROSE),
       st.sampled_from(sorted(DISGUISES)), st.booleans(), CASES)
def test_generated_correct_answers_still_pass(container, restate, prose, disguise, think, case):
    """The correctness direction: the gold in an accepted container, optionally restated as a
    later committed answer, thinking before it, harmless prose after it, the words disguised
    (and for ToolMath the digits full-width): still paid."""
    gold, wrong, judge, qa = case
    shown = _full_width(gold) if disguise == "full-width" and not qa else gold
    reply = (f"<think>scratch: maybe {wrong} or Ost</think>" if think else "") + container.format(v=shown)
    said = DISGUISES[disguise](restate.replace("{v}", "\x00")).replace("\x00", gold)
    reply += "\n" + said + ("\n" if said[-1:] != "." else "") + DISGUISES[disguise](prose)
    assert judge(reply), reply


@pytest.mark.parametrize("filler", [" $", " ,", "\\)", " (", " *"])
def test_hostile_text_after_the_box_is_read_in_bounded_time(filler):
    """Before the runs were possessive, 20,000 `` $`` after the box took 140 s."""
    import time

    start = time.perf_counter()
    for tail in (" x", " or 41"):
        judge_numeric_answer("\\boxed{42}" + filler * 20_000 + tail, MATH)
    assert time.perf_counter() - start < 2.0


def test_a_long_later_answer_that_disagrees_commits_to_none():
    reply = "\\boxed{42}. The answer is " + "1 " * 2000 + "!"
    assert not judge_numeric_answer(reply, MATH).passed


@pytest.mark.parametrize("repeat, is_repeat", [
    ("\\boxed{\uff15}", True), ("\\boxed{5\u200b}", True), ("<think>\\boxed{7}</think> \\boxed{5}", True),
    ("\\boxed{5} <think>", True), ("<think>\\boxed{5}</think> \\boxed{6}", False),
])
def test_unary_feedback_reads_a_repeat_as_the_judge_reads_the_answer(repeat, is_repeat):
    """Before: the repeat key was the raw last box, so a disguised repeat (full-width digit,
    zero-width space, the same answer after a thinking block) escaped the penalty."""
    from rlenvs.tools.feedback import UnaryFeedbackEnv

    env = UnaryFeedbackEnv(rlenvs.make("rlenvs/Arithmetic-v0"), max_attempts=3, repeat_penalty=0.25)
    env.reset(options={"task": {"question": "2 + 2", "answer": "4"}})
    assert not env.step("\\boxed{5}")[-1]["verdict"].passed
    _, reward, _, _, info = env.step(repeat)
    assert info["repeated_answer"] is is_repeat and reward == (-0.25 if is_repeat else 0.0), (
        repeat, info["verdict"].reason)


def test_every_box_counts_and_unclosed_boxes_cost_linear_time():
    """A disagreeing box before 64 agreeing ones still commits to none (the math reader keeps
    the last 64 boxes); thousands of unclosed boxes took seconds (a scan per box: 14 s for
    5,000), now one pass over the braces."""
    import time

    assert not _math("\\boxed{41}" + "\\boxed{42}" * 64)
    start = time.perf_counter()
    assert not _math("\\boxed{" * 20_000)
    assert _math("\\boxed{" * 20_000 + " \\boxed{42}")
    assert time.perf_counter() - start < 2.0
