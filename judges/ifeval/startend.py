"""``startend:*``, ``combination:*`` and ``punctuation:no_comma``: how a response begins and ends,
two answers, repeating the request, commas."""

from __future__ import annotations

import unicodedata

from judges.ifeval.registry import Kwarg, constraint


def _nonblank(s: str) -> str:
    s = s.strip()
    if not s:
        raise ValueError("must not be blank")
    return s


@constraint(
    "combination:two_responses",
    describe=lambda kw: "Give two different answers, separated by a line of exactly six "
    "asterisks: ******",
    sample=lambda rng, ctx: {},
    conflicts=(
        "length_constraints:number_paragraphs",
        "length_constraints:nth_paragraph_first_word",
        "length_constraints:number_sentences",
        "length_constraints:number_words",
        "detectable_format:number_bullet_lists",
        "detectable_format:number_highlighted_sections",
        "detectable_format:multiple_sections",
        "detectable_content:number_placeholders",
        "detectable_content:postscript",
        "combination:repeat_prompt",
        "startend:end_checker",
        "startend:quotation",
        "change_case:capital_word_frequency",
        "keywords:letter_frequency",
        "keywords:frequency",
    ),
)
def two_responses(response: str) -> tuple[bool, str]:
    """Exactly two different non-empty parts around ``******`` (no empty part in the middle)."""
    parts = response.split("******")
    answers = []
    for i, part in enumerate(parts):
        if part.strip():
            answers.append(part)
        elif i not in (0, len(parts) - 1):
            return False, f"empty answer between separators (part {i + 1})"
    if len(answers) != 2:
        return False, f"{len(answers)} answers separated by ******; need exactly 2"
    if answers[0].strip() == answers[1].strip():
        return False, "the two answers are identical"
    return True, "two different answers"


@constraint(
    "combination:repeat_prompt",
    kwargs={"prompt_to_repeat": Kwarg("str", normalize=_nonblank, doc="the request to repeat")},
    describe=lambda kw: "Before answering, repeat the request word for word, exactly as written "
    f'here and with nothing before it: "{kw["prompt_to_repeat"]}" Then give your answer.',
    sample=lambda rng, ctx: {"prompt_to_repeat": ctx.task},
    conflicts=(
        "startend:quotation",
        "length_constraints:nth_paragraph_first_word",
        "language:response_language",
    ),
)
def repeat_prompt(response: str, prompt_to_repeat: str) -> tuple[bool, str]:
    """The response starts with the request (case-insensitive, surrounding whitespace ignored)."""
    ok = response.strip().lower().startswith(prompt_to_repeat.strip().lower())
    return ok, "starts with the request" if ok else "does not start with the request"


_END_PHRASES = (
    "Any other questions?",
    "Is there anything else I can help with?",
    "Let me know if you have additional questions.",
    "That is all for now.",
    "Thank you for reading.",
)


@constraint(
    "startend:end_checker",
    kwargs={"end_phrase": Kwarg("str", normalize=_nonblank)},
    describe=lambda kw: f'Finish with the exact phrase "{kw["end_phrase"]}" and add nothing '
    "after it.",
    sample=lambda rng, ctx: {"end_phrase": rng.choice(_END_PHRASES)},
)
def end_checker(response: str, end_phrase: str) -> tuple[bool, str]:
    """The response (trimmed of whitespace and double quotes) ends with the phrase, any case."""
    text = response.strip().strip('"').lower()
    ok = text.endswith(end_phrase.lower())
    return ok, "ends with the phrase" if ok else f"does not end with {end_phrase!r}"


@constraint(
    "startend:quotation",
    describe=lambda kw: "Put your whole answer inside double quotation marks.",
    sample=lambda rng, ctx: {},
    conflicts=("detectable_format:title",),
)
def quotation(response: str) -> tuple[bool, str]:
    """Starts and ends with ``"`` with something non-blank in between."""
    text = response.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return False, "not wrapped in double quotation marks"
    if not text[1:-1].strip():
        return False, "the quotation marks enclose nothing"
    return True, "wrapped in double quotation marks"


@constraint(
    "punctuation:no_comma",
    describe=lambda kw: "Do not use any commas anywhere in your answer.",
    sample=lambda rng, ctx: {},
)
def no_comma(response: str) -> tuple[bool, str]:
    """No comma anywhere: ``,`` (look-alikes are mapped to it before the check) or any other
    punctuation character Unicode names a comma (ideographic, Arabic, Armenian, ...)."""
    n = response.count(",")
    if not response.isascii():
        n += sum(1 for ch in response if not ch.isascii() and _is_comma(ch))
    return n == 0, "no commas" if n == 0 else f"{n} comma(s)"


def _is_comma(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "P" and "COMMA" in unicodedata.name(ch, "")
