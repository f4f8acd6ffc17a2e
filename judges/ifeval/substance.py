"""Does a reply answer the task at all? The check composed training prompts add to IFEval's.

IFEval's checkers judge the *form* of a reply and nothing else, so on a composed prompt ("Write a
short story about a lighthouse keeper. Do not use any commas.") the reply ``ok`` follows every
instruction. A benchmark can live with that (its models try to answer); a reward cannot: a
policy under RL pressure learns ``ok``. :func:`answers_task` is the missing half, rule-based:

* the reply says something of its own: at least ``min_new_words`` distinct words (digits aside)
  that are not words of the prompt or of the constraints' arguments, counted after removing
  the text the constraints dictate (a repeated request at the start, an end phrase at the
  end). Echoing the prompt, repeating a keyword, ``{}`` or a quoted ``"ok"`` say nothing;
* the reply is about the task: it mentions one of the base task's content words (a word stem
  of four letters or more, e.g. ``lighthous`` for "lighthouse keeper"), unless the reply must
  be in another language (then the language check stands in for it);
* a yes/no question constrained to the fixed options ("My answer is yes.") is answered by the
  option itself, which ``detectable_format:constrained_response`` checks.

A reply that passes can still be padded nonsense on topic; only a judge of content (an LLM
judge, e.g. through a Mixture of Judges) can tell. This check removes the free lunch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from judges.ifeval.normalize import read_as, read_value_as

__all__ = ["answers_task", "content_words", "MIN_NEW_WORDS"]

MIN_NEW_WORDS = 8
_WORD = re.compile(r"\w+", re.UNICODE)
# Words of a task statement that say what to do, not what about.
_GENERIC = frozenset(
    "write describe explain give summarize short simple about from with your their into "
    "what when where which while why how should would could does have this that these those "
    "there they them then than make made more most some very good better best ideal".split()
)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def content_words(task: str) -> list[str]:
    """The stems a reply about ``task`` is expected to use (words of 4+ letters, not generic)."""
    stems = []
    for word in _words(task):
        if len(word) < 4 or word in _GENERIC or word.isdigit():
            continue
        stem = word[: max(4, len(word) - 2)]
        if stem not in stems:
            stems.append(stem)
    return stems


def _strip_dictated(text: str, spec: Mapping[str, Mapping[str, Any]]) -> str:
    body = text.strip()
    repeat = spec.get("combination:repeat_prompt")
    if repeat:
        head = str(repeat.get("prompt_to_repeat", "")).strip()
        if head and body.lower().startswith(head.lower()):
            body = body[len(head):]
    end = spec.get("startend:end_checker")
    if end:
        phrase = str(end.get("end_phrase", "")).strip()
        trimmed = body.rstrip().rstrip('"').rstrip()
        if phrase and trimmed.lower().endswith(phrase.lower()):
            body = trimmed[: len(trimmed) - len(phrase)]
    return body


def _dictated_words(prompt: str, spec: Mapping[str, Mapping[str, Any]]) -> set[str]:
    given = set(_words(prompt))
    for kw in spec.values():
        for value in kw.values():
            items = value if isinstance(value, list | tuple) else [value]
            for item in items:
                if isinstance(item, str):
                    given.update(_words(item))
    return given


def answers_task(
    response: str,
    prompt: str,
    base_task: str,
    instruction_ids: Sequence[str],
    kwargs: Sequence[Mapping[str, Any] | None] | None = None,
    min_new_words: int = MIN_NEW_WORDS,
) -> tuple[bool, str]:
    """Whether ``response`` is an attempt at ``base_task`` beyond the prompt's constraints.

    Args:
        response: the reply (thinking already removed, if any).
        prompt: the whole user prompt (task plus constraint descriptions).
        base_task: the task the constraints were added to.
        instruction_ids / kwargs: the prompt's constraints, as for ``check_instructions``.
        min_new_words: distinct words the reply must add to the prompt's own.

    Returns:
        ``(ok, reason)``.

    Every text is read in the ``"skeleton"`` view (:mod:`judges.ifeval.normalize`), as the
    instruction checks read it: a prompt word with a zero-width space or a Cyrillic letter in
    it is still the prompt's word, not one of the reply's own.
    """
    response, prompt, base_task = (read_as(t, "skeleton") for t in (response, prompt, base_task))
    ids = list(instruction_ids)
    kw_list = list(kwargs) if kwargs is not None else [None] * len(ids)
    spec = {cid: {k: read_value_as(v, "skeleton") for k, v in dict(kw or {}).items()}
            for cid, kw in zip(ids, kw_list, strict=True)}
    if "detectable_format:constrained_response" in spec:
        return True, "a fixed option answers the yes/no question"
    body = _strip_dictated(response, spec)
    given = _dictated_words(prompt, spec)
    new = {w for w in _words(body) if w not in given and not w.isdigit()}
    if len(new) < min_new_words:
        return False, (f"the reply adds {len(new)} word(s) of its own to the prompt's; an answer "
                       f"needs at least {min_new_words}")
    if "language:response_language" in spec:
        return True, f"{len(new)} words of its own (language checked separately)"
    stems = content_words(base_task)
    if stems:
        found = [s for s in stems if re.search(rf"(?<!\w){re.escape(s)}", body, re.IGNORECASE)]
        if not found:
            return False, f"the reply never mentions what the task is about ({', '.join(stems)})"
    return True, f"{len(new)} words of its own, on the task's subject"
