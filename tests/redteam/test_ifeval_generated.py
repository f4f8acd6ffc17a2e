"""Red team, instruction following: text that looks compliant to the checker only (issue 26).

Invariant: every check reads normalized text (``judges.ifeval.normalize``: NFKC, invisible
characters removed, Unicode look-alikes mapped to ASCII), so a violating response transformed
by look-alike characters or invisible ones still violates -- and an ordinary compliant response,
with accents, emoji or another script in it, still passes.

The look-alikes are not taken from the code under test: they are every character Unicode's
confusables data (the ``confusable_homoglyphs`` package) lists as looking like an ASCII
character, of the same kind (a letter for a letter, in the same case; punctuation for
punctuation), plus every character whose NFKC form is that ASCII character (full-width,
mathematical, circled, small forms). The invisible characters are every format character
(category ``Cf``), the variation selectors and the combining grapheme joiner.
"""

from __future__ import annotations

import functools
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judges.ifeval import build_witness, check_instructions, compose_prompt
from judges.ifeval._common import WORD_POOL
from judges.ifeval.normalize import _kind  # "upper", "lower", else the major category

# ----------------------------------------------------------------------------------------------
# The reported instances (each failed before the fix).


@pytest.mark.parametrize("response", ["one\uff0c two", "one\u201a two", "one\u060c two"])
def test_lookalike_commas_are_commas(response: str) -> None:
    assert not check_instructions(response, ["punctuation:no_comma"], [{}]).passed


@pytest.mark.parametrize("response", ["the har\u200bbor is calm", "the h\u0430rbor is calm",
                                      "the \uff48arbor is calm", "the harb\u043er\u2060 is calm"])
def test_disguised_forbidden_word_is_found(response: str) -> None:
    v = check_instructions(response, ["keywords:forbidden_words"], [{"forbidden_words": ["harbor"]}])
    assert not v.passed, v.reason


@pytest.mark.parametrize("response", ['"\u200b"', '"\u200b\u200d\ufeff"', '" \u2060 "'])
def test_invisible_quotation_is_empty(response: str) -> None:
    assert not check_instructions(response, ["startend:quotation"], [{}]).passed


def test_lone_invisible_character_is_an_empty_response() -> None:
    v = check_instructions("\u200b", ["change_case:english_lowercase"], [{}])
    assert not v.passed and "empty response" in v.reason


@settings(max_examples=40)
@given(word=st.sampled_from(WORD_POOL), before=st.sampled_from(["", "the old ", "we saw "]),
       after=st.sampled_from(["", " at dawn", "\nnext line"]), closed=st.booleans())
def test_a_word_shown_through_a_right_to_left_override_is_read_as_shown(
        word, before, after, closed) -> None:
    """``<RLO>robrah<PDF>`` displays ``harbor``: the forbidden word is found; a word that only
    its reversal would spell is not."""
    pdf = "\u202c" if closed else ""
    shown = f"{before}\u202e{word[::-1]}{pdf}{after if closed else ''}"
    v = check_instructions(shown, ["keywords:forbidden_words"], [{"forbidden_words": [word]}])
    assert not v.passed, (ascii(shown), v.reason)
    hidden = f"{before}\u202e{word}{pdf}"
    v = check_instructions(hidden, ["keywords:forbidden_words"], [{"forbidden_words": [word]}])
    assert v.passed or word == word[::-1], (ascii(hidden), v.reason)


def test_loose_mode_removes_lookalike_asterisks_too() -> None:
    """Found by the family below: loose mode dropped ASCII ``*`` only, so ``٭*`` (an Arabic
    five-pointed star, read as ``*``) became a highlight ``٭ and ٭`` once the ``*`` was gone."""
    text = "we \u066d* and \u066d * the end"
    v = check_instructions(text, ["detectable_format:number_highlighted_sections"],
                           [{"num_highlights": 1}], loose=True)
    assert not v.passed, v.reason


# ----------------------------------------------------------------------------------------------
# The transforms.


def _prototype(data: dict, a: str) -> str:
    """``a``'s prototype in the confusables data (``l`` for ``I``, ``''`` for ``"``)."""
    entries = data.get(a, [])
    back = entries[0]["c"] if len(entries) == 1 else None
    if back and a in {e["c"] for e in data.get(back, [])}:
        return back
    return a


@functools.lru_cache(maxsize=1)
def _ascii_classes() -> dict[str, frozenset[str]]:
    """ASCII character -> the ASCII characters the confusables data reads the same (l, I, 1)."""
    from confusable_homoglyphs import confusables

    data = confusables.confusables_data
    proto = {chr(c): _prototype(data, chr(c)) for c in range(0x21, 0x7F)}
    return {a: frozenset(b for b in proto if proto[b] == proto[a]) for a in proto}


@functools.lru_cache(maxsize=1)
def lookalikes() -> dict[str, tuple[str, ...]]:
    """ASCII character -> non-ASCII characters that look like it (see the module docstring)."""
    from confusable_homoglyphs import confusables

    data = confusables.confusables_data
    letters = {"upper", "lower", "L"}
    out: dict[str, set[str]] = {}
    for code in range(0x21, 0x7F):
        a = chr(code)
        ka = _kind(a)
        several = sum(1 for b in _ascii_classes()[a] if b.isalpha()) > 1
        for entry in [*data.get(a, []), *data.get(_prototype(data, a), [])]:
            c = entry["c"].replace("\u200e", "")
            if len(c) != 1 or c.isascii():
                continue
            nfkc = unicodedata.normalize("NFKC", c)
            if nfkc.isascii() and nfkc != a:
                continue  # NFKC reads it as another ASCII character ("［" is "[", not "(")
            kc = _kind(c)
            if (ka in letters) != (kc in letters) or (ka == "N") != (kc == "N"):
                continue  # a letter is read as a letter, a digit as a digit
            if {ka, kc} == {"upper", "lower"} or (kc == "L" and several):
                continue  # case is kept; an uncased stroke is not told apart as I or l
            out.setdefault(a, set()).add(c)
    for code in range(0x80, sys.maxunicode + 1):
        c = chr(code)
        nfkc = unicodedata.normalize("NFKC", c)
        if len(nfkc) == 1 and nfkc.isascii() and nfkc.isprintable() and nfkc != " ":
            out.setdefault(nfkc, set()).add(c)
    # A letter whose other case looks like another ASCII letter (Greek Ν like N, ν like v) has
    # no case-blind reading: documented limit, left out.
    looks = {c: a for a, cs in out.items() for c in cs}
    split = {c for c, a in looks.items() if len(c.swapcase()) == 1
             and looks.get(c.swapcase(), a).lower() != a.lower()}
    split |= {c for c in looks if unicodedata.normalize("NFKC", c) in split}
    return {a: tuple(sorted(set(cs) - split)) for a, cs in out.items()}


@functools.lru_cache(maxsize=1)
def invisibles() -> tuple[str, ...]:
    """Format characters that change nothing a reader sees: the bidi controls are left out
    (an override reverses what follows it; it has a family of its own below)."""
    cf = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"
          and unicodedata.bidirectional(chr(c)) not in BIDI_CONTROLS]
    selectors = [chr(c) for c in [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]]
    return tuple(cf + selectors + ["\u034f"])


def test_the_transform_pools_are_broad() -> None:
    pool = lookalikes()
    assert len(pool["a"]) >= 25 and len(pool[","]) >= 4 and len(pool['"']) >= 5
    assert "\u0430" in pool["a"] and "\uff0c" in pool[","] and "\u201a" in pool[","]
    assert len(invisibles()) >= 400 and "\u200b" in invisibles()


def test_every_lookalike_reads_as_its_ascii_character() -> None:
    """The skeleton view maps every look-alike back into its character's ASCII class."""
    from judges.ifeval.normalize import skeleton

    misses = []
    for a, cs in lookalikes().items():
        for c in cs:
            if skeleton(c) not in _ascii_classes()[a]:
                misses.append((a, c, unicodedata.name(c, "?")))
    assert len(misses) <= 2, misses  # an ornament bracket the table lists only one way


@functools.lru_cache(maxsize=1)
def marks() -> tuple[str, ...]:
    """Every combining mark (categories Mn, Me) of planes 0 and 1: overlays, strokes, accents."""
    return tuple(chr(c) for c in range(0x300, 0x20000)
                 if unicodedata.category(chr(c)) in ("Mn", "Me"))


BIDI_CONTROLS = frozenset({"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})


@st.composite
def disguised(draw: st.DrawFn, text: str, span: tuple[int, int] | None = None,
              letters_only: bool = False, swap: bool = True, overlay: bool = False) -> str:
    """``text`` with characters swapped for look-alikes and invisible characters inserted at
    random positions; with ``span``, at least one change falls inside ``text[span[0]:span[1]]``;
    with ``overlay``, combining marks that compose with nothing stacked on some ASCII letters
    (strike-through, "zalgo": the letter shows through)."""
    pool = lookalikes()
    chars = list(text)
    lo, hi = span or (0, len(text))
    swappable = [i for i in range(len(chars)) if swap and chars[i] in pool
                 and (not letters_only or chars[i].isalnum())]
    inside = [i for i in swappable if lo <= i < hi]
    picks = draw(st.lists(st.sampled_from(swappable), max_size=12)) if swappable else []
    if inside:
        picks.append(draw(st.sampled_from(inside)))
    if overlay:
        letters = [i for i in range(len(chars)) if chars[i].isascii() and chars[i].isalpha()]
        for i in draw(st.lists(st.sampled_from(letters), max_size=6)) if letters else []:
            mark = draw(st.sampled_from(marks()))
            if unicodedata.normalize("NFC", chars[i] + mark) == chars[i] + mark:
                chars[i] += mark
    for i in picks:
        if len(chars[i]) == 1:
            chars[i] = draw(st.sampled_from(pool[text[i]]))
    inserts = draw(st.lists(st.tuples(st.integers(0, len(chars)), st.sampled_from(invisibles())),
                            max_size=8))
    if span:
        inserts.append((draw(st.integers(lo, hi)), draw(st.sampled_from(invisibles()))))
    for pos, ch in sorted(inserts, reverse=True):
        chars.insert(pos, ch)
    return "".join(chars)


WORDS = st.lists(st.sampled_from(["the", "light", "was", "quiet", "over", "water", "and",
                                  "boats", "rested", "near", "stone", "walls", "we", "saw"]),
                 min_size=3, max_size=10).map(" ".join)


# ----------------------------------------------------------------------------------------------
# Violating responses by instruction family: (instruction id, kwargs, response, span to hit).


@st.composite
def violations(draw: st.DrawFn) -> tuple[str, dict, str, tuple[int, int] | None]:
    family = draw(st.sampled_from(FAMILIES))
    return family(draw)


def _no_comma(draw):
    a, b = draw(WORDS), draw(WORDS)
    return "punctuation:no_comma", {}, f"{a}, {b}.", (len(a), len(a) + 1)


def _forbidden(draw):
    word = draw(st.sampled_from(WORD_POOL))
    word = draw(st.sampled_from([word, word.upper(), word.capitalize()]))
    a, b = draw(WORDS), draw(WORDS)
    text = f"{a} {word} {b}."
    return ("keywords:forbidden_words", {"forbidden_words": [word.lower()]}, text,
            (len(a) + 1, len(a) + 1 + len(word)))


def _frequency(draw):
    word, n = draw(st.sampled_from(WORD_POOL)), draw(st.integers(1, 4))
    text = " ".join([f"a {word} here"] * n) + "."
    return ("keywords:frequency", {"keyword": word, "frequency": n, "relation": "less than"},
            text, (2, 2 + len(word)))


def _letter(draw):
    n = draw(st.integers(2, 6))
    text = draw(WORDS) + " " + "zebra " * n
    return ("keywords:letter_frequency", {"letter": "z", "let_frequency": n,
                                          "let_relation": "less than"}, text, None)


def _quotation(draw):
    if draw(st.booleans()):
        return "startend:quotation", {}, '""', (1, 1)
    return "startend:quotation", {}, draw(WORDS) + ".", None


def _lowercase(draw):
    text = draw(WORDS) + " " + draw(st.sampled_from(["Paris", "NASA", "I", "Monday", "Bob"]))
    start = text.rfind(" ") + 1
    return "change_case:english_lowercase", {}, text + " is here.", (start, start + 1)


def _capital(draw):
    text = draw(WORDS).upper()
    i = draw(st.sampled_from([j for j, ch in enumerate(text) if ch.isalpha()]))
    text = text[:i] + text[i].lower() + text[i + 1:] + " IS HERE."
    return "change_case:english_capital", {}, text, (i, i + 1)


def _capital_words(draw):
    n = draw(st.integers(1, 4))
    text = draw(WORDS) + " " + " ".join(["LOUD"] * n) + " " + draw(WORDS) + "."
    return ("change_case:capital_word_frequency",
            {"capital_frequency": n, "capital_relation": "less than"}, text, None)


def _end_phrase(draw):
    text = draw(WORDS) + ". Any other questions? " + draw(WORDS)
    return "startend:end_checker", {"end_phrase": "Any other questions?"}, text, None


def _title(draw):
    return "detectable_format:title", {}, "<<  >>\n" + draw(WORDS), (2, 4)


def _placeholders(draw):
    n = draw(st.integers(2, 4))
    text = draw(WORDS) + " [name]" * (n - 1) + " " + draw(WORDS)
    return "detectable_content:number_placeholders", {"num_placeholders": n}, text, None


def _json(draw):
    key = draw(st.sampled_from(["name", "value", "city"]))
    text = draw(st.sampled_from([f"{{'{key}': 1}}", f"{{{key}: 1}}", f"the {key} is 1", "1"]))
    return "detectable_format:json_format", {}, text, None


def _highlights(draw):
    text = draw(WORDS) + " ** and * * " + draw(WORDS)
    return ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, text,
            (len(text) - 1, len(text)))


def _two_responses(draw):
    a = draw(WORDS)
    return "combination:two_responses", {}, f"{a}\n******\n{a}", (0, len(a))


def _sentences(draw):
    n = draw(st.integers(2, 4))
    text = " ".join(f"{draw(WORDS).capitalize()}." for _ in range(n))
    return ("length_constraints:number_sentences", {"num_sentences": n, "relation": "less than"},
            text, None)


def _words_few(draw):
    text = draw(WORDS)
    n = len(text.split()) + 1
    return ("length_constraints:number_words", {"num_words": n, "relation": "at least"}, text,
            (0, len(text)))


def _language(draw):
    text = " ".join(draw(WORDS) for _ in range(4)) + "."
    return "language:response_language", {"language": "ru"}, text, None


def _paragraphs(draw):
    text = f"{draw(WORDS)}\n***\n{draw(WORDS)}"
    return "length_constraints:number_paragraphs", {"num_paragraphs": 3}, text, None


FAMILIES = [_no_comma, _forbidden, _frequency, _letter, _quotation, _lowercase, _capital,
            _capital_words, _end_phrase, _title, _placeholders, _json, _highlights,
            _two_responses, _sentences, _words_few, _language, _paragraphs]


@settings(max_examples=300)
@given(case=violations(), data=st.data())
def test_a_disguised_violation_still_violates(case, data) -> None:
    cid, kwargs, text, span = case
    for loose in (False, True):
        assert not check_instructions(text, [cid], [kwargs], loose=loose).passed, (cid, text)
        fake = data.draw(disguised(text, span, overlay=True))
        v = check_instructions(fake, [cid], [kwargs], loose=loose)
        assert not v.passed, (cid, ascii(fake), v.reason)


# ----------------------------------------------------------------------------------------------
# The opposite direction: compliant responses still pass.


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
