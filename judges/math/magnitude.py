"""Power towers too large to evaluate, compared by magnitude.

``\\boxed{9^{9^{9^{9^9}}}}`` is an integer with more digits than there are atoms; asking sympy
whether it equals a gold of 42 runs until the worker is killed, and a timeout is a fault
(unscored), not a judgement. Its magnitude is cheap to bound: a tower ``a^(b^(...))`` of
integer literals is evaluated from the top with exact integers while the value stays under
``10^digits`` (:data:`MAX_DIGITS`), and is *huge* past that. A huge value provably differs from
any plain number the fast path reads (at most 40 characters: under ``10^40`` in absolute
value), so that comparison is a judgement, made in microseconds; a tower that evaluates to a small
integer (``1^{9^{9^9}}``, ``2^{100}``) is compared exactly as that integer.

Only unambiguous towers are read: integer bases and exponents grouped by braces or
parentheses (``9^{9^{9}}``, ``2^(3^(4^5))``) or a single plain exponent (``10^{100}``).
``9^9^9`` (two readings: ``(9^9)^9`` is small) and anything with a sign, a variable or an
operation is left to math-verify.
"""

from __future__ import annotations

import math

__all__ = ["HUGE", "MAX_DIGITS", "huge_power", "tower_value"]

MAX_DIGITS = 10_000
_MAX_CHARS = 400
_MAX_DEPTH = 50


class _NotATower(Exception):
    pass


def _parse(s: str, pos: int, depth: int) -> tuple[list[int], int]:
    """``(bases, end)``: the integers of a tower ``a^{b^{...}}`` read from ``s[pos:]``."""
    if depth > _MAX_DEPTH:
        raise _NotATower
    while pos < len(s) and s[pos] == " ":
        pos += 1
    start = pos
    while pos < len(s) and s[pos].isdigit():
        pos += 1
    if pos == start:
        raise _NotATower
    base = int(s[start:pos])
    while pos < len(s) and s[pos] == " ":
        pos += 1
    if pos == len(s) or s[pos] in "})":
        return [base], pos
    if s[pos] != "^":
        raise _NotATower
    pos += 1
    while pos < len(s) and s[pos] == " ":
        pos += 1
    if pos < len(s) and s[pos] in "{(":
        close = "}" if s[pos] == "{" else ")"
        rest, pos = _parse(s, pos + 1, depth + 1)
        while pos < len(s) and s[pos] == " ":
            pos += 1
        if pos >= len(s) or s[pos] != close:
            raise _NotATower
        pos += 1
    else:  # a plain exponent: digits only, nothing chained after it
        start = pos
        while pos < len(s) and s[pos].isdigit():
            pos += 1
        if pos == start:
            raise _NotATower
        rest = [int(s[start:pos])]
    while pos < len(s) and s[pos] == " ":
        pos += 1
    if pos < len(s) and s[pos] not in "})":
        raise _NotATower
    return [base, *rest], pos


HUGE = math.inf  # what :func:`tower_value` returns for a value over ``10^digits``


def tower_value(text: str, digits: int = MAX_DIGITS) -> int | float | None:
    """The exact value of a tower of integer powers in ``text`` while it has at most about
    ``digits`` digits, :data:`HUGE` past that (proved by exact evaluation from the top), or
    None when ``text`` is not such a tower."""
    s = text.strip()
    if len(s) > _MAX_CHARS or "^" not in s:
        return None
    try:
        bases, end = _parse(s, 0, 0)
    except _NotATower:
        return None
    if end != len(s) or len(bases) < 2:
        return None
    value: int | None = bases[-1]  # exact while small; None: more than `digits` digits
    for base in reversed(bases[:-1]):
        if base in (0, 1):  # 1^x = 1; 0^x = 0 for x > 0, 0^0 = 1
            value = base if value is None or value > 0 else 1
        elif value is None or value > digits / math.log10(base):
            value = None  # base >= 2 raised to a huge exponent stays huge
        else:
            value = base**value
    return HUGE if value is None else value


def huge_power(text: str, digits: int = MAX_DIGITS) -> bool:
    """Whether ``text`` is a tower of integer powers with more than ``digits`` digits."""
    return tower_value(text, digits) == HUGE
