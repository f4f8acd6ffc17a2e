"""``language:response_language`` and ``change_case:*``: response language and letter case.

Language detection is langdetect with a fixed seed (see :mod:`judges.ifeval.text_utils`).
Text langdetect cannot classify (digits, emoji or punctuation only) does **not** follow a
language or case instruction: IFEval counts it as followed, which rewards empty-ish answers.

``language:response_language`` reads the ``"script"`` view (NFKC, invisible characters removed,
each word in the script it visibly belongs to); the ``change_case:*`` checks read the ``"skeleton"`` view, since case is what
letters look like (a Lisu letter that looks like ``B`` is a capital to the reader).
"""

from __future__ import annotations

import functools
import random
from typing import Any

from judges.ifeval._common import compare, relation_kwarg
from judges.ifeval.registry import ComposeContext, Kwarg, constraint
from judges.ifeval.text_utils import detect_language, supported_languages, word_tokens

#: ISO 639-1 names of the 30 languages IFEval's prompts ask for (plus a few more for messages).
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "es": "Spanish", "pt": "Portuguese", "ar": "Arabic", "hi": "Hindi",
    "fr": "French", "ru": "Russian", "de": "German", "ja": "Japanese", "it": "Italian",
    "bn": "Bengali", "uk": "Ukrainian", "th": "Thai", "ur": "Urdu", "ta": "Tamil",
    "te": "Telugu", "bg": "Bulgarian", "ko": "Korean", "pl": "Polish", "he": "Hebrew",
    "fa": "Persian", "vi": "Vietnamese", "ne": "Nepali", "sw": "Swahili", "kn": "Kannada",
    "mr": "Marathi", "gu": "Gujarati", "pa": "Punjabi", "ml": "Malayalam", "fi": "Finnish",
    "zh": "Chinese", "nl": "Dutch", "sv": "Swedish", "tr": "Turkish", "el": "Greek",
}

#: Languages the composer asks for (its witness builder has sample text for each).
COMPOSER_LANGUAGES: tuple[str, ...] = ("es", "fr", "de", "it", "pt", "ru", "pl", "fi")


@functools.lru_cache(maxsize=1)
def _known_codes() -> frozenset[str]:
    codes = set(supported_languages())
    codes |= {c.split("-")[0] for c in codes}
    return frozenset(codes)


def _language_code(value: str) -> str:
    code = value.strip()
    if code not in _known_codes():
        raise ValueError(f"is not a language code langdetect knows ({sorted(_known_codes())})")
    return code


def _matches(detected: str, wanted: str) -> bool:
    return detected == wanted or detected.split("-")[0] == wanted


@constraint(
    "language:response_language",
    kwargs={"language": Kwarg("str", normalize=_language_code, doc="ISO 639-1 code")},
    describe=lambda kw: f"Answer only in {LANGUAGE_NAMES.get(kw['language'], kw['language'])}; "
    "no other language may appear.",
    sample=lambda rng, ctx: {"language": rng.choice(COMPOSER_LANGUAGES)},
    conflicts=(
        "keywords:existence",
        "keywords:frequency",
        "keywords:forbidden_words",
        "keywords:letter_frequency",
        "startend:end_checker",
        "change_case:english_capital",
        "change_case:english_lowercase",
        "change_case:capital_word_frequency",
        "detectable_format:multiple_sections",
        "length_constraints:nth_paragraph_first_word",
        "combination:repeat_prompt",
    ),
    reads="script",  # Russian stays Russian; English in Cyrillic look-alikes is English
)
def response_language(response: str, language: str) -> tuple[bool, str]:
    """langdetect's language for the whole response is ``language`` (``zh`` matches ``zh-cn``)."""
    detected = detect_language(response)
    if detected is None:
        return False, "language could not be detected (no letters langdetect can use)"
    return _matches(detected, language), f"detected language {detected!r}, want {language!r}"


@constraint(
    "change_case:english_capital",
    describe=lambda kw: "Write the whole answer in English using only capital letters.",
    sample=lambda rng, ctx: {},
    conflicts=(
        "change_case:english_lowercase",
        "change_case:capital_word_frequency",
        "detectable_format:multiple_sections",
    ),
)
def english_capital(response: str) -> tuple[bool, str]:
    """No lower-case letters (and at least one cased letter), and detected as English."""
    if not response.isupper():
        return False, "contains lower-case letters (or no letters at all)"
    detected = detect_language(response)
    if detected is None:
        return False, "language could not be detected"
    return detected == "en", f"all capitals; detected language {detected!r}"


@constraint(
    "change_case:english_lowercase",
    describe=lambda kw: "Write the whole answer in English in lowercase letters only; no capital "
    "letters at all.",
    sample=lambda rng, ctx: {},
    conflicts=("change_case:capital_word_frequency", "detectable_format:multiple_sections"),
)
def english_lowercase(response: str) -> tuple[bool, str]:
    """No upper-case letters (and at least one cased letter), and detected as English."""
    if not response.islower():
        return False, "contains capital letters (or no letters at all)"
    detected = detect_language(response)
    if detected is None:
        return False, "language could not be detected"
    return detected == "en", f"all lowercase; detected language {detected!r}"


def _count_capital_words(text: str) -> int:
    if not any(ch.isupper() for ch in text):
        return 0
    return sum(1 for tok in word_tokens(text) if tok.isupper())


def _sample_capital(rng: random.Random, ctx: ComposeContext) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {"capital_frequency": rng.randint(1, 6), "capital_relation": "at least"}
    return {"capital_frequency": rng.randint(4, 10), "capital_relation": "less than"}


@constraint(
    "change_case:capital_word_frequency",
    kwargs={"capital_frequency": Kwarg("int", minimum=0), "capital_relation": relation_kwarg},
    describe=lambda kw: (
        f"Put at least {kw['capital_frequency']} words in ALL CAPITAL LETTERS for emphasis."
        if kw["capital_relation"] == "at least"
        else f"Fewer than {kw['capital_frequency']} words may be written in all capital letters."
    ),
    sample=_sample_capital,
)
def capital_word_frequency(
    response: str, capital_frequency: int, capital_relation: str
) -> tuple[bool, str]:
    """Number of all-capital tokens (NLTK word tokenization) compared with the frequency."""
    n = _count_capital_words(response)
    ok = compare(n, capital_relation, capital_frequency)
    return ok, f"{n} all-capital words; need {capital_relation} {capital_frequency}"
