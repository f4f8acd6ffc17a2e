"""The final answer of a tool-environment reply: the one value every ``\\boxed{}`` commits to.

A policy paid for "the last box" can box several candidates (``\\boxed{Ost} ... \\boxed{Lusk}``)
and let the reader pick; a policy paid for "any box" can do the same the other way round. The
rule here, by construction: **every non-empty box of the reply is its answer**, so a reply whose
boxes say different things (under the task's own notion of "the same answer") commits to none
and is wrong. The same value boxed twice, or written two ways the task accepts as equal
(``\\boxed{1,234}`` and ``\\boxed{1234}``), is still one answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable

__all__ = ["boxed_contents", "committed_answer"]

_BOXED = re.compile(r"\\boxed\s*\{")


def boxed_contents(text: str) -> list[str]:
    """The contents of every balanced ``\\boxed{...}`` in ``text``, in order (nested boxes are
    part of their outer box; an unclosed box is not an answer)."""
    out: list[str] = []
    pos = 0
    while (m := _BOXED.search(text, pos)) is not None:
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth:
            pos = m.end()
            continue
        out.append(text[m.end() : i - 1])
        pos = i
    return out


def committed_answer(text: str, key: Callable[[str], Hashable]) -> tuple[str | None, str | None]:
    """``(answer, None)`` when every non-empty box of ``text`` has the same ``key`` (the task's
    normal form of an answer); ``(None, reason)`` when there is no box or the boxes disagree.

    ``answer`` is the last box's content (its ``key`` equals every other box's).
    """
    boxes = [b for b in boxed_contents(text) if b.strip()]
    if not boxes:
        if _BOXED.search(text):
            return None, "empty or unclosed \\boxed{} answer"
        return None, "no \\boxed{} answer found"
    keys = {key(b) for b in boxes}
    if len(keys) > 1:
        shown = ", ".join(repr(b[:40]) for b in boxes[:4])
        return None, (f"{len(keys)} different boxed answers ({shown}): a reply that boxes "
                      "several answers commits to none")
    return boxes[-1], None
