"""What is not one committed value: relations, hedges, trailing-off and joined values.

A policy under RL pressure offers several values ("11 or 12"), trails off ("42, \\ldots",
"42 or so"), approximates ("approximately 42", "\\approx 42") or boxes a relation
("x \\geq 42") hoping that a parser reads only the value it needs. The rule here, for the
final answer whatever its container:

* a **relation or logic symbol** (``\\neq``, ``<``, ``\\approx``, ``\\lor`` ...) or a
  **hedge** (``etc``, ``\\ldots``, ``...``, "or so", "approximately", "about", ``\\pm``,
  "at least", "either" ...) makes the answer not a value -- unless the gold holds one
  too (an inequality gold, a sequence gold ending in ``\\ldots``, a ``\\pm`` gold);
* **joined values** ("a or b", "a and b", ``a \\text{ or } b``, "a; b") are one list
  ``a, b``: right only for a gold that is the same list (:func:`joined_as_list` is applied
  to the gold and the answer alike).
"""

from __future__ import annotations

import re

__all__ = [
    "relation_in",
    "relation_refused",
    "hedge_in",
    "hedge_span",
    "hedge_at_start",
    "not_a_value",
    "joined_values",
    "joined_as_list",
]

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

# an answer that trails off, approximates, bounds or hesitates
_HEDGE_RE = re.compile(
    r"\\(?:[lc]?dots[bcimo]?|pm|mp)(?![A-Za-z])|\.\.\.|[\u2026\u22ef\u00b1\u2213]"
    r"|(?<![\w\\])(?:etc|et\s+cetera|approx(?:\.|imately)?|about|around|roughly"
    r"|nearly|almost|circa|or\s+so|more\s+or\s+less|maybe|perhaps|probably|possibly|likely"
    r"|either|at\s+(?:least|most)|(?:more|less|fewer|greater|smaller|bigger)\s+than"
    r"|up\s+to|close\s+to|between|unknown|unsure|undetermined|some(?:thing|where)?"
    # a bound spelled after the value ("42 or more", "42 and up"), at the end of its clause
    r"|(?:or\s+(?:more|less|fewer|greater|higher|lower|above|below|over|under|larger|smaller)"
    r"|and\s+(?:up|above|over|below|under))(?=\s*(?:[.,;:!?)}$\\]|$)))(?!\w)"
    r"|(?<![\w}])~\s*[-+]?\d|(?<=\d)\s*-?ish(?!\w)|(?<![\w\\])ish(?!\w)",
    re.IGNORECASE,
)

# connectives between values, by kind: "a or b", "a and b", "a; b", "a \quad b"
_TEXT = r"\\(?:text|textrm|textnormal|mathrm|mbox)\{\s*"
_JOINERS = {
    "or": rf"{_TEXT}or\s*\}}|(?<![\w\\])or(?!\w)|\\(?:lor|vee)(?![A-Za-z])",
    "and": rf"{_TEXT}and\s*\}}|(?<![\w\\])and(?!\w)",
    ";": r";",
    "quad": r"\\q?quad(?![A-Za-z])",
}
_JOINER_RES = {k: re.compile(rf"\s*(?:{v})\s*", re.IGNORECASE) for k, v in _JOINERS.items()}


def relation_in(text: str) -> str | None:
    """The first relation or logic symbol in ``text`` (other than ``=``), or None."""
    m = _RELATION_RE.search(text)
    return m.group(0) if m else None


def hedge_in(text: str) -> str | None:
    """The first hedge in ``text`` (``etc``, ``\\ldots``, "approximately", ``\\pm`` ...),
    or None."""
    m = _HEDGE_RE.search(text)
    return m.group(0).strip() if m else None


def hedge_span(text: str) -> int | None:
    """Where the first hedge in ``text`` ends, or None."""
    m = _HEDGE_RE.search(text)
    return m.end() if m else None


def hedge_at_start(text: str) -> bool:
    """Whether ``text`` starts with a hedge ("or so", ``\\ldots``, "approximately" ...)."""
    return _HEDGE_RE.match(text) is not None


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


def not_a_value(pred: str, gold: str) -> str | None:
    """Why ``pred`` is not a value to compare with ``gold`` (a relation or a hedge the gold
    does not share), or None."""
    rel = relation_refused(pred, gold)
    if rel is not None:
        return f"a relation ({rel}) is not a value"
    hedge = hedge_in(pred)
    if hedge is not None and hedge_in(gold) is None:
        return f"a hedged answer ({hedge}) is not a value"
    if "?" in pred and "?" not in gold:  # "42?", a box holding "?" next to the value
        return "a questioned answer (?) is not a value"
    return None


def joined_values(answer: str, gold: str = "") -> list[str]:
    """The values of ``a or b`` / ``a and b`` / ``a \\text{ or } b`` / ``a; b`` (one value when
    nothing joins them). A kind of connective the gold itself uses (``x = 1 \\text{ or } x =
    2``, ``p=5,q=2; p=7,q=2``) is left as it is, so that both sides are read the same way."""
    parts = [answer]
    for pattern in _JOINER_RES.values():
        if pattern.search(gold):
            continue
        parts = [q.strip().rstrip(",").strip() for p in parts for q in pattern.split(p)]
        parts = [q for q in parts if q]
    return parts or [answer]


def joined_as_list(answer: str, gold: str = "") -> str:
    """Joined values written as the list ``a, b``: several values are a list (right for the
    same list), or one value written several ways (each must be right: ``\\frac{1}{2}, or
    50\\%``), never one of them."""
    return ", ".join(joined_values(answer, gold))
