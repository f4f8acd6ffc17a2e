"""The final answer of a tool-environment reply, on the math room's one definition.

:func:`judges.math.final.final_answer` defines "the final answer" everywhere: **the last
committed answer outside any thinking block**, read from the reader's view
(:func:`judges.math.reader.reader_view`: invisible characters dropped, look-alike letters read
as ASCII). The tool environments ask for ``\\boxed{}``, so here, by construction:

* the reply is read as :func:`judges.math.final.outside_thinking` of its reader's view: a box
  inside ``<think>`` is scratch work, and a reply that ends inside an unclosed thinking block
  has no final answer;
* **every non-empty box is its answer**: boxes that say different things (under the task's
  own normal form, ``key``) commit to none. The same value boxed twice, or written two ways
  the task accepts as equal (``\\boxed{1,234}`` and ``\\boxed{1234}``), is one answer;
* a hedge or a joined value right after the last box (``\\boxed{42} or so``, ``\\boxed{42} or
  41``, ``\\boxed{Lusk} or Ost``) is part of it, and a hedge in the words around it
  ("approximately \\boxed{42}") makes it no answer (the tasks' golds are values and names,
  never hedged);
* a **later committed answer of another form** (``the answer is X``, ``#### X``, ``Final
  Answer: X``) that differs from the boxes is part of the answer set: it must be right as
  well, so neither order of a recant pays.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from judges.math.final import boxed_all, final_answer, outside_thinking
from judges.math.hedge import hedge_in
from judges.math.reader import reader_view

__all__ = ["Committed", "boxed_contents", "committed", "committed_answer", "reply_view"]

_BOXED = re.compile(r"\\boxed\s*\{")
_ANY_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE_RE = re.compile(r"[{}]")
_LATER = ("hash", "final_answer", "answer_is")  # committed forms other than the box
# values joined to the last box in its sentence: "\\boxed{Lusk} or Ost", "\\boxed{Lusk} / Ost",
# "\\boxed{42}, 41", "\\boxed{42} 41", "\\boxed{Lusk}; Ost" (a number, or a name after a comma);
# the math definition already joins values and hedges with words ("\\boxed{42} or so").
# Possessive runs: linear on hostile text.
_CLOSERS = r"(?:[ \t$*()]|\\[)\]])*+"
_JOIN_RE = re.compile(
    rf"{_CLOSERS}(?:(?P<sep>[,;]){_CLOSERS})?+"
    r"(?:(?i:or|nor|vs\.?|versus)(?!\w)|/|(?=[-+\u2212]?\d)|(?(sep)(?=[A-Z])(?!I\b)|(?!)))"
    r"[^.,;!?\n]{0,200}"
)
_JOIN_LEAD_RE = re.compile(r"^(?:[ \t$*(),;]|\\[)\]])*+")
_PROSE_RE = re.compile(r",\s+(?=[^\W\d_])")  # "Lusk, a river in the north": the clause ends


def _boxes(text: str, pattern: re.Pattern[str]) -> list[str]:
    """The contents of every balanced box ``pattern`` opens in ``text``, in order; a box inside
    a box is part of the outer one; an unclosed box is not an answer. One pass over the
    braces (linear: thousands of unclosed boxes cost no more than their length)."""
    starts = {m.end() - 1 for m in pattern.finditer(text)}
    stack: list[int] = []
    spans: list[tuple[int, int]] = []
    for m in _BRACE_RE.finditer(text):
        if m.group(0) == "{":
            stack.append(m.start())
        elif stack and (opened := stack.pop()) in starts:
            spans.append((opened + 1, m.start()))
    out, covered = [], -1
    for start, end in sorted(spans):
        if start > covered:
            out.append(text[start:end])
            covered = end
    return out


def boxed_contents(text: str) -> list[str]:
    """The contents of every balanced ``\\boxed{...}`` in ``text``, in order (nested boxes are
    part of their outer box; an unclosed box is not an answer)."""
    return _boxes(text, _BOXED)


def reply_view(text: str) -> str | None:
    """What a reader judges: the reader's view of ``text`` without its thinking blocks; None
    when the reply ends inside an unclosed one."""
    return outside_thinking(reader_view(text))


@dataclass(frozen=True)
class Committed:
    """What a reply commits to.

    answer: the boxes' answer (the last box, with a hedge or joined value right after it),
        or None;
    later: committed answers of another form after the last box whose ``key`` differs from
        it (each is cut at its first clause: "Lusk, a river" is "Lusk"): each must be right
        as well;
    problem: why there is no answer, when ``answer`` is None.
    """

    answer: str | None
    later: tuple[str, ...] = ()
    problem: str | None = None


def committed(text: str, key: Callable[[str], Hashable]) -> Committed:
    """The answer ``text`` commits to under the task's normal form ``key``."""
    body = reply_view(text)
    if body is None:
        return Committed(None, problem="the reply ends inside an unclosed thinking block: "
                         "no final answer")
    boxes = boxed_all(body)
    if not boxes:
        if _ANY_BOX.search(body):
            return Committed(None, problem="empty or unclosed \\boxed{} answer")
        if _ANY_BOX.search(reader_view(text)):
            return Committed(None, problem="\\boxed{} only inside a thinking block: no final answer")
        return Committed(None, problem="no \\boxed{} answer found")
    # every box, not only the last 64 that boxed_all reads
    keys = {key(b) for b in [*(b for b, _, _ in boxes), *_boxes(body, _ANY_BOX)] if b.strip()}
    if len(keys) > 1:
        shown = ", ".join(repr(b[:40]) for b, _, _ in boxes[:4])
        return Committed(None, problem=f"{len(keys)} different boxed answers ({shown}): a reply "
                         "that boxes several answers commits to none")
    last, _, end = boxes[-1]
    read = final_answer(body[boxes[-2][2] if len(boxes) > 1 else 0 :], ("boxed",))
    answer = read.answer if read is not None else last  # "42 or so": the hedge is part of it
    hedge = hedge_in(f"{read.answer} {read.context}") if read is not None else None
    if hedge is not None and hedge_in(last) is None:
        return Committed(None, problem=f"a hedged answer ({hedge}) is not a value")
    joined = _JOIN_RE.match(body, end)
    if joined is not None and answer == last:  # "42; 41": never read as one number
        answer = f"{last}; {_JOIN_LEAD_RE.sub('', joined.group(0)).strip()}"
    after = final_answer(body[end:], _LATER)
    later: tuple[str, ...] = ()
    if after is not None:
        stated = _PROSE_RE.split(after.answer, maxsplit=1)[0].strip()
        if stated and key(stated) != key(last):
            later = (stated,)
    return Committed(answer, later)


def committed_answer(text: str, key: Callable[[str], Hashable]) -> tuple[str | None, str | None]:
    """``(answer, None)`` when the reply commits to one answer under ``key`` (every box and
    every later committed answer agree); ``(None, reason)`` otherwise."""
    got = committed(text, key)
    if got.answer is None:
        return None, got.problem
    if got.later:
        return None, (f"the boxed answer {got.answer[:40]!r} is followed by another committed "
                      f"answer {got.later[0][:40]!r}: a reply that commits to two answers "
                      "commits to none")
    return got.answer, None
