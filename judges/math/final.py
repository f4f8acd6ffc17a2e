"""The response's final answer: every value it commits to, so that hedges cannot pay.

A policy under RL pressure offers several answers ("\\boxed{11} or \\boxed{12}"), takes one
back ("42. No wait, 41"), or boxes a relation ("\\neq 42") hoping one reading matches. The
rule here, by construction: **everything the response states as its final answer is
judged, and all of it must be right.**

* ``\\boxed{}``: every non-empty box counts. Boxes with one value (same string) are one
  answer; several distinct boxes are one *set* answer ``{a, b, ...}`` (right for a question
  with several answers, wrong for a single-valued gold) -- math-verify joins boxes the same
  way. Each box is also kept so that one value written two ways still passes.
* A run of values joined by ``or`` / ``and`` / ``,`` / ``;`` at the end of the text is a
  set too ("11 or 12" is ``{11, 12}``), not its last element.
* The *final stated value*: the last number or math span after the answer. When it
  differs from the answer it must be right as well ("the answer is 42. No wait, it is 41"
  judges both 42 and 41; only a response whose last word agrees with its answer passes).

:func:`relation_in` finds relation and logic symbols (``\\neq``, ``<``, ``\\approx``,
``\\lor`` ...): an answer holding one is not a value unless the gold holds one too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from judges.math.extract import (
    _ANSWER_RE,
    _FINAL_RE,
    _MAX_TAIL,
    _NUMBER_RE,
    _anchored,
    _boxed_at,
    _hash,
    _last_latex,
    box_starts,
    clean_answer,
    extract_by_rules,
)

__all__ = [
    "FinalAnswer",
    "final_answer",
    "gold_boxes",
    "gold_decimal_comma",
    "relation_in",
    "relation_refused",
    "canonical",
]

_CANON_RE = re.compile(r"\s+|\\(?:left|right)(?![A-Za-z])|\\[!,;: ]|\$|\\(?:d|t)(?=frac)")

_RELATION_RE = re.compile(
    r"\\(?:neq?|approx|sim|simeq|cong|equiv|leq?q?|geq?q?|leqslant|geqslant|lt|gt|ll|gg"
    r"|not|notin|ni|subset|subseteq|supset|supseteq|prec|succ|propto|mid|nmid|parallel"
    r"|perp|lor|land|vee|wedge|neg|lnot|to|gets|rightarrow|leftarrow|Rightarrow|Leftarrow"
    r"|longrightarrow|Longrightarrow|implies|impliedby|iff|leftrightarrow|Leftrightarrow"
    r"|mapsto|therefore|because)(?![A-Za-z])"
    r"|[<>\u2260\u2248\u223c\u2245\u2261\u2264\u2265\u2208\u2209\u2282\u2286\u2283\u2287"
    r"\u2228\u2227\u00ac\u2192\u21d2\u21d4\u2234\u2235]|!=|\bnot\b|\bneq\b",
)


_ORDER = {"<", ">", "\\le", "\\ge", "\\leq", "\\geq", "\\lt", "\\gt", "\u2264", "\u2265"}
_SET_GOLD_RE = re.compile(r"\\(?:cup|cap|infty|emptyset|varnothing|mathbb|in)(?![A-Za-z])|\\\{")


def relation_in(text: str) -> str | None:
    """The first relation or logic symbol in ``text`` (other than ``=``), or None."""
    m = _RELATION_RE.search(text)
    return m.group(0) if m else None


def relation_refused(pred: str, gold: str) -> str | None:
    """The relation that keeps ``pred`` from being a value for ``gold``, or None.

    Any relation is fine against a gold that is an equation or relation itself; an
    inequality is fine against a set-like gold (an interval, a union, ``\\infty``), which
    it may describe (``x > 3`` and ``(3, \\infty)``).
    """
    rel = relation_in(pred)
    if rel is None or "=" in gold or relation_in(gold) is not None:
        return None
    g = gold.strip()
    interval = g[:1] in "([" and g[-1:] in ")]" and "," in g
    if rel in _ORDER and (interval or _SET_GOLD_RE.search(g)):
        return None
    return rel


def canonical(answer: str) -> str:
    """Whitespace, ``\\left``/``\\right``, spacing commands and ``$`` removed."""
    return _CANON_RE.sub("", clean_answer(answer))


@dataclass(frozen=True)
class FinalAnswer:
    """What a response commits to.

    answer: the answer to compare (several distinct boxes joined as ``a, b``);
    rule: the extraction rule that found it;
    parts: the distinct boxes when there are several (each is also tried alone: all of them
        must equal the gold for that reading to pass);
    trailing: a different value stated after the answer (must be right as well), or None.
    """

    answer: str
    rule: str
    parts: tuple[str, ...] = ()
    trailing: str | None = None


# ------------------------------------------------------------------------------- boxes


def boxed_all(text: str, limit: int = _MAX_TAIL) -> list[tuple[str, int]]:
    """Every non-empty ``\\boxed{}``/``\\fbox{}`` (the last 64), as ``(content, end)``."""
    out: list[tuple[str, int]] = []
    covered = -1
    for pos, cmd in reversed(box_starts(text)):
        if pos < covered:
            continue  # a box inside a box: the outer one is the answer
        content = _boxed_at(text, pos, cmd, limit)
        if content is None or not content.strip():
            continue
        close = text.find(content, pos) + len(content) + 1
        covered = close
        out.append((content.strip(), close))
    return out


def _distinct(values: Sequence[str]) -> list[str]:
    seen: dict[str, str] = {}
    for v in values:
        seen.setdefault(canonical(v), clean_answer(v))
    return list(seen.values())


def gold_boxes(gold: str) -> str | None:
    """A gold solution's boxed answer; several distinct boxes are one set ``a, b``."""
    parts = _distinct([b for b, _ in boxed_all(gold)])
    return ", ".join(parts) if parts else None


# ------------------------------------------------------------------------ value runs

_VALUE = (
    r"(?:\$\$[^$]{1,400}\$\$|\$[^$\n]{1,400}\$|\\\([^\n]{1,400}?\\\)"
    r"|\\[dt]?frac\{-?\d{1,30}\}\{-?\d{1,30}\}|[-+\u2212]?\d[\d,]*(?:\.\d+)?%?|[-+\u2212]?\.\d+)"
)
_JOINER = r"(?:,(?=\s)|;|\bor\b|\band\b|\\text\{\s*(?:or|and)\s*\}|\\quad|&)"
_RUN_END_RE = re.compile(rf"(?:{_VALUE}\s*{_JOINER}\s*(?:{_JOINER}\s*)?)+$", re.IGNORECASE)
_ONE_VALUE_RE = re.compile(_VALUE)


def _last_value(text: str) -> tuple[str, int] | None:
    """The last number or math span in ``text`` (with its end offset); a run of values
    joined by or/and/commas ending there comes back as ``"a, b, c"``."""
    cands = [c for c in (_last_latex(text), _last_num(text)) if c is not None]
    if not cands:
        return None
    value, end = max(cands, key=lambda c: c[1])
    start = text.rfind(value, 0, end)
    if start < 0:
        return value, end
    head = text[max(0, start - 1) : start]
    if head == "$" or text[max(0, start - 2) : start] == "\\(":
        start -= 1 if head == "$" else 2
        if text[max(0, start - 1) : start] == "$":
            start -= 1
    m = _RUN_END_RE.search(text[max(0, start - 2000) : start])
    if not m:
        return value, end
    values = [clean_answer(v.group(0)) for v in _ONE_VALUE_RE.finditer(m.group(0))]
    values = _distinct([*values, value])
    return (", ".join(values) if len(values) > 1 else value), end


def _last_num(text: str) -> tuple[str, int] | None:
    last = None
    for last in _NUMBER_RE.finditer(text):  # noqa: B007
        pass
    return (_decimal_comma(last.group(0)), last.end()) if last else None


_GOLD_DECIMAL_COMMA_RE = re.compile(r"^[-+]?(?:\d+,\d{2}|0,\d+)$")
_DECIMAL_COMMA_RE = re.compile(r"^([-+\u2212]?\d+),(\d+)$")
# the end of the clause holding the answer: what follows is a new statement
_CLAUSE_END_RE = re.compile(r"[,;!?\n]|\.(?=\s|\$|$)|$")


def gold_decimal_comma(gold: str) -> str:
    """A gold written with a decimal comma (``1,22``, ``0,111``) as a decimal; other commas
    (``1,2`` is a list, ``1,000`` a thousand) are left alone."""
    return gold.replace(",", ".") if _GOLD_DECIMAL_COMMA_RE.match(gold) else gold


def _decimal_comma(number: str) -> str:
    """``1000,99`` -> ``1000.99`` (a comma that is not a thousands separator); ``1 000`` ->
    ``1000``."""
    number = re.sub(r"(?<=\d) (?=\d{3}\b)", "", number)
    m = _DECIMAL_COMMA_RE.match(number)
    if m and not re.match(r"^[-+\u2212]?\d{1,3}(?:,\d{3})+$", number):
        return f"{m.group(1)}.{m.group(2)}"
    return number


# ----------------------------------------------------------------------------- pipeline


def _anchored_end(text: str, pattern: re.Pattern[str], answer: str) -> int:
    last = None
    for last in pattern.finditer(text):  # noqa: B007
        pass
    start = last.end() if last else 0
    pos = text.find(answer, start)
    if pos >= 0:
        return pos + len(answer)
    nl = text.find("\n", start)
    return len(text) if nl < 0 else nl


def _found(text: str, rule: str) -> tuple[str, int, tuple[str, ...]] | None:
    """``(answer, end offset, parts)`` for one rule, or None."""
    if rule == "boxed":
        boxes = boxed_all(text)
        if not boxes:
            return None
        parts = _distinct([b for b, _ in boxes])
        if len(parts) == 1:
            return parts[0], boxes[-1][1], ()
        return ", ".join(parts), boxes[-1][1], tuple(parts)
    if rule == "hash":
        found = _hash(text)
        if found is None:
            return None
        pos = text.rfind("####")
        nl = text.find("\n", pos)
        return found, len(text) if nl < 0 else nl, ()
    if rule in ("final_answer", "answer_is"):
        pattern = _FINAL_RE if rule == "final_answer" else _ANSWER_RE
        found = _anchored(text, pattern)
        if found is None:
            return None
        return found, _anchored_end(text, pattern, found), ()
    if rule in ("last_math", "last_number", "last_latex"):
        if rule == "last_math":
            hit = _last_value(text)
        elif rule == "last_number":
            hit = _last_num(text)
        else:
            hit = _last_latex(text)
        return (hit[0], len(text), ()) if hit else None
    raise ValueError(f"not a final-answer rule: {rule!r}")


def _final_after_boxes(text: str) -> bool:
    """A "final answer" anchor with an answer after the last box (earlier boxes were
    intermediate results; the anchored statement is the final one)."""
    boxes = boxed_all(text)
    last = None
    for last in _FINAL_RE.finditer(text):  # noqa: B007
        pass
    return bool(boxes) and last is not None and last.start() > boxes[-1][1]


def final_answer(text: str, rules: Sequence[str]) -> FinalAnswer | None:
    """The response's final answer by the first rule in ``rules`` that finds one.

    ``math_verify`` and ``choice`` are handed to :func:`extract_by_rules` unchanged.
    """
    rules = list(rules)
    if "boxed" in rules and "final_answer" in rules and _final_after_boxes(text):
        rules.remove("final_answer")  # "Final answer: x" after the boxes supersedes them
        rules.insert(rules.index("boxed"), "final_answer")
    for rule in rules:
        if rule in ("math_verify", "choice"):
            found = extract_by_rules(text, [rule])
            if found is not None:
                return FinalAnswer(found[0], found[1])
            continue
        hit = _found(text, rule)
        if hit is None or not hit[0].strip():
            continue
        answer, end, parts = hit
        trailing = None
        clause = _CLAUSE_END_RE.search(text, end) if end < len(text) else None
        after = _last_value(text[clause.end() :]) if clause else None
        if after is not None and any(ch.isdigit() for ch in after[0]):
            later = _decimal_comma(clean_answer(after[0]))
            if later and canonical(later) != canonical(answer):
                if not parts or canonical(later) not in {canonical(p) for p in parts}:
                    trailing = later
        return FinalAnswer(answer.strip(), rule, parts, trailing)
    return None
