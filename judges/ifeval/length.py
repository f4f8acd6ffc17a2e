"""``length_constraints:*``: sentence, paragraph and word counts, nth paragraph's first word."""

from __future__ import annotations

import random
import re
from typing import Any

from judges.ifeval._common import compare, pick_fresh_words, relation_kwarg
from judges.ifeval.registry import ComposeContext, Kwarg, constraint
from judges.ifeval.text_utils import count_sentences, count_words


def _sample_sentences(rng: random.Random, ctx: ComposeContext) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {"num_sentences": rng.randint(2, 8), "relation": "at least"}
    return {"num_sentences": rng.randint(4, 12), "relation": "less than"}


@constraint(
    "length_constraints:number_sentences",
    kwargs={"num_sentences": Kwarg("int", minimum=0), "relation": relation_kwarg},
    describe=lambda kw: (
        f"Write at least {kw['num_sentences']} sentences."
        if kw["relation"] == "at least"
        else f"Keep it to fewer than {kw['num_sentences']} sentences."
    ),
    sample=_sample_sentences,
    reads="sentences",  # the full stops of every script end a sentence
)
def number_sentences(response: str, num_sentences: int, relation: str) -> tuple[bool, str]:
    """Punkt sentence count compared with ``num_sentences``."""
    n = count_sentences(response)
    return compare(n, relation, num_sentences), f"{n} sentences; need {relation} {num_sentences}"


_DIVIDER = re.compile(r"\s?\*\*\*\s?")


@constraint(
    "length_constraints:number_paragraphs",
    kwargs={"num_paragraphs": Kwarg("int", minimum=1)},
    describe=lambda kw: f"Your answer must have exactly {kw['num_paragraphs']} paragraphs, with "
    "a line holding only the markdown divider *** between consecutive paragraphs.",
    sample=lambda rng, ctx: {"num_paragraphs": rng.randint(2, 5)},
    conflicts=(
        "length_constraints:nth_paragraph_first_word",
        "length_constraints:number_sentences",
        "detectable_format:multiple_sections",
        "detectable_format:number_bullet_lists",
    ),
)
def number_paragraphs(response: str, num_paragraphs: int) -> tuple[bool, str]:
    """Exactly ``num_paragraphs`` non-empty parts between ``***`` dividers."""
    parts = _DIVIDER.split(response)
    n = len(parts)
    for i, part in enumerate(parts):
        if not part.strip():
            if i in (0, len(parts) - 1):
                n -= 1
            else:
                return False, f"empty paragraph between dividers (part {i + 1})"
    return n == num_paragraphs, f"{n} paragraphs; need exactly {num_paragraphs}"


def _sample_words(rng: random.Random, ctx: ComposeContext) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {"num_words": rng.randrange(50, 310, 10), "relation": "at least"}
    return {"num_words": rng.randrange(80, 410, 10), "relation": "less than"}


@constraint(
    "length_constraints:number_words",
    kwargs={"num_words": Kwarg("int", minimum=0), "relation": relation_kwarg},
    describe=lambda kw: (
        f"Your answer should be at least {kw['num_words']} words long."
        if kw["relation"] == "at least"
        else f"Use fewer than {kw['num_words']} words."
    ),
    sample=_sample_words,
    conflicts=("length_constraints:number_sentences",),
)
def number_words(response: str, num_words: int, relation: str) -> tuple[bool, str]:
    """``\\w+`` word count compared with ``num_words``."""
    n = count_words(response)
    return compare(n, relation, num_words), f"{n} words; need {relation} {num_words}"


_FIRST_WORD_STOP = frozenset(".,?!'\"")


def _first_word(paragraph: str) -> str:
    """IFEval's first word: first whitespace token, leading quotes dropped, cut at punctuation."""
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    out = []
    for ch in word:
        if ch in _FIRST_WORD_STOP:
            break
        out.append(ch.lower())
    return "".join(out)


def _first_word_kwarg(value: str) -> str:
    value = value.strip().lower()
    if not value:
        raise ValueError("must not be blank")
    return value


def _validate_nth(kw: dict[str, Any]) -> None:
    if kw["nth_paragraph"] > kw["num_paragraphs"]:
        raise ValueError(
            f"nth_paragraph ({kw['nth_paragraph']}) exceeds num_paragraphs "
            f"({kw['num_paragraphs']})"
        )


def _sample_nth(rng: random.Random, ctx: ComposeContext) -> dict[str, Any]:
    n = rng.randint(2, 5)
    (word,) = pick_fresh_words(rng, ctx, 1)
    return {"num_paragraphs": n, "nth_paragraph": rng.randint(1, n), "first_word": word}


def _describe_nth(kw: dict[str, Any]) -> str:
    return (
        f"Write exactly {kw['num_paragraphs']} paragraphs separated by blank lines (two "
        f"newlines), and begin paragraph number {kw['nth_paragraph']} with the word "
        f'"{kw["first_word"]}".'
    )


@constraint(
    "length_constraints:nth_paragraph_first_word",
    kwargs={
        "num_paragraphs": Kwarg("int", minimum=1),
        "nth_paragraph": Kwarg("int", minimum=1),
        "first_word": Kwarg("str", normalize=_first_word_kwarg),
    },
    describe=_describe_nth,
    sample=_sample_nth,
    validate=_validate_nth,
    conflicts=("detectable_format:multiple_sections", "detectable_format:number_bullet_lists"),
)
def nth_paragraph_first_word(
    response: str, num_paragraphs: int, nth_paragraph: int, first_word: str
) -> tuple[bool, str]:
    """Exactly ``num_paragraphs`` blank-line paragraphs; paragraph ``nth`` starts with the word.

    Paragraphs are the non-empty parts between ``\\n\\n``; the nth is counted among those.
    """
    paragraphs = [p for p in response.split("\n\n") if p.strip()]
    n = len(paragraphs)
    if nth_paragraph > n:
        return False, f"only {n} paragraphs; paragraph {nth_paragraph} does not exist"
    word = _first_word(paragraphs[nth_paragraph - 1].strip())
    if n != num_paragraphs:
        return False, f"{n} paragraphs; need exactly {num_paragraphs}"
    if word != first_word:
        return False, f"paragraph {nth_paragraph} starts with {word!r}, not {first_word!r}"
    return True, f"{n} paragraphs; paragraph {nth_paragraph} starts with {first_word!r}"
