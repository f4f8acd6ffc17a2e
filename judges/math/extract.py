"""Answer extraction from a model response, in-process and linear-time.

Every rule here is a plain string scan or a regex without nested quantifiers, so that a
1 MB response or 20 000 repeated ``\\[`` cost milliseconds; nothing here parses math.
Parsing and equivalence happen in the worker processes (:mod:`judges.math.worker`).

The rules name the *containers* a caller accepts; which of them holds the final answer is
decided in one place, :func:`judges.math.final.final_answer` (the last committed answer
outside any thinking block). Rules (names used in ``verify_math(..., extract=(...))``):

``boxed``        content of the last non-empty ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces)
``hash``         text after the last ``####`` on its line (GSM8K)
``final_answer`` text after the last "final answer" (``Final Answer: x``, ``final answer is x``)
``answer_is``    text after the last "answer is" / "answer:" / "answer ="
``last_math``    whichever of ``last_latex`` / ``last_number`` ends later in the text
``last_latex``   content of the last ``$...$``, ``$$...$$``, ``\\(...\\)`` or ``\\[...\\]``
``last_number``  the last number in the text (integers, decimals, ``1,000``, ``3/4``,
                 ``\\frac{3}{4}``, percentages)
``choice``       a multiple-choice letter (only used when ``choices`` are given)
``math_verify``  hand the whole response to math-verify's own extractor (in the worker)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = [
    "RULES",
    "DEFAULT_RULES",
    "box_starts",
    "find_boxed",
    "anchored_tail",
    "choice_fallback",
    "clean_answer",
    "answer_problem",
    "gold_answer",
    "has_math_delimiters",
    "strip_punctuation_in_math",
    "to_choice",
    "truncate",
]

RULES = (
    "boxed",
    "hash",
    "final_answer",
    "answer_is",
    "last_math",
    "last_latex",
    "last_number",
    "choice",
    "math_verify",
)
DEFAULT_RULES = ("boxed", "hash", "final_answer", "answer_is", "last_math")

_BOX_CMDS = ("\\boxed", "\\fbox")
_MAX_BOX_CANDIDATES = 64  # how many \boxed occurrences (from the end) we try
_MAX_TAIL = 4000  # longest span we scan after an anchor


def truncate(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, with a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[+{len(text) - limit} chars]"


# ---------------------------------------------------------------------------------- boxed


def _match_braces(text: str, open_pos: int, limit: int) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``open_pos`` (escaped braces ignored)."""
    depth = 0
    end = min(len(text), open_pos + limit)
    i = open_pos
    while i < end:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _boxed_at(text: str, pos: int, cmd: str, limit: int) -> str | None:
    """Content of the box command starting at ``pos`` (``\\boxed{x}`` or ``\\boxed x``)."""
    i = pos + len(cmd)
    if i < len(text) and (text[i].isalpha()):
        return None  # e.g. \boxedsomething: another macro
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "{":
        close = _match_braces(text, i, limit)
        if close is None:
            return None
        return text[i + 1 : close]
    if cmd == "\\boxed" and i > pos + len(cmd):  # "\boxed 5": up to whitespace or $
        m = re.match(r"[^\s$]{1,200}", text[i:])
        return m.group(0) if m else None
    return None


def box_starts(text: str) -> list[tuple[int, str]]:
    """``(offset, command)`` of the last 64 box commands in ``text``, last first."""
    candidates: list[tuple[int, str]] = []
    for cmd in _BOX_CMDS:
        end = len(text)
        for _ in range(_MAX_BOX_CANDIDATES):
            pos = text.rfind(cmd, 0, end)
            if pos < 0:
                break
            candidates.append((pos, cmd))
            end = pos
    return sorted(candidates, reverse=True)[:_MAX_BOX_CANDIDATES]


def find_boxed(text: str, limit: int = _MAX_TAIL) -> str | None:
    """The content of the last non-empty ``\\boxed{}`` / ``\\fbox{}`` in ``text``, or None."""
    for pos, cmd in box_starts(text):
        content = _boxed_at(text, pos, cmd, limit)
        if content is not None and content.strip():
            return content.strip()
    return None


# ------------------------------------------------------------------------- anchored rules

_FINAL_RE = re.compile(r"final\s+answer", re.IGNORECASE)
_ANSWER_RE = re.compile(r"\banswer(?:\s+is\b|\s*[:=])", re.IGNORECASE)
_LEAD_RE = re.compile(r"^[\s*_]*(?:(?:is|was|would be|will be)\b|[:=])?[\s*_:]*", re.IGNORECASE)
_NUMBER_THEN_PROSE_RE = re.compile(r"^([-+]?\d[\d,]*(?:\.\d+)?\s*(?:\\?%)?),\s+(?=[A-Za-z])")
_SENT_END_RE = re.compile(r"(?<!\.)\.(?=\s|$)|\bI hope\b")  # not in an ellipsis


def _line_after(text: str, pos: int) -> str:
    """Rest of the line at ``pos``; if it is blank, the next non-blank line."""
    tail = text[pos : pos + _MAX_TAIL]
    line, _, rest = tail.partition("\n")
    if line.strip(" \t*_:"):
        return line
    for nxt in rest.split("\n", 3)[:3]:
        if nxt.strip():
            return nxt
    return ""


def _math_prefix(s: str) -> str | None:
    """If ``s`` starts with a math span ($..$, \\(..\\), \\[..\\]), its content."""
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left):
            close = s.find(right, len(left))
            if close > len(left):
                return s[len(left) : close]
            return None
    return None


def _anchored(text: str, pattern: re.Pattern[str]) -> str | None:
    last = None
    for last in pattern.finditer(text):  # noqa: B007 - we want the last match
        pass
    return None if last is None else anchored_tail(text, last.end())


def anchored_tail(text: str, pos: int) -> str | None:
    """The answer stated right after an anchor ("the answer is", "Final Answer:") that
    ends at ``pos``: a leading math span or box, else the rest of the sentence."""
    tail = _line_after(text, pos)
    tail = _LEAD_RE.sub("", tail, count=1).strip()
    if not tail:
        return None
    math = _math_prefix(tail)
    if math is not None:
        boxed = find_boxed(math)
        return boxed if boxed is not None else math
    m = _SENT_END_RE.search(tail)
    if m:
        tail = tail[: m.start()]
    m = _NUMBER_THEN_PROSE_RE.match(tail)  # "42, which is 6 times 7"
    if m:
        tail = m.group(1)
    boxed = find_boxed(tail)
    if boxed is not None:
        return boxed
    return tail.strip().strip("*_ ").strip() or None


def _hash(text: str) -> str | None:
    pos = text.rfind("####")
    if pos < 0:
        return None
    line = text[pos + 4 : pos + 4 + _MAX_TAIL].split("\n", 1)[0].strip()
    return line or None


# ---------------------------------------------------------------------- unanchored rules

_NUMBER_RE = re.compile(
    r"[-\u2212]?\\[dt]?frac\{-?\d{1,30}\}\{-?\d{1,30}\}"
    r"|(?<![\w.])[-+\u2212]?\d{1,30}/\d{1,30}(?![\d/])"
    r"|(?<![\w.])[-+\u2212]?(?:\d{1,3}(?:,\d{3})+(?![,\d])|\d{1,3}(?: \d{3})+(?![\d.])"
    r"|\d+,\d+(?![,\d])|\d+)(?:\.\d+)?(?:\s?(?:\\?%|percent\b))?"
    r"|(?<![\w.])[-+\u2212]?\.\d+"
)


def _last_number(text: str) -> tuple[str, int] | None:
    """The last number and the offset where it ends."""
    last = None
    for last in _NUMBER_RE.finditer(text):  # noqa: B007
        pass
    return (last.group(0), last.end()) if last else None


def _last_latex(text: str, limit: int = _MAX_TAIL) -> tuple[str, int] | None:
    """Content of the last math span and the offset where the span ends."""
    best: tuple[int, str] | None = None
    for left, right in (("\\(", "\\)"), ("\\[", "\\]")):
        close = text.rfind(right)
        if close > 0:
            open_ = text.rfind(left, max(0, close - limit), close)
            if open_ >= 0 and (best is None or close > best[0]):
                best = (close, text[open_ + 2 : close])
    close = text.rfind("$")
    while close > 0 and text[close - 1] == "\\":
        close = text.rfind("$", 0, close - 1)
    if close > 0 and (best is None or close > best[0]):
        double = text[close - 1] == "$"
        delim = "$$" if double else "$"
        stop = close - 1 if double else close
        open_ = text.rfind(delim, max(0, stop - limit), stop)
        if open_ >= 0:
            best = (close, text[open_ + len(delim) : stop])
    if best is None or not best[1].strip():
        return None
    return best[1].strip(), best[0]


# ------------------------------------------------------------------------------- choices

_CHOICE_RE = re.compile(r"(?:^|[\s(\[*])\(?([A-Za-z])\)?(?=[\s).:,*]|$)")


def to_choice(answer: str, choices: Sequence[str]) -> str | None:
    """Normalise ``answer`` ("(B)", "B.", "\\text{B}", "b) 42") to a letter in ``choices``."""
    s = re.sub(r"\\(?:text|textbf|mathrm|mathbf)\{([^{}]*)\}", r"\1", answer)
    s = s.strip().strip("*_$ ").strip()
    m = re.match(r"^\(?\[?([A-Za-z])\]?\)?(?:[\s.):,]|$)", s)
    if not m:
        return None
    letter = m.group(1)
    for c in choices:
        if c.lower() == letter.lower():
            return c
    return None


def choice_fallback(text: str, choices: Sequence[str]) -> str | None:
    """Last standalone choice letter: "(B)", a line that is just "B", "option B"."""
    allowed = {c.lower(): c for c in choices}
    tail = text[-_MAX_TAIL:]
    found = None
    for m in _CHOICE_RE.finditer(tail):
        letter = m.group(1).lower()
        if letter in allowed:
            raw = m.group(0)
            standalone = "(" in raw or raw.strip() == m.group(1)
            if standalone and (letter != "a" or "(" in raw):  # bare "a" is usually a word
                found = allowed[letter]
    return found


_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**"), ("__", "__"))
_THOUSANDS_RE = re.compile(r"(?<=\d)(?:\\,|\{,\}|\\!|\\ |~|\u2009|\u202f)(?=\d{3}(?!\d))")
_SPACED_INT_RE = re.compile(r"^-?\d{1,3}(?: \d{3})+(?:\.\d+)?$")
_NUM_WORDS_RE = re.compile(
    r"^(?P<num>[-+]?(?:\\?\$\s?)?\d[\d,]*(?:\.\d+)?)\s*(?P<pct>\\?%|percent\b)?\s*"
    r"(?P<words>[A-Za-z][A-Za-z\s./\-^²³]*)$"
)
_TEXT_CMD_RE = re.compile(r"\\(?:text|textrm|textnormal|textbf|textit|mathrm|mbox)\s*\{")
_UNIT_TEXT_RE = re.compile(
    r"(?<=[\d}])\s*\\(?:text|textrm|textnormal|mathrm|mbox)\s*\{\s*([A-Za-z][A-Za-z .]*)\}\s*$"
)


def _unwrap_text(s: str) -> str:
    """``\\text{42 apples}`` -> ``42 apples`` (one text wrapper around the whole answer) and
    ``42 \\text{ apples}`` -> ``42 apples``: units are read the same inside and outside a
    text wrapper (and a box)."""
    m = _TEXT_CMD_RE.match(s)
    if m and _match_braces(s, m.end() - 1, len(s)) == len(s) - 1 and re.search(r"\d", s):
        return s[m.end() : -1].strip()  # words alone ("\text{East}") stay text
    return _UNIT_TEXT_RE.sub(lambda u: " " + u.group(1).strip(), s)


_MATH_WORDS = {"pi", "sqrt", "log", "ln", "sin", "cos", "tan", "exp", "e", "i", "inf", "infty"}
_MINUS = {"\u2212": "-", "\ufe63": "-", "\uff0d": "-"}


def clean_answer(answer: str) -> str:
    """Normalise an extracted answer string (cheap, no parsing).

    Unwraps ``$..$``/``\\(..\\)``/``**..**``, an inner ``\\boxed{}``, trailing sentence
    punctuation, ``\\dfrac``, Unicode minus signs, thin-space thousands separators, a
    leading currency sign, and unit words after a plain number ("18 dollars" -> "18").
    """
    s = answer.strip()
    for ch, rep in _MINUS.items():
        s = s.replace(ch, rep)
    for _ in range(4):
        before = s
        s = s.strip().rstrip(".,;:").strip()
        for left, right in _WRAPPERS:
            if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
                inner = s[len(left) : -len(right)]
                if left.startswith("$") and "$" in inner:
                    continue  # "$3$ and $5$" is two spans, not one
                s = inner.strip()
        boxed = find_boxed(s) if "\\boxed" in s or "\\fbox" in s else None
        if boxed is not None:
            s = boxed
        s = _unwrap_text(s)
        if s == before:
            break
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _THOUSANDS_RE.sub("", s)
    if _SPACED_INT_RE.match(s):
        s = s.replace(" ", "")
    if s.count("$") == 1 and re.match(r"^\\?\$\s?\d", s):
        s = re.sub(r"^\\?\$\s?", "", s)
    if "\\" not in s.replace("\\$", "").replace("\\%", ""):
        s = re.sub(r"(?<=\d)\s*(?:percent|per cent|pct)\b\.?", "%", s, flags=re.I)
        m = _NUM_WORDS_RE.match(s)
        words = m.group("words").lower().split() if m else []
        if (
            m
            and s[m.start("words") - 1].isspace()  # "5 cm" yes, "2x" / "0.5x" no
            and all(len(w) >= 2 and w not in _MATH_WORDS for w in words)
        ):
            num = re.sub(r"^([-+]?)\\?\$\s?", r"\1", m.group("num"))
            s = num + ("%" if m.group("pct") else "")
    return s


_PUNCT_IN_MATH_RE = re.compile(r"(?<!\\)[.,;:]\s*(?=\$|\\\)|\\\])")


def strip_punctuation_in_math(text: str) -> str:
    """Drop sentence punctuation just before a closing ``$``/``\\)``/``\\]`` (``$5.$`` ->
    ``$5$``); math-verify 0.9.0 fails to parse such spans."""
    return _PUNCT_IN_MATH_RE.sub("", text)


def has_math_delimiters(s: str) -> bool:
    """Whether ``s`` still holds ``$``/``\\(``/``\\[`` spans (prose around math)."""
    return "$" in s.replace("\\$", "") or "\\(" in s or "\\[" in s


def _depth(s: str) -> int:
    depth = best = 0
    for ch in s:
        if ch in "({[":
            depth += 1
            best = max(best, depth)
        elif ch in ")}]":
            depth = max(0, depth - 1)
    return best


def answer_problem(
    answer: str, *, max_chars: int, max_depth: int, unicode_digits: bool
) -> tuple[str | None, str]:
    """Check an extracted answer before it goes anywhere near a parser.

    Returns ``(reason, answer)``: ``reason`` is None when the answer may be parsed; the answer
    is returned with Unicode decimal digits translated to ASCII when ``unicode_digits``.
    """
    if len(answer) > max_chars:
        return f"answer too long ({len(answer)} > {max_chars} chars)", answer
    if not answer.isascii():
        foreign = [ch for ch in answer if unicodedata.category(ch) == "Nd" and not ch.isascii()]
        if foreign:
            if not unicode_digits:
                return "answer uses non-ASCII digits (pass unicode_digits=True to accept)", answer
            answer = "".join(str(unicodedata.digit(ch)) if ch in foreign else ch for ch in answer)
    if _depth(answer) > max_depth:
        return f"answer nested too deeply (> {max_depth} brackets)", answer
    return None, answer


def gold_answer(gold: str) -> tuple[str, str]:
    """``(answer, how)`` from a gold string: a boxed solution, a ``#### x`` text, or raw."""
    boxed = find_boxed(gold)
    if boxed is not None:
        return clean_answer(boxed), "boxed"
    found = _hash(gold)
    if found is not None:
        return clean_answer(found), "hash"
    return clean_answer(gold), "raw"
