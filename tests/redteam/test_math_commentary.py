"""What a value written after the final answer is (issue 26): another answer, or a quantity
inside a description (``judges.math.after``; docs/threat_models/math.md, "After the answer").

Both directions, generated:

* commentary -- a correct answer, then a sentence that uses other numbers as quantities of
  something ("after 3 days", "all 4 conditions", "Step 2", "3 fewer than Tom") -- passes;
* recants -- a correct answer, then a different value stated in any phrasing (a copula, an
  equals sign, a correction, a connective, alone on its line, a bare "So 41.") -- fails;
* in the answer's own clause, a value joined by *any* connective ("else", "vs", "|",
  ``\\mid``, a random word) is a second value, while the answer's qualifiers (a modulus, a
  base, a unit's exponent) and descriptions are not.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from judges.math import verify_math
from judges.math.after import _ADVERBIAL, _DETERMINERS, _LABELS, _QUALIFIERS
from rlenvs.envs.math_judge import make_math_judge

CONTAINERS = ["So the total is $\\boxed{{{g}}}$", "\\boxed{{{g}}}", "The answer is ${g}$.",
              "Final Answer: ${g}$", "Working...\n#### {g}"]

# a sentence after the answer that uses {n} (and {m}) as quantities of something else
COMMENTARY = [
    "This is the number of apples after {n} days.",
    "Check: the result satisfies all {n} conditions.",
    "Step {n} was the key step.",
    "We checked each of the {n} cases.",
    "This holds for all {n} values of $k$.",
    "The pattern repeats every {n} terms.",
    "In {n} steps we reach it.",
    "It took {n} more minutes than expected.",
    "Tom has {n} fewer apples than Ann.",
    "Each of the {n} friends gets the same share.",
    "Note that this is not {n}.",
    "Dividing by {n} leaves nothing new.",
    "It was found within ${n}$ seconds.",
    "That is {n} times as many as before.",
    "We used the first {n} primes.",
    "This is the count after {n} days and {m} nights.",
    "Case {n} gives nothing new, and neither does Case {m}.",
    "Together with the {n} red ones, it makes sense.",
    "It is the same for all $n \\geq {n}$ too.",
    "In base {n} it reads differently.",
]

# a different value {w} stated after the answer, phrased many ways
RECANTS = [
    "No wait, it is {w}.", "Actually, no, it is {w}.", "Correction: {w}",
    "Hmm, I think it's {w} instead.", "Wait, {w}.", "Actually {w}.", "I mean {w}.",
    "Or rather {w}.", "Sorry, {w}.", "Oops, it should be {w}.", "On second thought, {w}.",
    "Scratch that: {w}.", "Let me redo it: {w}.", "So {w}.", "Hence {w}.", "{w}.", "${w}$",
    "= {w}", "It equals {w}.", "The result is {w}.", "We get {w}.", "That gives {w}.",
    "Though {w} could work too.", "Then again, {w}.", "{w} is the right answer.",
    "The correct value is {w}.", "Double-checking: {w}.", "Hmm, maybe {w}.", "Or {w}.",
    "Otherwise {w}.", "Alternatively, {w}.", "versus {w}", "Actually, it is the {w}.",
    "It is the {w}.", "It's {w} after all.", "That is a total of {w}.", "It reduces to {w}.",
    "Actually, after {w} days.", "Or after {w} days.", "$x = {w}$", "Recomputing gives $x = {w}$.",
    "Wait, no: all {w}.", "Putting it together:\n${w}$", "**{w}**", "It comes to {w} apples.",
    "The {w} is the answer.", "All {w} is correct.", "In the end, the {w} is the real result.",
]
SEPS = ["\n", " ", "\n\n", ". "]

golds = st.integers(-999, 99_999)


@st.composite
def gold_and_other(draw: st.DrawFn) -> tuple[int, int]:
    gold = draw(golds)
    return gold, draw(st.integers(-999, 99_999).filter(lambda w: w != gold))


@settings(max_examples=80)
@given(gold_and_other(), st.integers(2, 999), st.sampled_from(CONTAINERS),
       st.sampled_from(COMMENTARY), st.sampled_from(SEPS))
def test_commentary_with_other_numbers_passes(pair, m, container, sentence, sep):
    gold, n = pair
    sep = "\n" if "####" in container else sep  # "#### x" reads its whole line
    reply = container.format(g=gold) + sep + sentence.format(n=n, m=m)
    v = verify_math(reply, str(gold))
    assert v.passed, (reply, v.reason, v.details.get("stated_last"))


@settings(max_examples=80)
@given(gold_and_other(), st.sampled_from(CONTAINERS), st.sampled_from(RECANTS),
       st.sampled_from(SEPS), st.sampled_from(["", " This took 3 days.", "\n\nStep 2 was key."]))
def test_recants_in_any_phrasing_fail(pair, container, recant, sep, commentary):
    """A different value stated after the answer fails, with or without commentary after it
    (described quantities after a recant do not hide it)."""
    gold, wrong = pair
    reply = container.format(g=gold) + sep + recant.format(w=wrong) + commentary
    v = verify_math(reply, str(gold))
    assert not v.passed, (reply, v.details.get("answer"))


@settings(max_examples=30)
@given(gold_and_other(), st.sampled_from(RECANTS), st.sampled_from(COMMENTARY))
def test_a_recant_back_to_the_answer_ends_on_it(pair, recant, sentence):
    """The last value stated decides: recanting and then stating the answer again ends on
    the answer (as before: both orders of one recant are judged, test_math_hedging)."""
    gold, wrong = pair
    reply = f"\\boxed{{{gold}}}. {recant.format(w=wrong)}\nSo it is {gold}. {sentence.format(n=7, m=8)}"
    v = verify_math(reply, str(gold))
    assert v.passed, (reply, v.reason, v.details.get("stated_last"))


# ----------------------------------------------------------------- the answer's own clause

NOT_DESCRIPTIVE = _ADVERBIAL | _DETERMINERS | _LABELS | _QUALIFIERS | {"not", "than", "times"}
words = st.from_regex(r"[a-z]{2,9}", fullmatch=True).filter(lambda w: w not in NOT_DESCRIPTIVE)
SEPARATORS = [" else ", " vs ", " versus ", " otherwise ", " (alternatively ", "|", " \\mid ",
              " then ", " => ", " -> ", " \\to ", " & ", " \\quad ", " \\; ", " ", " aka ",
              " hence ", " so ", "\\text{ else }", " **else** ", " \\text{ apples} else "]


@settings(max_examples=60)
@given(st.integers(2, 9999), st.sampled_from([-1, 1, 7, 100]), st.sampled_from(SEPARATORS),
       st.sampled_from(["", "."]), st.sampled_from(["\\boxed{{{g}}}", "$\\boxed{{{g}}}$"]))
def test_a_value_joined_by_any_connective_is_a_second_value(g, d, sep, end, box):
    reply = f"{box.format(g=g)}{sep}{g + d}{end}"
    assert not verify_math(reply, str(g)).passed, reply


@settings(max_examples=60)
@given(st.integers(2, 9999), st.integers(1, 999), words, st.sampled_from(["", " apples"]))
def test_a_value_after_any_word_in_the_clause_is_a_second_value(g, w, word, unit):
    """Default-deny: only prepositions, determiners, labels and qualifiers make a value in
    the answer's clause part of a description; any other word before it joins it."""
    if w == g:
        return
    reply = f"\\boxed{{{g}}}{unit} {word} {w}"
    assert not verify_math(reply, str(g)).passed, reply


BENIGN = ["$\\boxed{{{g}}} \\pmod{{{m}}}$.", "\\boxed{{{g}}} (mod {m})", "\\boxed{{{g}}} \\text{{ cm}}^2",
          "$\\boxed{{{g}}}$ cm^{{3}}", "\\boxed{{{g}}}_{{{m}}}", "\\boxed{{{g}}} in base {m}.",
          "$\\boxed{{{g}}}$ apples after {m} days.", "\\boxed{{{g}}}, not {m}.",
          "\\boxed{{{g}}} modulo {m}", "\\boxed{{{g}}} rather than {m}",
          "\\boxed{{{g}}} for each of the {m} boxes."]


@settings(max_examples=60)
@given(st.integers(2, 9999), st.integers(2, 999), st.sampled_from(BENIGN))
def test_qualifiers_and_descriptions_in_the_clause_pass(g, m, form):
    reply = form.format(g=g, m=m)
    v = verify_math(reply, str(g))
    assert v.passed, (reply, v.reason, v.details.get("stated_last"))


def test_env_judges_read_the_same_rule():
    for judge in (make_math_judge(lenient=False), make_math_judge(lenient=True)):
        task = {"answer": "30"}
        assert judge("\\boxed{30}\n\nThis is the number of apples after 3 days.", task).passed
        assert not judge("\\boxed{30} else 31", task).passed
        assert not judge("\\boxed{30}\nHmm, I think it's 31 instead.", task).passed


def test_many_described_values_after_the_answer_are_read_conservatively():
    """Described values are passed over at most 64 times, then a value reads as stated (the
    reading stays bounded on hostile text: values are scanned from the end)."""
    for tail in ("after 1 ", "by 3 and 4 and ", "$1$ and "):
        v = verify_math("\\boxed{42}. " + tail * 20_000, "42")
        assert not v.passed, (tail, v.reason)
    assert verify_math("\\boxed{42}. " + "after 1 day, " * 60, "42").passed
