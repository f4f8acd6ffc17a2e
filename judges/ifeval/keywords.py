"""``keywords:*`` constraints: required, counted and forbidden words, letter frequency.

Keywords are matched **literally** (regex metacharacters escaped) and case-insensitively.
``keywords:existence`` and ``keywords:frequency`` match substrings, as IFEval does;
``keywords:forbidden_words`` matches whole words only.
"""

from __future__ import annotations

import random
from typing import Any

from judges.ifeval._common import (
    compare,
    literal_pattern,
    pick_fresh_words,
    relation_kwarg,
    whole_word_pattern,
)
from judges.ifeval.registry import ComposeContext, Kwarg, constraint


def _quoted(words: list[str]) -> str:
    return ", ".join(f'"{w}"' for w in words)


def _sample_existence(rng: random.Random, ctx: ComposeContext) -> dict[str, Any]:
    return {"keywords": pick_fresh_words(rng, ctx, rng.randint(1, 3))}


@constraint(
    "keywords:existence",
    kwargs={"keywords": Kwarg("str_list", doc="words that must all appear")},
    describe=lambda kw: f"Be sure to use the words {_quoted(kw['keywords'])} somewhere in your "
    "answer.",
    sample=_sample_existence,
    reads=("skeleton", "rendered"),  # markup does not hide a word, nor make one up
)
def keywords_existence(response: str, keywords: list[str]) -> tuple[bool, str]:
    """Every keyword occurs (case-insensitive substring)."""
    missing = [k for k in keywords if k and not literal_pattern(k).search(response)]
    if missing:
        return False, f"missing keyword(s) {missing}"
    return True, f"all {len(keywords)} keyword(s) present"


def _sample_frequency(rng: random.Random, ctx: ComposeContext) -> dict[str, Any]:
    (word,) = pick_fresh_words(rng, ctx, 1)
    relation = rng.choice(("less than", "at least"))
    freq = rng.randint(1, 4) if relation == "at least" else rng.randint(2, 5)
    return {"keyword": word, "frequency": freq, "relation": relation}


@constraint(
    "keywords:frequency",
    kwargs={
        "keyword": Kwarg("str", normalize=lambda s: _nonblank(s.strip())),
        "frequency": Kwarg("int", minimum=0),
        "relation": relation_kwarg,
    },
    describe=lambda kw: (
        f'The word "{kw["keyword"]}" should appear at least {kw["frequency"]} times.'
        if kw["relation"] == "at least"
        else f'Use the word "{kw["keyword"]}" fewer than {kw["frequency"]} times.'
    ),
    sample=_sample_frequency,
    reads=("skeleton", "rendered"),  # markup does not hide a word, nor make one up
)
def keywords_frequency(
    response: str, keyword: str, frequency: int, relation: str
) -> tuple[bool, str]:
    """Count of (non-overlapping, case-insensitive) occurrences compared with ``frequency``."""
    if not keyword:
        return True, _ONLY_MARKUP
    n = len(literal_pattern(keyword).findall(response))
    ok = compare(n, relation, frequency)
    return ok, f"{keyword!r} occurs {n} times; need {relation} {frequency}"


# A keyword that is nothing but markup (``**``) reads as "" in the rendering: it cannot be
# judged there, and the source reading (the other view these checks read) decides alone.
_ONLY_MARKUP = "keyword is only markup: judged in the source"


def _nonblank(s: str) -> str:
    if not s:
        raise ValueError("must not be blank")
    return s


def _sample_forbidden(rng: random.Random, ctx: ComposeContext) -> dict[str, Any]:
    return {"forbidden_words": pick_fresh_words(rng, ctx, rng.randint(1, 3))}


@constraint(
    "keywords:forbidden_words",
    kwargs={"forbidden_words": Kwarg("str_list", doc="words that must not appear")},
    describe=lambda kw: f"Do not use any of these words: {_quoted(kw['forbidden_words'])}.",
    sample=_sample_forbidden,
    reads=("skeleton", "rendered"),  # markup does not hide a word, nor make one up
)
def keywords_forbidden_words(response: str, forbidden_words: list[str]) -> tuple[bool, str]:
    """No forbidden word occurs as a whole word (case-insensitive)."""
    found = sorted({w for w in forbidden_words if w and whole_word_pattern(w).search(response)})
    if found:
        return False, f"uses forbidden word(s) {found}"
    return True, "no forbidden words"


def _letter(value: str) -> str:
    value = value.strip().lower()
    if len(value) != 1 or not ("a" <= value <= "z"):
        raise ValueError("must be a single ASCII letter")
    return value


_RARE_LETTERS = ("z", "q", "x", "j")
_COMMON_LETTERS = ("e", "t", "a", "o", "n", "s", "r", "l")


def _sample_letter(rng: random.Random, ctx: ComposeContext) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {"letter": rng.choice(_COMMON_LETTERS), "let_frequency": rng.randint(5, 20),
                "let_relation": "at least"}
    return {"letter": rng.choice(_RARE_LETTERS), "let_frequency": rng.randint(3, 8),
            "let_relation": "less than"}


@constraint(
    "keywords:letter_frequency",
    kwargs={
        "letter": Kwarg("str", normalize=_letter),
        "let_frequency": Kwarg("int", minimum=0),
        "let_relation": relation_kwarg,
    },
    describe=lambda kw: (
        f'The letter "{kw["letter"]}" should appear at least {kw["let_frequency"]} times '
        "(either case)."
        if kw["let_relation"] == "at least"
        else f'Use the letter "{kw["letter"]}" fewer than {kw["let_frequency"]} times '
        "(either case)."
    ),
    sample=_sample_letter,
)
def keywords_letter_frequency(
    response: str, letter: str, let_frequency: int, let_relation: str
) -> tuple[bool, str]:
    """Occurrences of ``letter`` in the lower-cased response compared with ``let_frequency``."""
    n = response.lower().count(letter)
    ok = compare(n, let_relation, let_frequency)
    return ok, f"letter {letter!r} occurs {n} times; need {let_relation} {let_frequency}"
