"""Red team, instruction following, the opposite direction (issue 26): compliant responses
with look-alike, invisible or simply non-ASCII characters still pass.

Normalization must not turn a correct answer into a wrong one: a witness of a composed prompt
keeps passing when its letters are swapped for look-alikes and invisible characters are added;
accents, emoji, curly quotes and words of other scripts break nothing; Russian and Greek keep
their language; a keyword of another script is found in any capitalization. The transforms are
those of ``test_ifeval_generated``.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from judges.ifeval import build_witness, check_instructions, compose_prompt
from tests.redteam.test_ifeval_generated import disguised


@settings(max_examples=40)
@given(seed=st.integers(0, 10**6), data=st.data())
def test_a_disguised_witness_still_passes(seed: int, data) -> None:
    """A response that follows a composed prompt keeps following it when its letters are
    swapped for look-alikes and invisible characters are inserted: the verdict depends on what
    the text looks like."""
    row = compose_prompt(seed)
    ids, kw = row["instruction_id_list"], row["kwargs"]
    try:
        text = build_witness(ids, kw)
    except ValueError:  # a combination the witness builder does not construct
        return
    assert check_instructions(text, ids, kw).passed
    if "detectable_format:json_format" in ids:  # a parser reads JSON: only invisibles added
        fake = data.draw(disguised(text, letters_only=True, swap=False))
    else:
        fake = data.draw(disguised(text, letters_only=True))
    v = check_instructions(fake, ids, kw)
    assert v.passed, (ids, kw, ascii(fake), v.reason)


HARMLESS = ["caf\u00e9", "cafe\u0301", "na\u00efve", "\u00fcber", "se\u00f1or", "\U0001f600",
            "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u2764\ufe0f",
            "\u2019tis", "\u201cquoted\u201d", "\u4f60\u597d", "\u043c\u0438\u0440"]


@st.composite
def with_harmless(draw: st.DrawFn, words: list[str]) -> str:
    extra = draw(st.lists(st.sampled_from(HARMLESS), min_size=1, max_size=3))
    out = list(words)
    for item in extra:
        out.insert(draw(st.integers(0, len(out))), item)
    return " ".join(out)


COMPLIANT = [
    ("punctuation:no_comma", {}),
    ("keywords:forbidden_words", {"forbidden_words": ["harbor", "cafe"]}),
    ("keywords:existence", {"keywords": ["light", "caf\u00e9"]}),
    ("change_case:english_lowercase", {}),
    ("change_case:capital_word_frequency", {"capital_frequency": 1, "capital_relation": "less than"}),
]


ENGLISH = ("the light was quiet over the water and the boats rested near the old stone walls "
           "while we watched the evening come slowly across the bay").split()


@given(data=st.data(), words=st.lists(st.sampled_from(ENGLISH), min_size=14, max_size=24))
def test_harmless_unicode_keeps_a_compliant_response_compliant(data, words) -> None:
    """Accents (composed or not), emoji with joiners and variation selectors, curly quotes,
    CJK and Cyrillic words do not break a compliant response."""
    text = data.draw(with_harmless(words + ["light", "caf\u00e9"]))
    for cid, kwargs in COMPLIANT:
        v = check_instructions(text, [cid], [kwargs])
        assert v.passed, (cid, ascii(text), v.reason)
        assert check_instructions(text, [cid], [kwargs], loose=True).passed


HONEST = {
    "ru": ["\u041f\u0440\u0438\u0432\u0435\u0442, \u043a\u0430\u043a \u0434\u0435\u043b\u0430?",
           "\u0421\u0435\u0433\u043e\u0434\u043d\u044f \u0445\u043e\u0440\u043e\u0448\u0430\u044f"
           " \u043f\u043e\u0433\u043e\u0434\u0430.",
           "\u041c\u044b \u043f\u043e\u0439\u0434\u0451\u043c \u0432 \u043f\u0430\u0440\u043a"
           " \u0441 \u0434\u0440\u0443\u0437\u044c\u044f\u043c\u0438.",
           "\u0410 \u043f\u043e\u0442\u043e\u043c \u0434\u043e\u043c\u043e\u0439."],
    "el": ["\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03c3\u03b1\u03c2.",
           "\u039f\u03b9 \u03ac\u03bd\u03b8\u03c1\u03c9\u03c0\u03bf\u03b9 \u03b5\u03af\u03bd\u03b1"
           "\u03b9 \u03c6\u03b9\u03bb\u03b9\u03ba\u03bf\u03af.",
           "\u0397 \u03b8\u03ac\u03bb\u03b1\u03c3\u03c3\u03b1 \u03b5\u03af\u03bd\u03b1\u03b9"
           " \u03cc\u03bc\u03bf\u03c1\u03c6\u03b7 \u03c4\u03bf"
           " \u03ba\u03b1\u03bb\u03bf\u03ba\u03b1\u03af\u03c1\u03b9."],
}


@settings(max_examples=30)
@given(lang=st.sampled_from(sorted(HONEST)), data=st.data())
def test_honest_text_in_a_script_with_lookalike_letters_keeps_its_language(lang, data) -> None:
    """Russian and Greek use letters that look Latin (о, а, с, ο, α); the language check still
    sees Russian and Greek, and a transformed copy (invisible characters added) too."""
    sentences = data.draw(st.permutations(HONEST[lang]))
    text = " ".join(sentences)
    for sample in (text, data.draw(disguised(text, letters_only=True))):
        v = check_instructions(sample, ["language:response_language"], [{"language": lang}])
        assert v.passed, (ascii(sample), v.reason)


SCRIPT_WORDS = ["\u0432\u043e\u0434\u0430", "\u043a\u043d\u0438\u0433\u0430",
                "\u043c\u043e\u0441\u0442", "\u0432\u0435\u0442\u0435\u0440",
                "\u0442\u0435\u043c\u043d\u043e", "\u03bd\u03b5\u03c1\u03cc",
                "\u03ba\u03b1\u03bc\u03ad\u03bd\u03bf", "\u03b2\u03bf\u03c5\u03bd\u03cc"]
CASINGS = [str.lower, str.upper, str.capitalize]


@given(word=st.sampled_from(SCRIPT_WORDS), written=st.sampled_from(CASINGS),
       asked=st.sampled_from(CASINGS), data=st.data())
def test_a_keyword_of_another_script_matches_in_any_case(word, written, asked, data) -> None:
    """Look-alikes are read case-consistently: Cyrillic ``В`` reads as ``B`` and so ``в`` as
    ``b``; a keyword such as ``вода`` is found as ``Вода`` and ``ВОДА``, and a forbidden word
    that is not there is not found."""
    others = [w for w in SCRIPT_WORDS if w != word]
    text = f"{data.draw(st.sampled_from(others))} {written(word)} {written(others[0])}."
    checks = [("keywords:existence", {"keywords": [asked(word)]}),
              ("keywords:frequency", {"keyword": asked(word), "frequency": 1,
                                      "relation": "at least"}),
              ("keywords:forbidden_words", {"forbidden_words": [asked(w) for w in others[1:]
                                                                if w not in text.lower()]}),
              ("length_constraints:nth_paragraph_first_word",
               {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": asked(word)})]
    for cid, kwargs in checks:
        sample = f"intro\n\n{written(word)} {text}" if cid.startswith("length") else text
        v = check_instructions(sample, [cid], [kwargs])
        assert v.passed, (cid, kwargs, sample, v.reason)
