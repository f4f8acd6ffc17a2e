"""What a value written after the final answer is: another answer, or part of a description.

A reply that commits to an answer and then names another value has said two things; which
of them a reader takes as the answer is not the judge's to guess, so the other value must be
right as well (:func:`judges.math.final.final_answer`). But a later number is not always an
answer: "\\boxed{30}. This is the number of apples after 3 days." states one value and uses
another as a quantity inside a description. The rule, by grammar:

* **A value is stated** -- it is an answer, a restatement or a correction -- unless the
  sentence uses it as a quantity *of something else* (below). So a value that stands alone
  (on its line, after "So", "Wait,", "Though"), follows a copula or an equals sign ("it is
  41", "= 41", "Correction: 41") or a connective of any kind ("else 41", "vs 41", "| 41",
  ``\\mid 41``) is stated: the default is *stated*, never *description*.
* **A value is part of a description** when the word right before it makes it the object of
  an adverbial preposition ("after 3 days", "in 2 steps", "for each of the 4 cases"), counts
  a noun after a determiner or quantifier ("all 3 conditions", "the 2 roots"), numbers a label
  ("Step 3", "Case 2", "base 5"), is compared ("3 fewer than Tom", "2 times as many") or is
  rejected ("not 41", "rather than 41", "instead of 41"). "to", "as" and "of" are not
  adverbial here: "reduces to 41", "written as 41", "a total of 41" state a value; and a
  determiner right after a copula ("it is the 41") states it too.
* **A correction or a joiner anywhere before it in its sentence** (or, else, otherwise,
  alternatively, instead, rather, actually, wait, "no,", sorry, oops, "I mean", maybe,
  perhaps, possibly, probably, versus) makes even a described value stated: "Actually, after
  41 days" takes the answer back.
* **In the answer's own clause** the known qualifiers of an answer are not second values:
  a modulus (``\\pmod{11}``, "mod 11", "modulo 11"), a base ("base 5", ``_5``), a unit's
  exponent (``cm^2``, ``\\text{ m}^3``: a ``^`` after a unit word).

Everything here is a bounded regex over a short window before each value: linear time on
hostile text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from judges.math.extract import _NUMBER_RE
from judges.math.hedge import hedge_at_start, hedge_span

__all__ = ["value_spans", "is_stated", "in_other_variables"]

# ------------------------------------------------------------- the rest of the answer's clause

_CLAUSE_END_RE = re.compile(r"[,;!?\n]|(?<!\.)\.(?!\.)(?=\s|\$|$)|$")
_LEAD_RE = re.compile(r"^(?:[\s$(){}\[\]~]|\\[,;:! \\)\]]|\\q?quad(?![A-Za-z]))*(?:,\s*)?")
_TEXT_OPEN_RE = re.compile(r"^\\(?:text|textrm|mathrm|mbox)\s*\{\s*")
_VALUE_START = r"\s*(?:(?:\$|\\\(|\\\[)\s*)?(?:[-+(\u2212]?\s*(?:\.?\d|\\(?:[dt]?frac|sqrt|boxed|pi|infty))|[a-z]\s*=)"
_JOIN_START_RE = re.compile(
    rf"(?:;|/|(?:or|and)(?!\w)|\\(?:lor|vee)(?![A-Za-z])|\\text\{{\s*(?:or|and)\s*\}}){_VALUE_START}",
    re.IGNORECASE,
)
_WORD_VALUE_RE = re.compile(rf"(?:\s*[^\s\d$\\]+)?{_VALUE_START}")  # a value, maybe after a word
_MAX_REST = 400
# inline emphasis a renderer does not show: *, **, `, <b>, </em>, _ next to a blank or the edge
_MARKUP_RE = re.compile(
    r"\*+|`+|</?[A-Za-z][A-Za-z0-9]{0,10}\s*/?>|(?<![A-Za-z0-9}\\])_+|_+(?![A-Za-z0-9{\\])"
)
_TRAIL_OFF_RE = re.compile(
    r"(?:etc|et\s+cetera|or\s+so|approx|\\[lc]?dots|\.\.\.|\u2026|\\text\{\s*etc)", re.IGNORECASE
)


def _unmarked(text: str) -> str:
    """``text`` as rendered prose reads: inline markdown and HTML emphasis (``**or 41**``,
    ``*or* 41``, ``<b>or 41</b>``, backticks) blanked, same length (positions kept)."""
    return _MARKUP_RE.sub(lambda m: " " * len(m.group(0)), text)


def _tail_of_clause(text: str, end: int) -> str:
    """The rest of the answer's clause when it hedges the answer or joins another value to
    it: "\\boxed{42} or so", "\\boxed{42}, \\ldots", "$42$ or $41$", "\\boxed{42} but maybe
    41". Prose that merely goes on ("\\boxed{42}, and we are done") is left alone. The clause
    is read as rendered: markup around a connective (``\\boxed{42} **or 41**``) is not read."""
    window = min(len(text), end + _MAX_REST)  # bounded: linear on hostile text
    text = text[:end] + _unmarked(text[end:window])
    clause = _CLAUSE_END_RE.search(text, end, window)
    stop = clause.start() if clause else window
    same = text[end:stop]
    hedge = hedge_span(same)
    if hedge is not None and _WORD_VALUE_RE.match(same, hedge):  # "but maybe 41"
        return same
    if clause is not None and clause.group(0) in ",;":
        nxt = _CLAUSE_END_RE.search(text, clause.end(), window)
        stop = nxt.start() if nxt else window
    rest = text[end:stop]
    lead = _LEAD_RE.match(rest)
    head = rest[lead.end() if lead else 0 :]
    comma = "," in rest[: lead.end() if lead else 0]
    words = _TEXT_OPEN_RE.sub("", head)  # "\\text{ or so}"
    trails = _TRAIL_OFF_RE.match(words) if comma else hedge_at_start(words)
    return rest if trails or _JOIN_START_RE.match(head) else ""


# ------------------------------------------------------------------- values after the answer

# a math span holding a digit, or a number outside math
_SPAN_OR_NUMBER_RE = re.compile(
    r"\$\$[^$]{1,400}\$\$|\$[^$\n]{1,400}\$|\\\((?:[^\\\n]|\\(?!\)))"
    r"{1,400}\\\)|\\\[(?:[^\\]|\\(?!\]))"
    r"{1,400}\\\]|" + _NUMBER_RE.pattern
)
_SENTENCE_END_RE = re.compile(r"(?<!\d)\.(?!\d)|[!?\n]")
_LOOK_BACK = 120

# tokens of the words before a value, read as rendered: \text{...} wrappers, braces and math
# delimiters dropped; a LaTeX command is one token ("\mid", "\pmod"), never a word
_WRAPPER_RE = re.compile(r"\\(?:text\w*|mathrm|mbox|emph)\s*\{|[{}$*`]|\\[()\[\]]|\\[,;:! ]")
_TOKEN_RE = re.compile(r"\\[A-Za-z]+|[A-Za-z]+(?:'[a-z]+)?|[^\sA-Za-z\d]")

_ADVERBIAL = frozenset(
    "after before in on at for from per within over under by with without since until till "
    "during through throughout across among amongst near past than via inside outside beyond "
    "behind below above beneath against toward towards upon amid besides except every each "
    "using".split()
)
_DETERMINERS = frozenset(
    "the these those all both its their our his her my your first last next remaining "
    "previous other".split()
)
_LABELS = frozenset(
    "step steps case cases part stage line lines equation equations eq lemma theorem "
    "problem question exercise example figure fig table section chapter page method approach "
    "round iteration row column rule condition hint item base".split()
)
_QUALIFIERS = frozenset({"mod", "modulo", "\\pmod", "\\bmod", "\\mod", "_"})
_COPULAS = frozenset(
    "is are was were be been being equals equal gives give makes yields becomes get gets got "
    "it's that's 's = :".split()
)
_REJECTED_RE = re.compile(r"(?:\bnot|\brather\s+than|\binstead\s+of)\s*$", re.IGNORECASE)
_COMPARED_RE = re.compile(
    r"\s*(?:\\text\w*\{\s*)?(?:more|fewer|less|greater|smaller|larger|higher|lower|bigger|"
    r"older|younger|longer|shorter)(?:\s+[A-Za-z]+)?\s+than\b|\s*times\b",
    re.IGNORECASE,
)
_CUE_RE = re.compile(
    r"(?<![A-Za-z])(?:or|else|otherwise|alternatively|instead(?!\s+of)|rather(?!\s+than)|actually|wait|sorry|oops"
    r"|correction|i\s+mean|i\s+meant|meant|mistake|scratch|maybe|perhaps|possibly|probably"
    r"|versus|vs|no(?=\s*[,.;:!]))(?![A-Za-z])",
    re.IGNORECASE,
)
# a value listed before another: "3, 4", "3 and 4", "7 days and 8" (not "after 3 days, 41")
_JOINED_TO_RE = re.compile(
    r"(\$[^$\n]{1,60}\$|\d[\d.]*)(?:\s*,|(?:\s+[A-Za-z]+){0,2}\s+and)\s*\$?\s*$"
)
# a value the sentence then calls the answer ("the 41 is the answer", "41 is correct")
_CUE_AFTER_RE = re.compile(
    r"\s*(?:instead|rather|actually|though)\b|[\s$]*(?:is|was|'s)\s+(?:(?:the|my|our)\s+)?"
    r"(?:(?:final|correct|right|real|true|actual)\b|(?:answer|result|solution)\b)",
    re.IGNORECASE,
)


def value_spans(text: str, pos: int = 0, endpos: int | None = None) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each math span holding a digit and each number outside math in
    ``text[pos:endpos]``, first to last."""
    for m in _SPAN_OR_NUMBER_RE.finditer(text, pos, len(text) if endpos is None else endpos):
        if any(ch.isdigit() for ch in m.group(0)):
            yield m.start(), m.end()


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN_RE.findall(_WRAPPER_RE.sub(" ", text))]


def is_stated(
    text: str, start: int, end: int, floor: int, clause: bool = False, depth: int = 0
) -> bool:
    """Whether the value at ``text[start:end]`` is stated as a value (see the module
    docstring) rather than used inside a description. ``floor``: where the reading may
    begin (the end of the answer); ``clause``: the value is in the answer's own clause,
    where an answer's qualifiers (modulus, base, a unit's exponent) are not values."""
    low = max(floor, start - _LOOK_BACK)
    ends = list(_SENTENCE_END_RE.finditer(text, low, start))
    sentence = text[ends[-1].end() if ends else low : start]
    if _CUE_RE.search(sentence) or _CUE_AFTER_RE.match(text, end):
        return True
    if _REJECTED_RE.search(_WRAPPER_RE.sub(" ", sentence)):
        return False  # "not 41", "rather than 41": the value is rejected, not stated
    if _COMPARED_RE.match(text, end):
        return False  # "3 fewer than Tom"
    tokens = _tokens(sentence)
    if not tokens:
        return True  # alone on its line, or right after the answer
    prev = tokens[-1]
    joined = _JOINED_TO_RE.search(text, low, start) if prev in ("and", ",") else None
    if joined is not None and depth < 3:  # "by 3 and 4": the list shares its reading
        return is_stated(text, joined.start(1), joined.end(1), floor, clause, depth + 1)
    prev2 = tokens[-2] if len(tokens) > 1 else ""
    if clause and (prev in _QUALIFIERS or (prev == "^" and any(t.isalpha() for t in tokens))):
        return False  # "\pmod{11}", "(mod 11)", "_5", "cm^2"
    if prev in _LABELS or prev in _ADVERBIAL:
        return False
    return not (prev in _DETERMINERS and prev2 not in _COPULAS)


_COMMAND_RE = re.compile(r"\\(?:text\w*|mathrm|mbox|operatorname)\s*\{[^{}]*\}|\\[A-Za-z]+")
_LETTER_RE = re.compile(r"[A-Za-z]")


def _letters(value: str) -> set[str]:
    return set(_LETTER_RE.findall(_COMMAND_RE.sub(" ", value)))


def in_other_variables(value: str, answer: str) -> bool:
    """Whether the value a later span states (the side after its last ``=``) is a formula in
    variables the answer does not use ("A = P(1 + r/n)^{nt}" after a numeric answer): an
    expression of other unknowns does not answer the same question."""
    return bool(_letters(value.rsplit("=", 1)[-1]) - _letters(answer))
