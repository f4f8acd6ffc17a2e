"""The response's final answer: one definition, used by every caller.

**The final answer is the last committed answer outside any thinking block.**

* *Thinking blocks* (``<think>...</think>``, ``<thinking>``, ``<thought>``, ``<reasoning>``) are scratch
  work and removed first. A closing tag without its opening one (the opening tag was in the
  prompt) ends the thinking: everything before it goes. An opening tag that is never
  closed means the response is still thinking: it has no final answer.
* *Committed answers* are the containers: ``\\boxed{}`` (all boxes together are one
  answer; several distinct boxes are the set ``{a, b}``), ``#### x``, "Final Answer: x"
  and "the answer is x" / "Answer: x". The one that starts last is the final answer,
  whatever its form. ``extract`` rules name the containers the caller *accepts* (an env
  that wants ``\\boxed{}``): the last accepted one is the answer, and a later committed
  answer of another kind must agree with it.
* Without any committed answer, the fallback rules (``last_math``, ``last_number``,
  ``last_latex``, ``math_verify``, ``choice``) are tried in the caller's order.
* Whatever is stated after the answer is judged too: a different value (a later committed
  answer, the last value stated after it, a value joined to it in its clause) must be right
  as well, so neither order of a recant pays; a hedge or connective right after it
  ("\\boxed{42} or so", "42, ...") is part of it. Values used inside a description ("after
  3 days") and an answer's qualifiers ("\\pmod{11}") are not stated values
  (:mod:`judges.math.after`).

:mod:`judges.math.hedge` then decides whether what was committed is one value at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from judges.math.after import (
    _CLAUSE_END_RE,
    _MAX_REST,
    _tail_of_clause,
    _unmarked,
    in_other_variables,
    is_stated,
    value_spans,
)
from judges.math.extract import (
    _ANSWER_RE,
    _FINAL_RE,
    _MAX_TAIL,
    _NUMBER_RE,
    _boxed_at,
    _hash,
    _last_latex,
    anchored_tail,
    box_starts,
    choice_fallback,
    clean_answer,
    to_choice,
)
from judges.math.reader import reader_view

__all__ = [
    "FinalAnswer",
    "final_answer",
    "outside_thinking",
    "gold_boxes",
    "gold_decimal_comma",
    "canonical",
]

_CANON_RE = re.compile(r"\s+|\\(?:left|right)(?![A-Za-z])|\\[!,;: ]|\$|\\(?:d|t)(?=frac)")
COMMITTED = ("boxed", "hash", "final_answer", "answer_is")
FALLBACKS = ("last_math", "last_number", "last_latex", "math_verify", "choice")


def canonical(answer: str) -> str:
    """Whitespace, ``\\left``/``\\right``, spacing commands and ``$`` removed."""
    return _CANON_RE.sub("", clean_answer(answer))


@dataclass(frozen=True)
class FinalAnswer:
    """What a response commits to.

    answer: the answer to compare (several distinct boxes joined as ``a, b``; a hedge or
        connective stated right after it appended);
    rule: the container or fallback rule that holds it;
    parts: the distinct boxes when there are several (each is also tried alone: all of them
        must equal the gold for that reading to pass);
    trailing: a different value stated or committed after the answer (must be right as
        well), or None;
    context: the words around the answer that may hedge it ("approximately" before a last
        number), read by :func:`judges.math.hedge.not_a_value`.
    """

    answer: str
    rule: str
    parts: tuple[str, ...] = ()
    trailing: str | None = None
    context: str = ""


# ---------------------------------------------------------------------- thinking blocks

_THINK_RE = re.compile(r"<(/?)(think|thinking|thought|reasoning)\s*>", re.IGNORECASE)


def outside_thinking(text: str) -> str | None:
    """``text`` without its thinking blocks; None when it ends inside an unclosed one."""
    out: list[str] = []
    depth, pos = 0, 0
    for m in _THINK_RE.finditer(text):
        if m.group(1):  # a closing tag
            if depth == 0:  # opened in the prompt: everything so far was thinking
                out = []
            else:
                depth -= 1
            pos = m.end()
            out.append("\n")
        else:
            if depth == 0:
                out.append(text[pos : m.start()])
            depth += 1
    if depth > 0:
        return None
    out.append(text[pos:])
    return "".join(out)


# ------------------------------------------------------------------------------- boxes


def boxed_all(text: str, limit: int = _MAX_TAIL) -> list[tuple[str, int, int]]:
    """Every non-empty ``\\boxed{}``/``\\fbox{}`` (the last 64), first to last, as
    ``(content, start, end)``; a box inside a box is part of the outer one."""
    out: list[tuple[str, int, int]] = []
    covered = -1
    for pos, cmd in reversed(box_starts(text)):
        if pos < covered:
            continue
        content = _boxed_at(text, pos, cmd, limit)
        if content is None or not content.strip():
            continue
        close = text.find(content, pos) + len(content) + 1
        covered = close
        out.append((content.strip(), pos, close))
    return out


def _distinct(values: Sequence[str]) -> list[str]:
    seen: dict[str, str] = {}
    for v in values:
        seen.setdefault(canonical(v), v.strip())
    return list(seen.values())


def gold_boxes(gold: str) -> str | None:
    """A gold solution's boxed answer; several distinct boxes are one set ``a, b``."""
    parts = _distinct([b for b, _, _ in boxed_all(gold)])
    return ", ".join(clean_answer(p) for p in parts) if parts else None


# ------------------------------------------------------------------------ value runs

_VALUE = (
    r"(?:\$\$[^$]{1,400}\$\$|\$[^$\n]{1,400}\$|\\\([^\n]{1,400}?\\\)"
    r"|\\[dt]?frac\{-?\d{1,30}\}\{-?\d{1,30}\}|[-+\u2212]?\d[\d,]*(?:\.\d+)?%?|[-+\u2212]?\.\d+)"
)
_JOINER = r"(?:,(?=\s)|;|\bor\b|\band\b|\\text\{\s*(?:or|and)\s*\}|\\quad|&)"
_RUN_END_RE = re.compile(rf"(?:{_VALUE}\s*{_JOINER}\s*(?:{_JOINER}\s*)?)+$", re.IGNORECASE)
_ONE_VALUE_RE = re.compile(_VALUE)


def _last_value(text: str) -> tuple[str, int, int] | None:
    """The last number or math span in ``text`` as ``(value, start, end)``; a run of values
    joined by or/and/commas ending there comes back as ``"a, b, c"``."""
    cands = [c for c in (_last_latex(text), _last_num(text)) if c is not None]
    if not cands:
        return None
    value, end = max(cands, key=lambda c: c[1])
    start = text.rfind(value, 0, end)
    if start < 0:
        return value, end, end
    head = text[max(0, start - 1) : start]
    if head == "$" or text[max(0, start - 2) : start] == "\\(":
        start -= 1 if head == "$" else 2
        if text[max(0, start - 1) : start] == "$":
            start -= 1
    m = _RUN_END_RE.search(text[max(0, start - 2000) : start])
    if not m:
        return value, start, end
    values = [clean_answer(v.group(0)) for v in _ONE_VALUE_RE.finditer(m.group(0))]
    values = _distinct([*values, value])
    return (", ".join(values) if len(values) > 1 else value), start - len(m.group(0)), end


def _last_num(text: str) -> tuple[str, int] | None:
    last = None
    for last in _NUMBER_RE.finditer(text):  # noqa: B007
        pass
    return (_decimal_comma(last.group(0)), last.end()) if last else None


_GOLD_DECIMAL_COMMA_RE = re.compile(r"^[-+]?(?:\d+,\d{2}|0,\d+)$")
_DECIMAL_COMMA_RE = re.compile(r"^([-+\u2212]?\d+),(\d+)$")


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


# ------------------------------------------------------------------------- containers


@dataclass(frozen=True)
class _Hit:
    rule: str
    answer: str
    start: int
    end: int
    parts: tuple[str, ...] = ()


def _last_anchor(text: str, pattern: re.Pattern[str], boxes: list[tuple[int, int]]) -> _Hit | None:
    last = None
    for m in pattern.finditer(text):
        if not any(s < m.start() < e for s, e in boxes):  # "answer:" inside a box: the box
            last = m
    if last is None:
        return None
    found = anchored_tail(text, last.end())
    if found is None:
        return None
    pos = text.find(found, last.end())
    if pos >= 0:
        end = pos + len(found)
    else:
        nl = text.find("\n", last.end())
        end = len(text) if nl < 0 else nl
    rule = "final_answer" if pattern is _FINAL_RE else "answer_is"
    return _Hit(rule, found, last.start(), end)


def _committed(text: str) -> list[_Hit]:
    """The last committed answer of each container kind found in ``text``."""
    hits: list[_Hit] = []
    boxes = boxed_all(text)
    if boxes:
        parts = _distinct([b for b, _, _ in boxes])
        several = tuple(parts) if len(parts) > 1 else ()
        hits.append(_Hit("boxed", ", ".join(parts), boxes[-1][1], boxes[-1][2], several))
    spans = [(s, e) for _, s, e in boxes]
    found = _hash(text)
    if found is not None:
        pos = text.rfind("####")
        nl = text.find("\n", pos)
        hits.append(_Hit("hash", found, pos, len(text) if nl < 0 else nl))
    for pattern in (_FINAL_RE, _ANSWER_RE):
        hit = _last_anchor(text, pattern, spans)
        if hit is not None:
            hits.append(hit)
    return [h for h in hits if h.answer.strip()]


def _fallback(text: str, rule: str, choices: Sequence[str] | None) -> _Hit | None:
    if rule == "math_verify":
        return _Hit(rule, "", 0, len(text))
    if rule == "choice":
        found = choice_fallback(text, choices) if choices else None
        return _Hit(rule, found, 0, len(text)) if found else None
    if rule == "last_math":
        hit = _last_value(text)
    elif rule == "last_number":
        num = _last_num(text)
        hit = (num[0], text.rfind(num[0], 0, num[1]), num[1]) if num else None
    elif rule == "last_latex":
        span = _last_latex(text)
        hit = (span[0], text.rfind(span[0], 0, span[1]), span[1]) if span else None
    else:
        raise ValueError(f"not a final-answer rule: {rule!r}")
    return _Hit(rule, hit[0], max(0, hit[1]), hit[2]) if hit and hit[0].strip() else None


# ------------------------------------------------------------------------------ after it

# a bound or approximation right before a container ("\equiv \boxed{9}", "\implies \boxed{4}" are fine)
_BOUND_RE = re.compile(
    r"\\(?:neq?|approx|sim|simeq|leq?q?|geq?q?|leqslant|geqslant|lt|gt|ll|gg)|[<>\u2260\u2248\u2264\u2265]|!="
)
_REST_NOISE_RE = re.compile(r"\$|\\[()\[\]]|\\(?:left|right)\b|[()\[\]]")
_MATH_DELIM_RE = re.compile(r"\$|\\[()\[\]]")
_WORDS_BEFORE_RE = re.compile(r"(?:[^\s,;.!?]+[ \t]*){0,3}$")


def _words_before(text: str, start: int) -> str:
    """Up to three words before ``start`` on its line ("approximately $\\boxed{42}$")."""
    m = _WORDS_BEFORE_RE.search(text, max(0, start - 120), start)
    return m.group(0) if m else ""


_MAX_DESCRIBED = 64


def _last_spans(text: str, pos: int) -> list[tuple[int, int]]:
    """The value spans after ``pos``, enough of the last ones to read (scanned from the end
    in growing windows: linear in what is read, not in the reply)."""
    size = 8192
    while True:
        low = max(pos, len(text) - size)
        spans = list(value_spans(text, low))
        if low == pos or len(spans) > _MAX_DESCRIBED + 2:
            return spans if low == pos else spans[1:]  # the first may be cut by the window
        size *= 4


def _stated_after(text: str, pos: int, answer: str, parts: Sequence[str]) -> str | None:
    """The last value stated after ``pos`` (:func:`judges.math.after.is_stated`: values used
    inside a description are passed over) when it differs from the answer, or None. A reply
    whose last value is its answer again ends on its answer."""
    same = {canonical(answer), *(canonical(p) for p in parts)}
    passed_over = 0
    for start, end in reversed(_last_spans(text, pos)):
        if canonical(_decimal_comma(clean_answer(text[start:end]))) in same:
            return None
        described = not is_stated(text, start, end, pos)
        if passed_over < _MAX_DESCRIBED and (
            described or in_other_variables(text[start:end], answer)
        ):
            passed_over += 1  # bounded: past that many, a value is read as stated
            continue
        after = _last_value(text[pos:end])  # with a run of values joined before it
        if after is None or not any(ch.isdigit() for ch in after[0]):
            return None
        later = _decimal_comma(clean_answer(after[0]))
        return later if later and canonical(later) not in same else None
    return None


def _joined_in_clause(
    text: str, end: int, stop: int, answer: str, parts: Sequence[str]
) -> str | None:
    """A value in the rest of the answer's clause (``text[end:stop]``) that is another value
    joined to the answer, whatever joins it ("\\boxed{42} else 41", "vs 41", "| 41"), or None;
    the answer's qualifiers ("\\pmod{11}", "cm^2") and descriptions ("apples after 3 days")
    are not values."""
    same = {canonical(answer), *(canonical(p) for p in parts)}
    for start, close in value_spans(text, end, stop):
        value = _decimal_comma(clean_answer(text[start:close]))
        if canonical(value) not in same and is_stated(text, start, close, end, clause=True):
            return value
    return None


# ------------------------------------------------------------------------------- the rule


def final_answer(
    text: str, rules: Sequence[str], choices: Sequence[str] | None = None
) -> FinalAnswer | None:
    """The final answer of ``text``: the last committed answer outside any thinking block
    of a kind in ``rules`` (else the first fallback rule that finds one), or None.

    With ``choices`` the answer is a choice letter (several distinct letters in it are kept
    in ``parts``: a hedge).
    """
    body = outside_thinking(reader_view(text))  # invisible and look-alike letters read as seen
    if body is None:
        return None
    hits = _committed(body)
    accepted = [h for h in hits if h.rule in rules]
    chosen = max(accepted, key=lambda h: h.start) if accepted else None
    if choices:
        return _choice_answer(body, chosen, rules, choices)
    if chosen is None:
        for rule in rules:
            if rule in FALLBACKS and rule != "choice":
                fb = _fallback(body, rule, None)
                if fb is not None:
                    context = _words_before(body, fb.start)
                    return FinalAnswer(fb.answer.strip(), rule, context=context)
        return None
    answer = chosen.answer.strip()
    later = [h for h in hits if h.start > chosen.start]
    trailing = None
    if later:
        last = max(later, key=lambda h: h.start)
        if canonical(last.answer) not in {canonical(answer), *(canonical(p) for p in chosen.parts)}:
            trailing = clean_answer(last.answer)
    rest = _tail_of_clause(body, chosen.end)
    if rest and not chosen.parts:
        answer = f"{answer} {_REST_NOISE_RE.sub(' ', rest).strip()}"  # "42 (or 41)": "42 or 41"
    before = _words_before(body, chosen.start)
    words = _MATH_DELIM_RE.sub(" ", before).split()
    if words and _BOUND_RE.fullmatch(words[-1]) and not chosen.parts:  # "x \geq \boxed{42}"
        answer = f"{words[-1]} {answer}"
    view = _unmarked(body)  # read as rendered after the answer (same positions)
    after = chosen.end + len(rest)
    clause = _CLAUSE_END_RE.search(view, after, min(len(view), after + _MAX_REST))
    if trailing is None and clause is not None:
        trailing = _stated_after(view, clause.end(), chosen.answer, chosen.parts)
    if trailing is None and clause is not None and not rest:  # "\boxed{42} else 41"
        trailing = _joined_in_clause(view, after, clause.start(), chosen.answer, chosen.parts)
    return FinalAnswer(answer, chosen.rule, chosen.parts, trailing, f"{before} {rest}")


_LETTER_RE = re.compile(r"(?<![A-Za-z\\])\(?([A-Z])\)?(?![A-Za-z])")
# another choice joined after the answer's container: "\boxed{A} (or B)", "**or maybe (B)**"
_CHOICE_JOIN_RE = re.compile(
    r"[\s$(){}\[\]~,]*(?i:or|and|/|;|\\text\{\s*(?:or|and)\s*\})\s*(?i:[a-z]+\s+){0,2}"
    r"[\s$(]*\(?([A-Z])\)?(?![A-Za-z])"
)


def _choice_answer(
    body: str, chosen: _Hit | None, rules: Sequence[str], choices: Sequence[str]
) -> FinalAnswer | None:
    if chosen is not None:
        texts = list(chosen.parts) or [chosen.answer]
        letters = [to_choice(t, choices) for t in texts]
        if all(letters):
            named = {m.group(1) for t in texts for m in _LETTER_RE.finditer(t)}
            joined = _CHOICE_JOIN_RE.match(_unmarked(body[chosen.end : chosen.end + _MAX_REST]))
            if joined:  # read as rendered, as for values (_tail_of_clause)
                named.add(joined.group(1))
            named = {c for c in choices if c.upper() in named} | {str(x) for x in letters}
            parts = tuple(sorted(named)) if len(named) > 1 else ()
            return FinalAnswer(str(letters[-1]), chosen.rule, parts)
    if "choice" in rules:
        found = choice_fallback(body, choices)
        if found:
            return FinalAnswer(found, "choice")
    return None
