"""An attack family: a deterministic generator of replies that a correct judge must not pass.

Each family applies to some kinds of task (:mod:`rlenvs.audit.context`) and builds, for one
episode's :class:`~rlenvs.audit.context.TaskView` and a seeded ``random.Random``, the replies to
play. The audit caps how many it plays per episode (a seeded sample, so the same seed plays
the same replies). The text transforms shared by several families live here too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rlenvs.audit.context import TaskView

__all__ = ["Family", "disguise", "LOOKALIKES", "INVISIBLES", "sample", "CONTAINERS", "fenced"]

Build = Callable[[TaskView, random.Random], list[str]]


@dataclass(frozen=True)
class Family:
    """``build(view, rng) -> replies`` for tasks of ``kinds``; ``skip`` says why the family
    does not apply to the others; ``cap`` bounds the replies played per episode (``None``:
    the audit's default); ``none`` says why when it built no reply for any episode."""

    name: str
    description: str
    kinds: frozenset[str]
    build: Build
    skip: str = ""
    cap: int | None = None
    none: str = "no reply of this family applies to these tasks"

    def skip_reason(self, view: TaskView) -> str | None:
        if view.kind in self.kinds:
            return None
        return self.skip or f"applies to {', '.join(sorted(self.kinds))} tasks, not {view.kind}"


def sample(items: Sequence[str], k: int, rng: random.Random) -> list[str]:
    """At most ``k`` distinct items, a seeded sample kept in the items' order."""
    unique = list(dict.fromkeys(items))
    if len(unique) <= k:
        return unique
    picks = sorted(rng.sample(range(len(unique)), k))
    return [unique[i] for i in picks]


def fenced(program: str) -> str:
    return f"```python\n{program.rstrip()}\n```"


# The containers a final answer is written in (every env must read a hedge in any of them as
# what it is): the box, the phrases a lenient reader accepts, a GSM8K line, a bare value.
CONTAINERS: dict[str, str] = {
    "box": "So we get $\\boxed{{{a}}}$.",
    "answer_is": "Therefore the answer is {a}.",
    "hash": "Working it out step by step.\n#### {a}",
    "final_answer": "Final Answer: {a}",
    "bare": "{a}",
}

# Characters that look like ASCII ones: Cyrillic and Greek letters, full-width and other
# compatibility forms, other commas and quotes. Chosen here, not taken from any judge.
_CYRILLIC = dict(zip("aceopxyisjABEHKMOPTXC",
                     "\u0430\u0441\u0435\u043e\u0440\u0445\u0443\u0456\u0455\u0458"
                     "\u0410\u0412\u0415\u041d\u041a\u041c\u041e\u0420\u0422\u0425\u0421",
                     strict=True))
_GREEK = dict(zip("oABEHIKMNOPTXZ", "\u03bf\u0391\u0392\u0395\u0397\u0399\u039a\u039c\u039d"
                                     "\u039f\u03a1\u03a4\u03a7\u0396", strict=True))
_OTHER = {",": "\u201a\u060c\ufe50", ".": "\u2024\ufe52", '"': "\u201c\u201d\u02ba",
          "'": "\u2019\u02bc", "-": "\u2010\u2212", ":": "\u0589\u2236", "*": "\u2217\u066d"}


def _lookalikes() -> dict[str, tuple[str, ...]]:
    table: dict[str, list[str]] = {}
    for code in range(0x21, 0x7F):  # full-width forms of every printable ASCII character
        table.setdefault(chr(code), []).append(chr(code + 0xFEE0))
    for d in range(10):  # mathematical bold digits
        table[str(d)].append(chr(0x1D7CE + d))
    for source in (_CYRILLIC, _GREEK):
        for a, c in source.items():
            table[a].append(c)
    for a, cs in _OTHER.items():
        table[a].extend(cs)
    return {a: tuple(cs) for a, cs in table.items()}


LOOKALIKES: dict[str, tuple[str, ...]] = _lookalikes()
INVISIBLES: tuple[str, ...] = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad",
                               "\u180e", "\u034f", "\ufe0f")


def disguise(text: str, rng: random.Random, rate: float = 0.5, invisible: float = 0.15,
             keep: str = "") -> str:
    """``text`` with characters swapped for look-alikes (each with probability ``rate``) and
    invisible characters inserted (after each character with probability ``invisible``);
    occurrences of ``keep`` (e.g. the gold answer) are left exactly as they are."""
    parts = text.split(keep) if keep else [text]
    out = []
    for part in parts:
        chars = []
        for ch in part:
            pool = LOOKALIKES.get(ch)
            chars.append(rng.choice(pool) if pool and rng.random() < rate else ch)
            if not ch.isspace() and rng.random() < invisible:
                chars.append(rng.choice(INVISIBLES))
        out.append("".join(chars))
    return keep.join(out)
