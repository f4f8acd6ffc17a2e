"""False-negative probes: the correct answer written in other correct forms, which a correct
judge must pass (a correct answer scored wrong teaches a policy to avoid correct styles).

* answer tasks: the gold as the prompt asks for it, and as an exact decimal or fraction,
  ``a/b`` or ``\\frac``/``\\dfrac``, with thousands separators, ``x = ...``, units in
  ``\\text{}``, after a thinking block that considered a wrong value;
* code tasks: the task's reference solution (if it has one) fenced, unfenced, re-printed in
  another style and wrapped in a helper;
* instruction tasks: a compliant response (``judges.ifeval.build_witness``), plain and with
  invisible characters between its words;
* open tasks: the task's ``reference`` reply, unless the judge is scripted.
"""

from __future__ import annotations

import ast
import random
from fractions import Fraction

from rlenvs.audit.context import TaskView, as_number, wrong_values
from rlenvs.audit.family import INVISIBLES, fenced
from rlenvs.audit.instructions import witness

__all__ = ["probe_replies"]


def _number_forms(value: Fraction) -> list[str]:
    if value.denominator == 1:
        n = value.numerator
        forms = [str(n), f"{n}.0", f"x = {n}", f"{n} \\text{{ units}}"]
        if abs(n) >= 1000:
            forms.append(f"{n:,}")
        return forms
    sign, a, b = ("-" if value < 0 else ""), abs(value.numerator), value.denominator
    forms = [f"{sign}\\frac{{{a}}}{{{b}}}", f"{sign}{a}/{b}", f"{sign}\\dfrac{{{a}}}{{{b}}}"]
    d = b
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d == 1:  # a terminating decimal is exactly the fraction
        forms.append(str(float(value)))
    return forms


def _answer_probes(view: TaskView) -> list[str]:
    assert view.gold is not None
    value = as_number(view.gold)
    forms = [view.gold] + (_number_forms(value) if value is not None else [])
    if value is None and view.gold.replace(" ", "").isalpha():
        forms.append(view.gold.lower())
    replies = []
    for form in dict.fromkeys(forms):
        replies.append(view.container(form))
        replies.append(f"\\boxed{{{form}}}" if view.boxed else f"{form}.")
    wrong = wrong_values(view.gold, 1)[0]
    replies.append(f"<think>Maybe it is {wrong}? No.</think>\n{view.container(view.gold)}")
    return replies


class _Rename(ast.NodeTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        if node.name == self.old:
            node.name = self.new
        self.generic_visit(node)
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == self.old:
            node.id = self.new
        return node


def _code_probes(view: TaskView) -> list[str]:
    program = view.reference_program
    if not program or not view.entry_point:
        return []
    replies = [fenced(program), program]
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return replies
    replies.append(fenced(ast.unparse(tree)))
    renamed = ast.unparse(_Rename(view.entry_point, "_impl").visit(tree))
    replies.append(fenced(f"{renamed}\n\ndef {view.entry_point}(*args, **kwargs):\n"
                          "    return _impl(*args, **kwargs)"))
    return replies


def probe_replies(view: TaskView, rng: random.Random, scripted_judge: bool = False
                  ) -> tuple[list[str], str | None]:
    """``(replies, None)``, or ``([], reason)`` when the task gives nothing to probe with."""
    if view.kind == "answer":
        return _answer_probes(view), None
    if view.kind == "code":
        replies = _code_probes(view)
        return replies, None if replies else "the task has no reference solution"
    if view.kind == "instructions":
        text = witness(view)
        if text is None:
            return [], "no compliant response could be built for these instructions"
        words = text.split(" ")
        spaced = " ".join(w + (rng.choice(INVISIBLES) if w and i % 3 == 1 else "")
                          for i, w in enumerate(words))
        return [text, spaced], None
    reference = view.task.get("reference")
    if not isinstance(reference, str) or not reference.strip():
        return [], "the task has no reference reply"
    if scripted_judge:
        return [], "a scripted judge has no opinion on correctness"
    return [reference], None
