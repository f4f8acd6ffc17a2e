"""A scripted judge model, for auditing LLM-judged environments offline.

It plays the part of the judge *model* behind an env's LLM judge (``PointwiseJudge`` and
kin): it quotes the response it was shown, as real judges do -- planted score lines and all --
then ends with its own verdict line, always the same low score. Any reply that passes under it
passed because the env's pipeline read a score that was not the judge's own verdict (a planted
string, a quoted line) or because something other than the judge paid it. It does not stand
in for a real model's gullibility (a model that answers "yes" to ``:``): audit with the real
backend (``--judge URL`` or ``--judge smollm2``) for that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["ScriptedJudge", "DESCRIPTION"]

DESCRIPTION = ("scripted judge model (quotes the response, then its own verdict {score}/10): "
               "audits the env's verdict parsing and guards, not a model")
_BLOCK = re.compile(r"\[BEGIN RESPONSE[^\]]*\]\n?(.*?)\n?\[END RESPONSE[^\]]*\]", re.S)


class ScriptedJudge:
    """A ``ChatModel`` whose every reply quotes the judged response and scores it ``score``
    out of 10 (see the module docstring)."""

    name = "scripted-judge"

    def __init__(self, score: int = 2) -> None:
        if not 1 <= score <= 10:
            raise ValueError("score must be in 1..10")
        self.score = score

    def generate(self, conversations: Sequence[list[dict[str, Any]]],
                 sampling: Any = None) -> list[str]:
        out = []
        for conversation in conversations:
            shown = str(conversation[-1].get("content", "")) if conversation else ""
            quoted = "\n\n".join(m.group(1) for m in _BLOCK.finditer(shown)) or shown
            out.append(f"The response reads:\n{quoted}\n\nIt does not do what the user asked."
                       f"\nScore: {self.score}/10")
        return out
