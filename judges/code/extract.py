"""Pull the program out of a model response: the last fenced Python block, else any fenced block,
else the raw text. ``<think>...</think>`` sections are ignored."""

from __future__ import annotations

import re

__all__ = ["extract_code"]

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
# An opening fence (``` or ~~~, 3+ long) with an optional info string, its body, and the matching
# closing fence on its own line, or the end of the text for a response cut off mid-block.
_FENCE = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)"
    r"(?:^[ \t]*(?P=fence)[ \t]*$|\Z)",
    re.DOTALL | re.MULTILINE,
)
# Fallback when no fence starts a line: a fence anywhere, with a language tag and a newline.
_LOOSE_FENCE = re.compile(
    r"(?P<fence>`{3,})(?P<info>[\w+.#-]*)[ \t]*\n(?P<body>.*?)(?:(?P=fence)|\Z)", re.DOTALL)
_PYTHON_TAGS = {"python", "py", "python3", "py3", "sage", "ipython", "pycon"}


def extract_code(response: str, defines: str | None = None) -> str:
    """The code to run from a model response.

    Returns the body of the last fenced block tagged as Python (```python, ```py, ...); if
    there is none, the last fenced block of any language or none; if there are no fences, the
    response itself (minus ``<think>`` sections), stripped. An unterminated final fence (a
    truncated response) counts as a block running to the end of the text. With ``defines``
    (the function the task requires), the last block that defines it is chosen first, so a
    usage example after the solution (```python print(f(4))```) is not taken for it.

    Raises:
        TypeError: ``response`` is not a str.
    """
    if not isinstance(response, str):
        raise TypeError(f"response must be a str, got {type(response).__name__}")
    text = _THINK.sub("", response)
    blocks = [(m.group("info").strip().split(" ")[0].lower(), m.group("body"))
              for m in _FENCE.finditer(text)]
    if not blocks:
        blocks = [(m.group("info").lower(), m.group("body")) for m in _LOOSE_FENCE.finditer(text)]
    if not blocks:
        return text.strip()
    python = [body for tag, body in blocks if tag in _PYTHON_TAGS] or [b for _, b in blocks]
    if defines:
        pattern = re.compile(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(defines)}[ \t]*\(", re.M)
        python = [b for b in python if pattern.search(b)] or python
    chosen = python[-1]
    return chosen.strip("\n").rstrip() + "\n" if chosen.strip() else ""
