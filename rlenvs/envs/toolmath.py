"""``rlenvs/ToolMath-v0``: arithmetic and algebra where a calculator or Python pays off.

Procedural, seeded task kinds: ``multiply`` (two 6-9 digit numbers), ``series`` (sums of powers
or geometric sums over hundreds of terms), ``linear`` (``a*x + b = c*x + d`` with an integer
solution) and ``modpow`` (``a^b mod m``). The policy has the ``calculator`` and ``python`` tools
(see ``rlenvs.tools.ToolEnv`` for the turn protocol) and answers in ``\\boxed{}``; the answer is
judged by exact numeric match (``1,234`` = ``1234`` = ``1234.0``; ``x = 5`` counts as ``5``).
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from judges import Verdict
from judges.math.hedge import hedge_in
from rlenvs.task_env import TaskEnv
from rlenvs.tasks import ProceduralSource
from rlenvs.tools.answers import committed
from rlenvs.tools.calculator import calculator
from rlenvs.tools.parsing import last_boxed
from rlenvs.tools.python_tool import make_python_tool
from rlenvs.tools.tool_env import ToolEnv

__all__ = ["ToolMathEnv", "make_toolmath_task", "judge_numeric_answer", "last_boxed", "KINDS"]

KINDS = ("multiply", "series", "linear", "modpow")
PROMPT = "{question} Put your final answer in \\boxed{{}}."


def _int(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi + 1))


def make_toolmath_task(rng: np.random.Generator, kind: str) -> dict[str, Any]:
    """A task of ``kind``; ``answer`` is the exact value as a string."""
    if kind == "multiply":
        a, b = _int(rng, 10**5, 10**9 - 1), _int(rng, 10**5, 10**9 - 1)
        question, answer = f"Compute {a} * {b}.", a * b
    elif kind == "series":
        n = _int(rng, 50, 500)
        if rng.random() < 0.5:
            p = _int(rng, 2, 4)
            question = f"Compute the sum of k^{p} for k = 1 to {n}."
            answer = sum(k**p for k in range(1, n + 1))
        else:
            r, m = _int(rng, 2, 5), _int(rng, 10, 40)
            question = f"Compute the sum of {r}^k for k = 0 to {m}."
            answer = sum(r**k for k in range(m + 1))
    elif kind == "linear":
        x = _int(rng, -500, 500)
        a, c = _int(rng, 2, 97), _int(rng, 2, 97)
        while c == a:
            c = _int(rng, 2, 97)
        b = _int(rng, -10_000, 10_000)
        d = a * x + b - c * x
        question = f"Solve for x: {a}*x + ({b}) = {c}*x + ({d})."
        answer = x
    elif kind == "modpow":
        a, b, m = _int(rng, 2, 10**6), _int(rng, 10**3, 10**6), _int(rng, 10**3, 10**6)
        question, answer = f"Compute {a}^{b} mod {m}.", pow(a, b, m)
    else:
        raise ValueError(f"unknown kind {kind!r}; choose from {KINDS}")
    return {"id": f"toolmath-{kind}-{zlib.crc32(question.encode()):08x}", "kind": kind,
            "question": question, "answer": str(answer)}


def _number(text: str) -> Fraction | None:
    """The exact value of one written number (``1,234``, ``1{,}234``, ``1\\,234``, ``−37``,
    ``x = 5``, ``\\text{5}``, ``5.0``), else None. A comma or a space between digits separates
    thousands only: ``5, 6`` and ``5 6`` are two numbers, not 56."""
    text = unicodedata.normalize("NFKC", text).replace("\u2212", "-")
    text = re.sub(r"^\s*[a-zA-Z]\s*=", "", text)
    text = re.sub(r"\\(?:text|mathrm|mathbf|textbf)\{([^}]*)\}", r"\1", text)
    text = text.replace("{,}", ",").replace("\\$", "").replace("$", "")
    text = re.sub(r"\\[,!; ]", " ", text)
    if re.search(r"\d\s+(?!\d{3}(?!\d))\d", text):  # a space between digits: thousands only
        return None
    text = re.sub(r"\s", "", text)
    while re.fullmatch(r"\{[^{}]*\}", text):
        text = text[1:-1]
    if re.search(r",(?!\d{3}(?!\d))|(?<!\d),", text):
        return None
    text = text.replace(",", "")
    try:
        return Fraction(text) if len(text) <= 10_000 else None
    except (ValueError, ZeroDivisionError):
        return None


def _answer_key(boxed: str) -> Fraction | str:
    """One answer's normal form: its exact value, else its stripped text."""
    value = _number(boxed)
    return value if value is not None else boxed.strip()


_MAX_STATED = 200
_PROSE_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}(?![A-Za-z])[.:]?")
_JOINING_WORDS = re.compile(
    r"\b(?:or|nor|and|not|no|but|plus|minus|times|over|mod|wrong|incorrect|false|never|except"
    r"|than|instead)\b", re.IGNORECASE)


def _stated_number(text: str) -> Fraction | None:
    """The value of a committed answer written in prose ("the answer is 1,234 as computed",
    "Final Answer: the product is 42."): one number among words that neither hedge it, negate
    it nor join another value to it."""
    value = _number(text)
    if value is not None or len(text) > _MAX_STATED:  # bounded
        return value
    words = " ".join(m.group(0) for m in _PROSE_WORD_RE.finditer(text))
    if hedge_in(words) or _JOINING_WORDS.search(words):
        return None
    return _number(_PROSE_WORD_RE.sub(" ", text).strip().rstrip("."))


def judge_numeric_answer(reply: str, task: Mapping[str, Any]) -> Verdict:
    """Exact numeric match of the committed answer against ``task["answer"]``
    (:func:`rlenvs.tools.answers.committed`): boxes that disagree (``\\boxed{41} ...
    \\boxed{42}``) are several answers and fail; a later "the answer is X" / ``#### X`` must
    be right as well; a box inside a thinking block is not an answer."""
    got = committed(reply, _answer_key)
    if got.answer is None:
        return Verdict(score=0.0, passed=False, reason=str(got.problem),
                       details={"extracted": None, "components": {"answer": 0.0}})
    boxed = got.answer
    gold = _number(str(task["answer"]))
    if gold is None:
        correct = boxed.strip() == str(task["answer"]).strip() and not got.later
    else:
        correct = _number(boxed) == gold and all(_stated_number(a) == gold for a in got.later)
    shown = boxed if not got.later else f"{boxed}, then {got.later[0]}"
    return Verdict(
        score=1.0 if correct else 0.0,
        passed=correct,
        reason="correct" if correct else f"expected {task['answer']}, got {shown[:80]!r}",
        details={"extracted": boxed[:200], "components": {"answer": 1.0 if correct else 0.0}},
    )


class ToolMathEnv(ToolEnv):
    """ToolMath with the ``calculator`` and ``python`` tools.

    Args:
        kinds: task kinds to draw from (uniformly).
        python_timeout_s: per-cell sandbox timeout.
        python_runner: sandbox override (``runner(source, timeout_s=...)``), default
            ``judges.code.run_python``.
        **kwargs: ``ToolEnv`` options (``parser``, ``max_turns``, ``reward``...).
    """

    def __init__(self, kinds: tuple[str, ...] | list[str] = KINDS, python_timeout_s: float = 5.0,
                 python_runner: Any = None, **kwargs: Any) -> None:
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {kinds!r}")
        self.kinds = tuple(kinds)

        def generate(rng: np.random.Generator) -> dict[str, Any]:
            return make_toolmath_task(rng, self.kinds[int(rng.integers(len(self.kinds)))])

        task_env = TaskEnv(
            source=ProceduralSource(generate),
            prompt=lambda task: PROMPT.format(question=task["question"]),
            judge=judge_numeric_answer,
            required_keys=("question", "answer"),
            public_fields=("id", "kind", "question"),  # the rest is private (issue 26)
        )
        tools = [calculator, make_python_tool(timeout_s=python_timeout_s, runner=python_runner)]
        super().__init__(task_env, tools, **kwargs)
