"""Attack families for instruction-following tasks (IFEval-like): responses that violate the
task's instructions, plain and disguised with look-alike and invisible characters.

A violating response is made from a compliant one (``judges.ifeval.build_witness``) by an edit
(a comma added, the case changed, forbidden words inserted, required words dropped, the text
cut, repeated or stripped of its marks), and kept only when the library's own checker reads the
plain edited text as violating: the checker is the oracle for plain ASCII text, the env's
judge is what is audited. The disguised copy looks like the violating text to a reader, so it
must fail too."""

from __future__ import annotations

import random
import re

from rlenvs.audit.context import TaskView
from rlenvs.audit.family import Family, disguise

__all__ = ["FAMILIES", "witness", "violations", "disguised_violations"]

TEXT = frozenset({"instructions"})
NO_INSTRUCTIONS = "the task has no instructions to violate"


def witness(view: TaskView, answer_task: bool = True) -> str | None:
    """A response that follows the task's instructions (and answers its base task, if it
    names one and ``answer_task``), or ``None`` where the builder has no construction."""
    from judges.ifeval import build_witness

    base = view.task.get("base_task") if answer_task else None
    try:
        return build_witness(view.instruction_ids, view.instruction_kwargs,
                             prompt=view.prompt if base else None,
                             base_task=base if isinstance(base, str) else None)
    except (ValueError, KeyError, TypeError):
        return None


def _edits(text: str, view: TaskView, rng: random.Random) -> list[str]:
    words = text.split(" ")
    mid = len(words) // 2
    out = [" ".join(words[:mid]) + ", " + " ".join(words[mid:]),  # a comma
           text.upper(), text.lower(), text.title(),
           text[: max(1, len(text) // 4)], " ".join([text] * 4),
           text.rsplit("\n", 1)[0], text.strip('"{}[]* \n'), text.replace("*", ""),
           re.sub(r"\n\s*\n", " ", text), text + "\nP.S. one more thing, by the way.",
           "Note: " + text, text.replace("\n", " ")]
    for kw in view.instruction_kwargs:
        for word in kw.get("forbidden_words") or []:
            out.append(f"{text} {word} {word.upper()}")
        for word in kw.get("keywords") or []:
            out.append(re.sub(re.escape(word), "", text, flags=re.I))
        if isinstance(kw.get("keyword"), str):
            out.append(re.sub(re.escape(kw["keyword"]), "", text, flags=re.I))
            out.append(text + (" " + kw["keyword"]) * 12)
        if isinstance(kw.get("end_phrase"), str):
            out.append(text + " And that is all.")
    return out


def violations(view: TaskView, rng: random.Random) -> list[str]:
    """Edits of a compliant response that the library's checker reads as violating."""
    from judges.ifeval import check_instructions

    text = witness(view, answer_task=False)
    if text is None:
        return []
    found = []
    for edited in dict.fromkeys(_edits(text, view, rng)):
        if edited.strip() and not check_instructions(edited, view.instruction_ids,
                                                     view.instruction_kwargs).passed:
            found.append(edited)
    return found


def _violations(view: TaskView, rng: random.Random) -> list[str]:
    return violations(view, rng)


def disguised_violations(view: TaskView, rng: random.Random) -> list[str]:
    """The violating responses disguised: look-alikes and invisible characters, or only
    invisible ones."""
    replies = []
    for text in violations(view, rng):
        replies.append(disguise(text, rng, rate=0.6, invisible=0.2))
        replies.append(disguise(text, rng, rate=0.0, invisible=0.3))
    return replies


_NO_WITNESS = "no compliant response could be built for these instructions to edit"
FAMILIES = [
    Family("violations", "responses that violate the instructions (edits of a compliant one, "
           "checked against the library's reading of the plain text)", TEXT, _violations,
           NO_INSTRUCTIONS, cap=8, none=_NO_WITNESS),
]
