"""``rlenvs/Arithmetic-v0``: procedural integer arithmetic with difficulty levels.

Level 1: one addition/subtraction of 1-digit numbers; 2: of 2-digit numbers; 3: two of them;
4: two operations with multiplication; 5: three operations on 3-digit numbers with parentheses.
The answer goes in ``\\boxed{}``; ``judges.math.verify_math`` scores it. Every task carries a
worked ``solution`` (one line per operation, in evaluation order) for methods that learn from
reference solutions (GHPO hints); it is never shown to the policy.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from rlenvs.envs.math_judge import make_math_judge
from rlenvs.task_env import TaskEnv
from rlenvs.tasks import ProceduralSource

__all__ = ["ArithmeticEnv", "LEVELS", "make_arithmetic_task", "worked_solution"]

# level -> (digits per operand, number of operations, operators)
LEVELS: dict[int, tuple[int, int, str]] = {
    1: (1, 1, "+-"),
    2: (2, 1, "+-"),
    3: (2, 2, "+-"),
    4: (2, 2, "+-*"),
    5: (3, 3, "+-*"),
}

PROMPT = "Compute {question}. Put your final answer in \\boxed{{}}."


def make_arithmetic_task(rng: np.random.Generator, level: int) -> dict[str, Any]:
    """A random expression at ``level``; ``answer`` is its exact integer value as a string."""
    digits, n_ops, ops = LEVELS[level]
    lo, hi = (0 if digits == 1 else 10 ** (digits - 1)), 10**digits
    numbers = [int(rng.integers(lo, hi)) for _ in range(n_ops + 1)]
    operators = [ops[int(rng.integers(len(ops)))] for _ in range(n_ops)]
    expr = str(numbers[0])
    for i, (op, num) in enumerate(zip(operators, numbers[1:], strict=True)):
        # Level 5 wraps the running expression in parentheses half of the time.
        if level >= 5 and i > 0 and rng.random() < 0.5:
            expr = f"({expr})"
        expr = f"{expr} {op} {num}"
    value = _evaluate(expr)
    return {
        "id": f"arith-L{level}-{expr.replace(' ', '')}",
        "question": expr,
        "answer": str(value),
        "level": level,
        "solution": worked_solution(expr),
    }


def worked_solution(expr: str) -> str:
    """A step-by-step solution of ``expr``: one ``a op b = c`` line per operation in evaluation
    order (parentheses and ``*`` first, then left to right), then the boxed answer.

    >>> print(worked_solution("3 + 4 * 2"))
    4 * 2 = 8
    3 + 8 = 11
    The answer is \\boxed{11}.
    """
    import ast

    _evaluate(expr)  # validates the characters and the operators
    lines: list[str] = []
    ops = {ast.Add: ("+", int.__add__), ast.Sub: ("-", int.__sub__), ast.Mult: ("*", int.__mul__)}

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return int(node.value)
        if isinstance(node, ast.UnaryOp):
            return -walk(node.operand)
        assert isinstance(node, ast.BinOp)
        a, b = walk(node.left), walk(node.right)
        symbol, apply = ops[type(node.op)]
        value = apply(a, b)
        lines.append(f"{a} {symbol} {b if b >= 0 else f'({b})'} = {value}")
        return value

    value = walk(ast.parse(expr, mode="eval"))
    return "\n".join(lines + [f"The answer is \\boxed{{{value}}}."])


def _evaluate(expr: str) -> int:
    """Exact integer value of an expression made only of digits, + - * and parentheses."""
    if not re.fullmatch(r"[0-9+\-* ()]+", expr):
        raise ValueError(f"not an arithmetic expression: {expr!r}")
    import ast

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        raise ValueError(f"unsupported expression {expr!r}")

    return ev(ast.parse(expr, mode="eval"))


class ArithmeticEnv(TaskEnv):
    """Integer arithmetic; ``level`` in 1..5 or ``"mixed"`` (every level, evenly by seed).

    Args:
        level: difficulty, or ``"mixed"``: ``reset(seed=s)`` draws a level-``1 + s % 5`` task
            (also through wrappers: ``ArithmeticFeedback-v0``, tool envs), so any five
            consecutive seeds (an evaluation's episodes) cover every level evenly; an unseeded
            reset draws the level at random.
        lenient: accept the last number in the reply when there is no ``\\boxed{}``.
        format_credit: score given to a wrong but boxed answer (for the ``"dense"`` schedule).
        **kwargs: ``LLMEnv`` options (``reward="binary"|"dense"``, ``system_prompt``, ...).
    """
    public_fields = ("id", "question", "level")  # the rest is private (issue 26)

    def __init__(
        self,
        level: int | str = "mixed",
        lenient: bool = False,
        format_credit: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if level != "mixed" and level not in LEVELS:
            raise ValueError(f"level must be one of {sorted(LEVELS)} or 'mixed', got {level!r}")
        self.level = level
        self.lenient = lenient
        self.format_credit = format_credit

        def generate(rng: np.random.Generator) -> dict[str, Any]:
            lvl = int(rng.integers(1, len(LEVELS) + 1)) if level == "mixed" else int(level)
            return make_arithmetic_task(rng, lvl)

        super().__init__(
            source=ProceduralSource(generate),
            prompt=lambda task: PROMPT.format(question=task["question"]),
            judge=make_math_judge(lenient=lenient, format_credit=format_credit),
            required_keys=("question", "answer"),
            **kwargs,
        )

    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        # "mixed", seeded: stratified over the seeds, so 10 evaluation episodes hit each level
        # twice (random levels put seeds 0-9 all on levels 3-5: issue 30). Read from the
        # generator, so wrappers that sample through this env (ArithmeticFeedback-v0, tools)
        # stratify by their own reset's seed too.
        seed = _fresh_seed(rng) if self.level == "mixed" else None
        if seed is not None:
            return make_arithmetic_task(rng, 1 + seed % len(LEVELS))
        return super().sample_task(rng)


def _fresh_seed(rng: np.random.Generator) -> int | None:
    """The seed of a generator that has drawn nothing since ``reset(seed=s)`` seeded it
    (gymnasium seeds ``PCG64(SeedSequence(s))``), else ``None`` (an unseeded reset continues
    the generator, so its level stays random)."""
    bit_generator = rng.bit_generator
    seq = getattr(bit_generator, "seed_seq", None)
    if not isinstance(seq, np.random.SeedSequence) or not isinstance(seq.entropy, int) \
            or seq.spawn_key:
        return None
    try:
        fresh = type(bit_generator)(seq).state == bit_generator.state
    except (TypeError, ValueError):
        return None
    return seq.entropy if fresh else None
