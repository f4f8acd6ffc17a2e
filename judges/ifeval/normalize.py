"""What every IFEval check reads: the text as a reader sees it, not as it is encoded.

A policy controls every code point of its reply, and many code points look like others or like
nothing at all: a full-width comma ``，`` or a low quotation mark ``‚`` reads as a comma, a Cyrillic
``а`` inside ``hаrbor`` reads as the forbidden word, a zero-width space between two quotation
marks reads as ``""``. A check that reads raw code points is fooled by all of them. So no check
does: :class:`judges.ifeval.registry.Constraint` hands a checker one of two *views* of the
response (and of its string kwargs and the prompt), built here:

* ``"text"`` -- :func:`normalize_text`: Unicode NFKC (full-width, mathematical, circled and other
  compatibility forms become their plain letters, digits and punctuation), then every format
  character (category ``Cf``: zero-width spaces and joiners, bidi controls, soft hyphens, tags)
  and every other default-ignorable code point (variation selectors, the combining grapheme
  joiner, Mongolian free variation selectors, ...) removed -- except the Hangul fillers, letters
  that render as a blank, which become a space -- and canonical composition redone. A
  right-to-left override is applied first: what it shows reversed is read in the order shown
  (:mod:`judges.ifeval.bidi`). The script of the text is unchanged.
* ``"skeleton"`` (the default) -- :func:`skeleton`: the ``"text"`` view with every non-ASCII
  character that Unicode's confusables table (UTS #39, as shipped by the ``confusable_homoglyphs``
  package) says looks like an ASCII character replaced by that ASCII character: Cyrillic and
  Greek look-alike letters, look-alike commas, quotes, periods, brackets, digits. The table's
  prototype is mapped to the ASCII member of its class of the same kind and case (Greek ``Ι``,
  whose prototype is ``l``, becomes ``I``; the Arabic-Indic digit one becomes ``1``), so the
  case of a letter and the kind of a character survive. ASCII is a fixed point of both views,
  characters with no ASCII look-alike (Cyrillic ``д``, accented ``é``, CJK, emoji) are kept.
* ``"script"`` -- :func:`script_view`: the ``"text"`` view, with each word that can be read as
  Latin (every letter Latin or with an ASCII look-alike: ``hеllо`` with Cyrillic ``е`` and
  ``о``) read as its skeleton, while a word with a letter of its own script (``привет``) keeps
  its letters. Language detection reads this view: English dressed in Cyrillic look-alikes is
  English, Russian stays Russian.

* ``"rendered"`` -- the skeleton with inline markdown and HTML markup removed as a renderer
  shows it (:func:`judges.ifeval.render.strip_markup`): ``har**bor**``, ``__harbor__`` and
  ``har<b></b>bor`` read ``harbor``. The word and keyword checks read it; the checks about the
  markup itself (highlights, bullets, sections) read the skeleton.

Every view but ``"rendered"`` (a rendering is not rendered again) is idempotent; an ASCII
string is its own view except in ``"rendered"``, which
removes markup. The skeleton also reads small capitals by their Unicode name, as their
lowercase letters; the ``"sentences"`` view (:func:`sentence_view`, read by the sentence count)
is the skeleton with the sentence terminals of every script read as ``.``, ``?`` or ``!``.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

import regex

from judges.ifeval.bidi import apply_overrides
from judges.ifeval.render import strip_markup

__all__ = [
    "VIEWS", "normalize_text", "skeleton", "script_view", "sentence_view", "read_as",
    "read_value_as",
    "lookalikes_of",
]

#: The views a checker can read (see :func:`read_as`).
VIEWS: tuple[str, ...] = ("skeleton", "text", "script", "rendered", "sentences")

# Format characters and the other default-ignorable code points: invisible or no glyph.
_IGNORABLE = regex.compile(r"[\p{Cf}\p{Default_Ignorable_Code_Point}]+")


# An ignorable letter (a Hangul filler) renders as a blank: it separates what it sits between.
_BLANK_LETTER = regex.compile(r"[\p{Default_Ignorable_Code_Point}&&\p{L}]", regex.V1)


def normalize_text(text: str) -> str:
    """The ``"text"`` view: NFKC, format/default-ignorable characters removed, recomposed.

    The few look-alikes that NFKC would turn into something that no longer looks like their
    ASCII character (a cedilla ``¸`` into a space and a combining mark, Greek lunate sigma ``ϲ``
    into ``ς``) are read as that character first (:func:`_tables`).
    """
    if text.isascii():
        return text
    return _normalize_cached(text)


@functools.lru_cache(maxsize=32)  # check_instructions and each view read the same text
def _normalize_cached(text: str) -> str:
    text = _replace(apply_overrides(text), 0)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if not _ignorables().isdisjoint(text):
        text = _IGNORABLE.sub("", _BLANK_LETTER.sub(" ", text))
        text = unicodedata.normalize("NFC", text)
    return text


@functools.lru_cache(maxsize=1)
def _ignorables() -> frozenset[str]:
    """Every character :data:`_IGNORABLE` matches (a set test is much faster than a search).
    Planes 0, 1 and 14 hold them all (2-3: ideographs, 4-13: unassigned, 15-16: private use)."""
    planes = (range(0x80, 0x20000), range(0xE0000, 0xF0000))
    everything = "".join(chr(c) for plane in planes for c in plane)
    return frozenset("".join(_IGNORABLE.findall(everything)))


def _replace(text: str, which: int) -> str:
    """``text.translate(_tables()[which])``, replacing each distinct character found: much
    faster than ``translate`` with a dict when few of the text's characters are in the table."""
    table = _tables()[which]
    for ch in _table_keys()[which].intersection(text):
        text = text.replace(ch, table[ord(ch)])
    return text


@functools.lru_cache(maxsize=1)
def _table_keys() -> tuple[frozenset[str], ...]:
    return tuple(frozenset(map(chr, table)) for table in _tables())  # type: ignore[return-value]


def _kind(ch: str) -> str:
    """``upper``/``lower`` for cased letters, else the major category (``L``, ``N``, ``P``, ...)."""
    if ch.isupper():
        return "upper"
    if ch.islower():
        return "lower"
    return unicodedata.category(ch)[0]


def _prototypes() -> dict[str, str]:
    """Source character -> prototype, recovered from ``confusable_homoglyphs``' table.

    The package lists, for a prototype, all the characters that look like it, and for each of
    those, its prototype alone; a source is a character whose single entry points back at a
    prototype that lists it.
    """
    from confusable_homoglyphs import confusables

    data = confusables.confusables_data

    def plain(s: str) -> str:  # the package wraps right-to-left characters in LRM marks
        return s.replace("\u200e", "")

    out: dict[str, str] = {}
    for proto, entries in data.items():
        for entry in entries:
            source = plain(entry["c"])
            back = data.get(entry["c"]) or data.get(source)
            if len(source) == 1 and back and len(back) == 1 and plain(back[0]["c"]) == plain(proto):
                out[source] = plain(proto)
    # A pair listed both ways ("}" and an ornament bracket) cannot say which is the prototype:
    # the ASCII character is (ASCII characters are the prototypes of their look-alikes).
    return {s: p for s, p in out.items()
            if not (s.isascii() and not p.isascii() and out.get(p) == s)}


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    """``str.translate`` tables ``(before_nfkc, after_nfkc, skeleton)``: non-ASCII character ->
    the ASCII character it looks like. ``after_nfkc`` holds the characters NFKC keeps;
    ``before_nfkc`` those NFKC would turn into a non-ASCII text that ``after_nfkc`` does not map
    back. ``skeleton`` is ``after_nfkc`` closed under case: when a capital looks like an ASCII
    capital (Cyrillic ``В`` like ``B``) its small letter (``в``) reads as the small ASCII letter,
    so that the skeleton of a word does not depend on how it is capitalized (``Вода`` and
    ``вода`` are one word to a case-insensitive check); a pair whose two letters look like two
    different ASCII letters (Greek ``Ν``/``ν``, ``Υ``/``υ``) is left as it is."""
    full = _lookalike_table()
    after = {k: v for k, v in full.items() if unicodedata.normalize("NFKC", chr(k)) == chr(k)}
    before = {}
    for k, v in full.items():
        nfkc = unicodedata.normalize("NFKC", chr(k))
        if nfkc != chr(k) and not nfkc.isascii() and nfkc.translate(after) != v:
            before[k] = v
    closed = dict(after)
    for k, v in after.items():
        partner = chr(k).swapcase()
        if len(partner) == 1 and ord(partner) in after and after[ord(partner)].lower() != v.lower():
            del closed[k]  # Greek Ν reads as N but ν as v: case-blind checks could not agree
            continue
        for partner in {chr(k).lower(), chr(k).upper()} - {chr(k)}:
            want = v.lower() if partner.islower() else v.upper()
            if (len(partner) == 1 and not partner.isascii() and ord(partner) not in after
                    and unicodedata.normalize("NFKC", partner) == partner and want != v):
                closed[ord(partner)] = want
    closed.update(_by_name()[0])
    return before, after, closed


@functools.lru_cache(maxsize=1)
def _by_name() -> tuple[dict[int, str], dict[int, str]]:
    """Two tables of characters read by what Unicode names them, not by their shape:

    * small capitals (``LATIN LETTER SMALL CAPITAL H``, ``ʜ``): lowercase letters (category
      ``Ll``) drawn as a small capital, read by the skeleton as their lowercase ASCII letter,
      so ``ʜᴀʀʙᴏʀ`` is ``harbor`` to a case-blind check and lowercase to the case checks;
    * the sentence terminals of every script (``\\p{Sentence_Terminal}``, category ``Po``:
      ``。 ۔ ։ ። ।``) that NFKC keeps, read by the ``"sentences"`` view as ``?`` or ``!`` where
      their name says so and as ``.`` otherwise. Only that view: by shape the Arabic full stop
      ``۔`` is a dash and the Armenian ``։`` a colon, which is how the bullet and other checks
      read them (an Arabic full stop at the start of a line looks like a bullet).
    """
    small: dict[int, str] = {}
    stops: dict[int, str] = {}
    for code in range(0x80, 0x20000):
        ch = chr(code)
        name = unicodedata.name(ch, "")
        if unicodedata.normalize("NFKC", ch) != ch:
            continue
        capital = _SMALL_CAPITAL.fullmatch(name)
        if capital:
            small[code] = capital.group(1).lower()
        elif unicodedata.category(ch) == "Po" and _TERMINAL.match(ch):
            stops[code] = "?" if "QUESTION" in name else "!" if "EXCLAMATION" in name else "."
    return small, stops


_SMALL_CAPITAL = regex.compile(r"LATIN LETTER SMALL CAPITAL ([A-Z])")
_TERMINAL = regex.compile(r"\p{Sentence_Terminal}")


def sentence_view(text: str) -> str:
    """The ``"sentences"`` view: the skeleton, with every script's sentence terminals read as
    ``.``, ``?`` or ``!`` first (:func:`_by_name`), so that Punkt ends a sentence at them."""
    text = normalize_text(text)
    if text.isascii():
        return text
    stops = _by_name()[1]
    if any(ord(ch) in stops for ch in set(text)):
        text = text.translate(stops)
    return skeleton(text)


def _ascii_table() -> dict[int, str]:
    return _tables()[1]


def _has_lookalike(text: str, which: int = 1) -> bool:
    return not _table_keys()[which].isdisjoint(text)


def _lookalike_table() -> dict[int, str]:
    protos = _prototypes()
    by_proto: dict[str, list[str]] = {}
    for code in range(0x20, 0x7F):
        a = chr(code)
        by_proto.setdefault(protos.get(a, a), []).append(a)
    table: dict[int, str] = {}
    for source, proto in protos.items():
        if source.isascii():
            continue
        candidates = by_proto.get(proto)  # the ASCII members of the source's class
        if not candidates:  # e.g. a sequence such as "rn" with no one-character member
            if len(proto) > 1 and proto.isascii() and _kind(source) not in ("upper", "lower"):
                table[ord(source)] = proto
            continue
        kind = _kind(source)
        digit = unicodedata.digit(source, None)
        same = [a for a in candidates if _kind(a) == kind]
        if digit is not None and str(digit) in candidates:
            target = str(digit)
        elif same:
            target = proto if proto in same else sorted(same)[0]
        elif kind in ("upper", "lower"):
            continue  # the only look-alikes differ in case (Cyrillic small palochka vs "I")
        else:
            target = proto if proto in candidates else sorted(candidates)[0]
        table[ord(source)] = target
    return table


@functools.lru_cache(maxsize=16)
def lookalikes_of(char: str) -> frozenset[str]:
    """``char`` and every character of a normalized text that the skeleton reads as ``char``
    (for text operations that must treat them alike, such as loose mode's ``*`` removal)."""
    return frozenset({char, *(chr(k) for k, v in _ascii_table().items() if v == char)})


# Marks still attached to an ASCII letter after canonical composition: overlays, strokes and
# stacks ("zalgo") that no letter of any language spells with; the letter shows through them.
_STRAY_MARKS = regex.compile(r"(?<=[A-Za-z])\p{M}+")


def skeleton(text: str) -> str:
    """The ``"skeleton"`` view: :func:`normalize_text`, then ASCII look-alikes mapped to ASCII
    and the combining marks that do not compose with an ASCII letter (``h̶a̶r̶b̶o̶r̶``) dropped;
    marks that make a letter of their own (``é``, ``ñ``) have been composed and stay."""
    text = normalize_text(text)
    if text.isascii():
        return text
    if _has_lookalike(text, 2):
        text = unicodedata.normalize("NFC", _replace(text, 2))
    return _STRAY_MARKS.sub("", text)


_WORD = regex.compile(r"\w+")
@functools.lru_cache(maxsize=1)
def _own_script_letter() -> Any:
    """``search`` for a letter of a script other than Latin that has no ASCII look-alike."""
    lookalikes = regex.escape("".join(sorted(_table_keys()[1])), special_only=False)
    return regex.compile(r"[[^\p{Latin}\P{L}]--[" + lookalikes + "]]", regex.V1).search


def _latin_readable(word: str) -> bool:
    """No letter of the word belongs to another script without looking like an ASCII one."""
    return _own_script_letter()(word) is None


def script_view(text: str) -> str:
    """The ``"script"`` view: :func:`normalize_text`, then the skeleton of every word that can
    be read as Latin; words with a letter that has no ASCII look-alike are kept as they are."""
    text = normalize_text(text)
    if text.isascii() or not _has_lookalike(text):
        return text

    table = _ascii_table()

    def word(m: Any) -> str:
        w = m.group(0)
        return w.translate(table) if not w.isascii() and _latin_readable(w) else w

    return unicodedata.normalize("NFC", _WORD.sub(word, text))


@functools.lru_cache(maxsize=32)  # one call reads up to 8 loose variants in 3 views
def read_as(text: str, view: str = "skeleton") -> str:
    """``text`` in the given view (one of :data:`VIEWS`); see the module docstring."""
    if view == "skeleton":
        return skeleton(text)
    if view == "text":
        return normalize_text(text)
    if view == "script":
        return script_view(text)
    if view == "rendered":
        return strip_markup(skeleton(text))
    if view == "sentences":
        return sentence_view(text)
    raise ValueError(f"unknown view {view!r}; use one of {VIEWS}")


def read_value_as(value: Any, view: str = "skeleton") -> Any:
    """A kwarg value in the given view: strings and lists/tuples of strings are mapped, other
    values (numbers, ``None``) returned as they are."""
    if isinstance(value, str):
        return read_as(value, view)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return type(value)(read_as(v, view) for v in value)
    return value
