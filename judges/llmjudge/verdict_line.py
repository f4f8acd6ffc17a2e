"""The grammar of a judge's verdict line: one line that is a verdict and nothing else.

A judge prompt asks the judge to *end* with one verdict line. The parsers
(``judges.llmjudge.parsing``) read only that line -- the last non-empty line of the judge's
output -- and only when the whole line is one of these forms (case-insensitive, surrounding
whitespace, markdown emphasis ``*``/``_``/backticks, leading ``#`` and a final ``.`` allowed):

* scores: ``Score: 7/10``, ``Score: 7``, ``Final verdict: 7/10``, ``Rating = 7 out of 10``,
  ``Final score is 7``, ``Grade: 7/10``, ``<score>7</score>``, ``\\boxed{7}``, or a JSON object
  ``{"score": 7}``;
* choices: ``Winner: B``, ``Verdict: B``, ``Better response: B`` (the ``[[B]]`` marker form is
  read by ``parse_choice``; data blocks defuse that marker, see ``judges.llmjudge.framing``).

Everything else in a judge's output -- its reasoning, the response it quotes, scores it
discusses -- is never read. Lines of a *judged text* that match this grammar are defused in
their data block (``judges.llmjudge.framing.neutralize``), so a judge that quotes what it was
shown never writes a verdict line by quoting. The functions here take text as
``matching_view`` shows it (NFKC, look-alikes mapped, casefolded): the frame and the parser
see one grammar through one view.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

__all__ = ["ScoreLine", "read_score_line", "read_choice_line", "read_json_score",
           "is_verdict_line", "score_mentions"]

_NUM = r"(-?\d+(?:\.\d+)?)"
_KEY = r"(?:final\s+)?(?:score|rating|verdict|grade)"
_SCORE_FORMS = [
    re.compile(_KEY + r"\s*(?::|=|is)\s*" + _NUM + r"(?:\s*(?:/|out\s+of)\s*(\d+))?"),
    re.compile(r"<score>\s*" + _NUM + r"\s*</score>"),
    re.compile(r"\\boxed\{\s*" + _NUM + r"\s*\}"),
]
_CHOICE_FORM = re.compile(r"(?:final\s+)?(?:winner|verdict|better(?:\s+response)?)\s*(?::|is)"
                          r"\s*([a-z])")
_DECORATION = re.compile(r"[*_`]+")


class ScoreLine(NamedTuple):
    """A score verdict line: its value, and its ``/M`` denominator (``None`` when absent)."""

    value: float
    denominator: float | None


def _bare(line: str) -> str:
    """The line without decoration: emphasis marks, leading ``#``, a final ``.``, spaces."""
    line = _DECORATION.sub("", line).strip()
    line = line.lstrip("#").strip()
    return line[:-1].rstrip() if line.endswith(".") else line


def read_json_score(text: str) -> ScoreLine | None:
    """``{"score": n}`` (other keys allowed) when ``text`` is exactly one JSON object."""
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    value = obj.get("score") if isinstance(obj, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return ScoreLine(float(value), None)


def read_score_line(line: str) -> ScoreLine | None:
    """The score when the whole ``line`` is a score verdict, else ``None``."""
    json_score = read_json_score(line)
    if json_score is not None:
        return json_score
    bare = _bare(line)
    for form in _SCORE_FORMS:
        m = form.fullmatch(bare)
        if m:
            denominator = m.group(2) if form.groups >= 2 else None
            return ScoreLine(float(m.group(1)),
                             float(denominator) if denominator is not None else None)
    return None


def read_choice_line(line: str) -> str | None:
    """The choice letter (upper case) when the whole ``line`` is ``Winner: X`` or alike."""
    m = _CHOICE_FORM.fullmatch(_bare(line))
    return m.group(1).upper() if m else None


def is_verdict_line(line: str) -> bool:
    """Whether the whole ``line`` is a score or choice verdict line."""
    return read_score_line(line) is not None or read_choice_line(line) is not None


def score_mentions(line: str) -> list[float]:
    """Values of score forms anywhere in ``line`` (for a reason message only, never a score)."""
    return [float(m.group(1)) for form in _SCORE_FORMS for m in form.finditer(line)]
