"""``detectable_format:*`` and ``detectable_content:*`` constraints: markdown structure, JSON,
titles, placeholders, postscripts, fixed answers."""

from __future__ import annotations

import json
import random
import re
from typing import Any

from judges.ifeval.registry import ComposeContext, Kwarg, constraint


def _nonblank(s: str) -> str:
    s = s.strip()
    if not s:
        raise ValueError("must not be blank")
    return s


def _count_placeholders(text: str) -> int:
    r"""Number of ``re.findall(r"\[.*?\]", text)`` matches, counted in linear time.

    The regex rescans to the end of the line for every unmatched ``[`` (quadratic on a long
    run of brackets); the scan below finds the same non-overlapping matches.
    """
    n = 0
    for line in text.split("\n"):
        pos = 0
        while True:
            start = line.find("[", pos)
            if start < 0:
                break
            end = line.find("]", start + 1)
            if end < 0:  # no later "[" on this line can be closed either
                break
            n += 1
            pos = end + 1
    return n


@constraint(
    "detectable_content:number_placeholders",
    kwargs={"num_placeholders": Kwarg("int", minimum=0)},
    describe=lambda kw: f"Include at least {kw['num_placeholders']} placeholders written in "
    "square brackets, for example [name].",
    sample=lambda rng, ctx: {"num_placeholders": rng.randint(1, 4)},
)
def number_placeholders(response: str, num_placeholders: int) -> tuple[bool, str]:
    """At least ``num_placeholders`` ``[...]`` spans."""
    n = _count_placeholders(response)
    return n >= num_placeholders, f"{n} placeholders; need at least {num_placeholders}"


def _postscript_pattern(marker: str) -> re.Pattern[str]:
    r"""IFEval's marker pattern without its ``\s*`` prefix and ``.*$`` suffix.

    IFEval searches ``\s*<marker>.*$`` (multiline) in the lower-cased response; both affixes
    can match the empty string, so a match exists exactly when the marker core occurs, and
    dropping them avoids quadratic backtracking over long whitespace runs.
    """
    if marker == "P.P.S":
        return re.compile(r"p\.\s?p\.\s?s")
    if marker == "P.S.":
        return re.compile(r"p\.\s?s\.")
    return re.compile(re.escape(marker.lower()))


@constraint(
    "detectable_content:postscript",
    kwargs={"postscript_marker": Kwarg("str", normalize=_nonblank)},
    describe=lambda kw: f"Close with a postscript that begins with {kw['postscript_marker']}",
    sample=lambda rng, ctx: {"postscript_marker": rng.choice(("P.S.", "P.P.S"))},
)
def postscript(response: str, postscript_marker: str) -> tuple[bool, str]:
    """The marker appears (case-insensitive; ``P.S.``/``P.P.S`` allow a space after dots)."""
    found = _postscript_pattern(postscript_marker).search(response.lower()) is not None
    return found, f"postscript {postscript_marker!r} {'found' if found else 'not found'}"


def _count_bullets(text: str, marker: str) -> int:
    r"""Matches of IFEval's ``^\s*\*[^\*].*$`` (``marker="*"``) or ``^\s*-.*$``
    (``marker="-"``), multiline, counted in linear time.

    The regexes retry ``^\s*`` at every line start inside a long run of blank lines, which is
    quadratic; this scan makes the same non-overlapping matches: from a line start, skip the
    whitespace run (newlines included), require the marker (for ``*``: and a next character
    that is not ``*``, which may be a newline), then consume to the end of that line.
    """
    n, pos, size = 0, 0, len(text)
    run_start, run_end = -1, -1
    while pos <= size:
        if run_start <= pos < run_end:
            j = run_end  # same whitespace run as the previous line start
        else:
            j = pos
            while j < size and text[j].isspace():
                j += 1
            run_start, run_end = pos, j
        end = -1
        if j < size and text[j] == marker:
            if marker == "-":
                end = j + 1
            elif j + 1 < size and text[j + 1] != "*":
                end = j + 2
        if end >= 0:
            n += 1
            nl = text.find("\n", end)
            if nl < 0:
                break
            pos = nl + 1
        else:
            nl = text.find("\n", pos)
            if nl < 0:
                break
            pos = nl + 1
    return n


@constraint(
    "detectable_format:number_bullet_lists",
    kwargs={"num_bullets": Kwarg("int", minimum=0)},
    describe=lambda kw: f"Format your answer as exactly {kw['num_bullets']} markdown bullet "
    "points, each on its own line starting with '* ', and no other bullets.",
    sample=lambda rng, ctx: {"num_bullets": rng.randint(2, 6)},
)
def number_bullet_lists(response: str, num_bullets: int) -> tuple[bool, str]:
    """Exactly ``num_bullets`` lines starting with ``*`` (not ``**``) or ``-``."""
    n = _count_bullets(response, "*") + _count_bullets(response, "-")
    return n == num_bullets, f"{n} bullet points; need exactly {num_bullets}"


CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


@constraint(
    "detectable_format:constrained_response",
    describe=lambda kw: "Reply with exactly one of these options: " + ", ".join(
        f'"{o}"' for o in CONSTRAINED_OPTIONS
    ) + ".",
    sample=lambda rng, ctx: {},
    conflicts=("*",),
    task_kinds=("yesno",),
)
def constrained_response(response: str) -> tuple[bool, str]:
    """One of the three fixed answers occurs in the response."""
    text = response.strip()
    for option in CONSTRAINED_OPTIONS:
        if option in text:
            return True, f"contains {option!r}"
    return False, "none of the allowed answers occurs"


_SINGLE_HIGHLIGHT = re.compile(r"\*[^\n\*]*\*")
_DOUBLE_HIGHLIGHT = re.compile(r"\*\*[^\n\*]*\*\*")


@constraint(
    "detectable_format:number_highlighted_sections",
    kwargs={"num_highlights": Kwarg("int", minimum=0)},
    describe=lambda kw: f"Highlight at least {kw['num_highlights']} passages with markdown "
    "asterisks, like *this passage*.",
    sample=lambda rng, ctx: {"num_highlights": rng.randint(1, 4)},
)
def number_highlighted_sections(response: str, num_highlights: int) -> tuple[bool, str]:
    """At least ``num_highlights`` non-blank ``*...*`` (or ``**...**``) spans on one line."""
    n = sum(1 for h in _SINGLE_HIGHLIGHT.findall(response) if h.strip("*").strip())
    n += sum(
        1
        for h in _DOUBLE_HIGHLIGHT.findall(response)
        if h.removeprefix("**").removesuffix("**").strip()
    )
    return n >= num_highlights, f"{n} highlighted sections; need at least {num_highlights}"


def _sample_sections(rng: random.Random, ctx: ComposeContext) -> dict[str, Any]:
    splitter = rng.choice(("Section", "SECTION"))
    return {"section_spliter": splitter, "num_sections": rng.randint(2, 5)}


@constraint(
    "detectable_format:multiple_sections",
    kwargs={
        "section_spliter": Kwarg("str", normalize=_nonblank),
        "num_sections": Kwarg("int", minimum=0),
    },
    describe=lambda kw: f"Organize the answer into {kw['num_sections']} sections, each "
    f"introduced by a line like '{kw['section_spliter']} 1', '{kw['section_spliter']} 2', and so "
    "on.",
    sample=_sample_sections,
    conflicts=(
        "detectable_format:number_highlighted_sections",
        "detectable_format:number_bullet_lists",
        "change_case:capital_word_frequency",
    ),
)
def multiple_sections(response: str, section_spliter: str, num_sections: int) -> tuple[bool, str]:
    """At least ``num_sections`` ``<spliter> <number>`` headers (case-sensitive)."""
    pattern = r"\s?" + re.escape(section_spliter) + r"\s?\d+\s?"
    n = len(re.split(pattern, response)) - 1
    return n >= num_sections, f"{n} '{section_spliter} N' sections; need at least {num_sections}"


_JSON_FENCES = ("```json", "```Json", "```JSON", "```")


@constraint(
    "detectable_format:json_format",
    describe=lambda kw: "Your entire output must be a single JSON object; markdown code fences "
    "around it are fine.",
    sample=lambda rng, ctx: {},
    conflicts=(
        "length_constraints:number_paragraphs",
        "length_constraints:nth_paragraph_first_word",
        "length_constraints:number_sentences",
        "detectable_format:number_bullet_lists",
        "detectable_format:multiple_sections",
        "detectable_format:number_highlighted_sections",
        "detectable_format:title",
        "detectable_content:postscript",
        "combination:two_responses",
        "combination:repeat_prompt",
        "startend:end_checker",
        "startend:quotation",
        "change_case:english_capital",
        "change_case:capital_word_frequency",
        "punctuation:no_comma",
        "language:response_language",
    ),
    reads="text",  # a parser reads code points: curly quotes must not turn into JSON quotes
)
def json_format(response: str) -> tuple[bool, str]:
    """The response (optionally inside a code fence) parses as a JSON object or array."""
    text = response.strip()
    for fence in _JSON_FENCES:
        text = text.removeprefix(fence)
    text = text.removesuffix("```").strip()
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return False, f"not valid JSON ({type(exc).__name__}: {str(exc)[:80]})"
    if not isinstance(value, (dict, list)):
        return False, f"JSON is a bare {type(value).__name__}, not an object or array"
    return True, f"valid JSON {type(value).__name__}"


def _first_title(text: str) -> str | None:
    r"""The first non-blank ``<<title>>``, as IFEval's ``<<[^\n]+>>`` finds them, in linear time.

    On each line the greedy regex matches at most once, from the first ``<<`` to the last
    ``>>`` (with at least one character between); scanning lines avoids the regex's
    quadratic retries on long runs of ``<``.
    """
    for line in text.split("\n"):
        start = line.find("<<")
        if start < 0:
            continue
        end = line.rfind(">>")
        if end >= start + 3:
            match = line[start : end + 2]
            if match.lstrip("<").rstrip(">").strip():
                return match
    return None


@constraint(
    "detectable_format:title",
    describe=lambda kw: "Give your answer a title wrapped in double angle brackets, such as "
    "<<a title here>>.",
    sample=lambda rng, ctx: {},
)
def title(response: str) -> tuple[bool, str]:
    """A ``<<title>>`` with non-blank text on one line."""
    match = _first_title(response)
    if match is None:
        return False, "no <<title>> found"
    return True, f"title {match[:60]!r}"
