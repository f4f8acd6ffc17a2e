"""Red team, instruction following: text that looks compliant to the checker only (issue 26).

Invariant: every check reads normalized text (``judges.ifeval.normalize``: NFKC, invisible
characters removed, Unicode look-alikes mapped to ASCII), so a violating response transformed
by look-alike characters or invisible ones still violates (the opposite direction, compliant
responses still passing, is ``test_ifeval_compliant``).

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

from judges.ifeval import check_instructions
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
