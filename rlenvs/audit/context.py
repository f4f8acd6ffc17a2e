"""What an audit knows about one episode: the task, split by the env's own schema.

The audit runs in the judging process (``env.unwrapped``), so it reads the task's private
fields -- the ones :meth:`rlenvs.core.LLMEnv.public_task` keeps from the policy -- to learn what
the judge will compare against: a gold answer, a program's tests, a reference solution, the
instructions a reply must follow. :func:`task_view` classifies the task by those fields:

* ``code`` -- a private list of test snippets (``tests``);
* ``instructions`` -- IFEval-style ``instruction_id_list`` and ``kwargs``;
* ``answer`` -- a private ``answer`` (or ``gold``, ``target``, ... or the field named by
  ``gold_field``; a solution whose last ``\\boxed{}`` is the answer counts);
* ``open`` -- nothing to compare against (an LLM- or rule-judged prompt).
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import gymnasium as gym

__all__ = ["TaskView", "task_view", "as_number", "wrong_values"]

_BUILTINS = frozenset(dir(builtins))


@dataclass
class TaskView:
    """One episode's task as the audit reads it (see the module docstring)."""

    task: dict[str, Any]
    public: dict[str, Any]
    private: tuple[str, ...]
    prompt: str
    kind: str
    gold: str | None = None
    boxed: bool = False
    tests: list[str] = field(default_factory=list)
    entry_point: str | None = None
    reference_program: str | None = None
    test_names: tuple[str, ...] = ()
    instruction_ids: list[str] = field(default_factory=list)
    instruction_kwargs: list[dict[str, Any]] = field(default_factory=list)
    max_reply_chars: int | None = None

    def container(self, value: str) -> str:
        """``value`` written the way the prompt asks for an answer."""
        return f"The answer is $\\boxed{{{value}}}$." if self.boxed else value


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")


def _last_boxed(text: str) -> str | None:
    from rlenvs.tools.answers import boxed_contents

    boxes = boxed_contents(text)
    return boxes[-1].strip() if boxes else None


def _entry_point(task: dict[str, Any], tests: list[str]) -> tuple[str | None, tuple[str, ...]]:
    """The function the tests call first (the task's ``entry_point`` when it names one), and
    every builtin name the tests use."""
    called: list[str] = []
    used: set[str] = set()
    for source in tests:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        assigned = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                    and isinstance(n.ctx, ast.Store)}
        assigned |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in _BUILTINS:
                    used.add(node.id)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                name = node.func.id
                if name not in _BUILTINS and name not in assigned and name not in called:
                    called.append(name)
    entry = task.get("entry_point") if isinstance(task.get("entry_point"), str) else None
    return entry or (called[0] if called else None), tuple(sorted(used))


def _reference(task: dict[str, Any]) -> str | None:
    prefix = task.get("program_prefix")
    if isinstance(task.get("canonical_solution"), str):
        body = task["canonical_solution"]
        return (prefix or "") + body
    for key in ("code", "solution", "reference_solution"):
        if isinstance(task.get(key), str) and "def " in task[key]:
            return task[key]
    return None


#: private fields read as the gold answer, in this order (``gold_field`` names another)
GOLD_FIELDS = ("answer", "gold", "target", "expected", "ground_truth", "label")


def task_view(env: gym.Env, task: dict[str, Any], messages: list[dict[str, Any]],
              gold_field: str | None = None) -> TaskView:
    """Read ``task`` (the episode's, from ``reset``'s ``info``) through ``env``'s schema;
    ``gold_field`` names the private field holding the answer (default: the first of
    :data:`GOLD_FIELDS` the task has)."""
    inner = env.unwrapped
    public = inner.public_task(task) if hasattr(inner, "public_task") else {}
    private = tuple(k for k in task if k not in public)
    prompt = _prompt_text(messages)
    view = TaskView(task=task, public=public, private=private, prompt=prompt, kind="open",
                    boxed="\\boxed" in prompt,
                    max_reply_chars=getattr(inner, "max_reply_chars", None))
    tests = task.get("tests", task.get("test_list"))
    gold_key = gold_field or next((k for k in GOLD_FIELDS if k in private), None)
    if gold_field and gold_field not in task:
        raise KeyError(f"the task has no field {gold_field!r} (its fields: {sorted(task)})")
    if isinstance(tests, list) and tests and all(isinstance(t, str) for t in tests):
        view.kind, view.tests = "code", list(tests)
        view.entry_point, view.test_names = _entry_point(task, view.tests)
        view.reference_program = _reference(task)
    elif isinstance(task.get("instruction_id_list"), list) and "kwargs" in task:
        view.kind = "instructions"
        view.instruction_ids = list(task["instruction_id_list"])
        view.instruction_kwargs = [dict(k or {}) for k in task["kwargs"]]
    elif gold_key in private and isinstance(task[gold_key], str | int | float):
        answer = str(task[gold_key]).strip()
        gold = _last_boxed(answer) if "\\boxed" in answer else answer
        if gold:
            view.kind, view.gold = "answer", gold
    return view


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?")


def as_number(text: str) -> Fraction | None:
    """The exact value of a plain number, decimal, ``p/q`` or ``\\frac{p}{q}``, else ``None``."""
    s = text.strip().replace(",", "") if re.fullmatch(r"-?\d{1,3}(,\d{3})+", text.strip()) \
        else text.strip()
    m = re.fullmatch(r"(-?)\\d?frac\{(-?\d+)\}\{(\d+)\}", s)
    if m:
        return Fraction(int(m.group(2)), int(m.group(3))) * (-1 if m.group(1) else 1) \
            if int(m.group(3)) else None
    if _NUMBER.fullmatch(s):
        try:
            return Fraction(s)
        except (ValueError, ZeroDivisionError):
            return None
    return None


def _latex(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def wrong_values(gold: str, k: int = 4) -> list[str]:
    """``k`` values derived from ``gold`` that differ from it: neighbours and multiples of a
    numeric gold; for any other gold, ``gold + 1`` written out and small integers."""
    value = as_number(gold)
    if value is not None:
        step = Fraction(1) if value.denominator == 1 else Fraction(1, value.denominator)
        cands = [value + step, value - step, value * 2 + 3, -value - 7, value + 10, value * 3 + 1]
        out = []
        for c in cands:
            if c != value and _latex(c) not in out:
                out.append(_latex(c))
        return out[:k]
    out = [f"{gold}+1"] + [n for n in ("0", "17", "-1", "1") if n != gold.strip()]
    return out[:k]
