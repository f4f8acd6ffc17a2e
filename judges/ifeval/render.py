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
The removal is repeated until nothing changes (``<<b></b>b>`` is not a tag left behind), so
the reading is idempotent; a text without ``<*_~``` is its own reading.
"""

from __future__ import annotations

import re

__all__ = ["strip_markup"]

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)(?:[\s/][^<>]*)?>")
_DELIMITERS = re.compile(r"[*_~`]+")
# HTML's phrasing elements that render their content inline, with no break (br is not one)
_INLINE = frozenset(
    "a abbr b bdi bdo big cite code data del dfn em font i ins kbd mark q s samp small span "
    "strike strong sub sup time tt u var wbr".split()
)


def _tag(m: re.Match[str]) -> str:
    return "" if m.group(1).lower() in _INLINE else " "


def strip_markup(text: str) -> str:
    """``text`` with inline markup removed as a renderer would (see the module docstring)."""
    while True:
        out = _DELIMITERS.sub("", _TAG.sub(_tag, _COMMENT.sub("", text)))
        if out == text:
            return out
        text = out
