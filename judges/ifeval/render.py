"""The ``"rendered"`` reading of a text: inline markup removed as a renderer shows it.

A reply is read rendered -- markdown or HTML -- so markup that a renderer turns into no glyph
must not split or hide a word: ``har**bor**``, ``__harbor__``, ``har<b></b>bor``,
``h<i>arbor</i>`` and ``harbor<!-- -->`` all show ``harbor``. :func:`strip_markup` removes

* HTML comments (``<!-- ... -->``) and the tags of inline elements (``<b>``, ``<span>``,
  ``<em>``, ...), which render as nothing between the letters they wrap;
* the tags of every other element (``<p>``, ``<br>``, ``<div>``, unknown names), replaced by a
  space: a block or a line break separates what it sits between, so ``har<br>bor`` is two words;
* markdown's inline delimiters ``*``, ``_``, ``~`` and the backtick, wherever they stand.

The last rule reads a lone literal marker (``har*bor``, ``snake_case``) as absent too: a
checker that reads this view compares the kwargs in the same view (``snake_case`` is
``snakecase`` on both sides), and a word a renderer would show joined is never missed.
It is one left-to-right pass, as a renderer reads: ``<<b></b>b>`` shows ``<b>`` literally and
is read so (the reading is not re-rendered, so it is not idempotent), and it takes linear time
on any input (an unclosed ``<!--`` or ``<a`` does not make it scan again from every ``<``).
A text without ``<*_~``` is its own reading.
"""

from __future__ import annotations

import re

__all__ = ["strip_markup"]

_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)(?:[\s/][^<>]*)?>")
_DELIMITERS = re.compile(r"[*_~`]+")
# HTML's phrasing elements that render their content inline, with no break (br is not one)
_INLINE = frozenset(
    "a abbr b bdi bdo big cite code data del dfn em font i ins kbd mark q s samp small span "
    "strike strong sub sup time tt u var wbr".split()
)


def _tag(m: re.Match[str]) -> str:
    return "" if m.group(1).lower() in _INLINE else " "


def _drop_comments(text: str) -> str:
    """``text`` without its HTML comments; an unclosed ``<!--`` is kept as text."""
    kept, at = [], 0
    while (start := text.find("<!--", at)) >= 0 and (end := text.find("-->", start + 4)) >= 0:
        kept.append(text[at:start])
        at = end + 3
    kept.append(text[at:])
    return "".join(kept)


def strip_markup(text: str) -> str:
    """``text`` with inline markup removed as a renderer would (see the module docstring)."""
    if not _MARKUP.search(text):
        return text
    return _DELIMITERS.sub("", _TAG.sub(_tag, _drop_comments(text)))


_MARKUP = re.compile(r"[<*_~`]")
