"""Right-to-left overrides, read in the order they display.

A right-to-left override (U+202E) makes everything up to its closing pop (U+202C) or the end of
the paragraph display from right to left: ``<RLO>robrah<PDF>`` shows ``harbor``. Removing the
invisible controls alone would leave the checks reading ``robrah``. :func:`apply_overrides`
reverses each overridden span first (a span nested inside it, of any kind, moves as one
block), so the checks read what is shown. Embeddings and isolates do not reorder Latin letters
and are left to the removal of format characters; text without an override is returned as is.
"""

from __future__ import annotations

__all__ = ["apply_overrides"]

_RLO = "\u202e"
_OPENERS = frozenset("\u202a\u202b\u202d\u202e\u2066\u2067\u2068")  # LRE RLE LRO RLO LRI RLI FSI
_CLOSERS = frozenset("\u202c\u2069")  # PDF PDI
_PARAGRAPH = ("\n", "\r", "\u2029", "\x1c", "\x1d", "\x1e", "\x85")


def apply_overrides(text: str) -> str:
    """``text`` with every right-to-left override span in display order (controls kept)."""
    if _RLO not in text:
        return text
    out, line = [], []
    for ch in text:
        if ch in _PARAGRAPH:  # an override ends with its paragraph
            out.append(_display(line))
            out.append(ch)
            line = []
        else:
            line.append(ch)
    out.append(_display(line))
    return "".join(out)


def _display(chars: list[str]) -> str:
    frames: list[list[str]] = [[]]
    kinds: list[str] = [""]

    def close() -> None:
        pieces, kind = frames.pop(), kinds.pop()
        if kind == _RLO:
            pieces.reverse()
        frames[-1].append("".join(pieces))

    for ch in chars:
        if ch in _OPENERS:
            frames.append([ch])
            kinds.append(ch)
        elif ch in _CLOSERS and len(frames) > 1:
            frames[-1].append(ch)
            close()
        else:
            frames[-1].append(ch)
    while len(frames) > 1:
        close()
    return "".join(frames[0])
