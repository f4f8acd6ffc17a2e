"""The response as a reader sees its words: what :func:`judges.math.final.final_answer` reads.

A policy controls every code point: a zero-width space inside ``or`` (``o\\u200br``), a
Cyrillic ``о`` in ``оr`` or a full-width ``ａbout`` hide a connective or a hedge from a reader
that matches ASCII words, while a human reads "or" and "about". So the final answer is read
from a view in which

* invisible code points (format characters: zero-width spaces and joiners, soft hyphens,
  bidi marks; variation selectors) are removed, except inside a number;
* a word of two or more letters that reads as Latin (every letter ASCII or an ASCII
  look-alike: Cyrillic, Greek, full-width) is read as its ASCII skeleton
  (:func:`judges.ifeval.normalize.skeleton`, Unicode's confusables);
* full-width ASCII letters and punctuation (``＼ｂｏｘｅｄ``, ``＄``), small-form punctuation and
  look-alike commas and semicolons (Arabic, ideographic) are read as ASCII.

Digits and math symbols are left exactly as written: a single Greek letter is a symbol
(``\\pi``, ``α``), ``×`` and ``∞`` keep their meaning, and non-ASCII digits (full-width,
superscript, Arabic-Indic) are still refused by the answer guard rather than read as ASCII.
"""

from __future__ import annotations

import re
import unicodedata

import regex

__all__ = ["reader_view"]

# format characters (zero-width, joiners, bidi marks, soft hyphen, tags) and variation selectors
_INVISIBLE_RE = regex.compile(r"[\p{Cf}\ufe00-\ufe0f\u034f\u180e]+")
_WORD_RE = re.compile(r"[^\W\d_]{2,}")  # a run of two or more letters (any script)
# full-width ASCII (not its digits: those stay refused), small forms, look-alike commas
_PUNCT = str.maketrans(
    {
        **{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F) if not 0xFF10 <= c <= 0xFF19},
        **{chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xFE50, 0xFE6C)},
        "\u060c": ",", "\u3001": ",", "\u201a": ",", "\u061b": ";", "\u2024": ".",
    }
)


def _drop_invisible(text: str) -> str:
    """Invisible code points removed, except inside a number (``4\\u200b2`` is not 42: a
    garbled number stays garbled and is refused, as non-ASCII digits are)."""

    def drop(m: regex.Match[str]) -> str:
        inside = m.start() > 0 and text[m.start() - 1].isdigit() and text[m.end() : m.end() + 1].isdigit()
        return m.group(0) if inside else ""

    return _INVISIBLE_RE.sub(drop, text)


def _as_latin(word: str) -> str:
    from judges.ifeval.normalize import skeleton

    read = skeleton(word)
    return read if read.isascii() and read.isalpha() and len(read) == len(word) else word


def reader_view(text: str) -> str:
    """``text`` with invisible code points removed, look-alike words read as ASCII and
    look-alike commas read as commas; ASCII text is returned unchanged."""
    if text.isascii():
        return text
    text = _drop_invisible(text)
    text = text.translate(_PUNCT)
    return _WORD_RE.sub(lambda m: m.group(0) if m.group(0).isascii() else _as_latin(m.group(0)), text)
