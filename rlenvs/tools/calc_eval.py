"""Exact arithmetic and algebra with sympy on a restricted grammar; the calculator's worker.

Safety: the expression is checked before sympy sees it (allowed characters, allowed names only,
no attribute access, no strings, bounded length and literal sizes); ``parse_expr`` then builds an
*unevaluated* tree, and every power / factorial is checked bottom-up against size bounds before
anything is computed. Some sympy calls stay unbounded even so (``factorint`` of a large
semiprime, ``solve`` of a hard system), so this module never runs in the process that asked:
run as a script it is the worker of :mod:`rlenvs.tools.calculator` (one JSON request per line
on stdin, one JSON reply per line on stdout), which kills it at a hard deadline. Inside the
worker a SIGALRM soft timeout turns a merely slow expression into an error without the kill.

It imports nothing of ``rlenvs`` (the worker starts with sympy alone).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sympy
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication_application,
    parse_expr,
    standard_transformations,
)

__all__ = ["CalcError", "evaluate", "MAX_EXPRESSION_CHARS", "TIMEOUT_S"]


class CalcError(Exception):
    """An expression that cannot be evaluated (the message is shown to the policy)."""


MAX_EXPRESSION_CHARS = 500
MAX_LITERAL_DIGITS = 400
MAX_RESULT_DIGITS = 20_000
MAX_FACTORIAL = 2_000
TIMEOUT_S = 2.0

_SYMBOLS = {name: sympy.Symbol(name) for name in ("x", "y", "z", "n", "k", "t")}
_FUNCTIONS = {
    "sqrt": sympy.sqrt, "cbrt": sympy.cbrt, "root": sympy.root, "exp": sympy.exp,
    "log": sympy.log, "ln": sympy.log, "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan,
    "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan, "abs": sympy.Abs,
    "Abs": sympy.Abs, "floor": sympy.floor, "ceiling": sympy.ceiling, "ceil": sympy.ceiling,
    "factorial": sympy.factorial, "binomial": sympy.binomial, "gcd": sympy.gcd,
    "lcm": sympy.lcm, "Mod": sympy.Mod, "mod": sympy.Mod, "Rational": sympy.Rational,
    "pi": sympy.pi, "E": sympy.E, "e": sympy.E, "oo": sympy.oo, "solve": sympy.solve,
    "Eq": sympy.Eq, "summation": sympy.summation, "Sum": sympy.Sum, "product": sympy.product,
    "expand": sympy.expand, "factor": sympy.factor, "simplify": sympy.simplify,
    "isprime": sympy.isprime, "factorint": sympy.factorint, "Integer": sympy.Integer,
    "Float": sympy.Float, "Symbol": sympy.Symbol,
}
_NAMES = {**_SYMBOLS, **_FUNCTIONS}
_GLOBALS = ("Integer", "Float", "Rational", "Symbol", "Add", "Mul", "Pow", "Tuple")
_ALLOWED_CHARS = re.compile(r"[0-9A-Za-z_+\-*/^%().,= \t\n]*")
_TRANSFORMS = standard_transformations + (convert_xor, implicit_multiplication_application)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """SIGALRM-based soft timeout (the worker's main thread), so a slow expression returns an
    error and leaves the worker alive; the caller's hard deadline covers everything else."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _check_sizes(expr: sympy.Basic) -> None:
    """Reject powers / factorials whose value would be astronomically large."""
    for node in sympy.postorder_traversal(expr):
        if isinstance(node, sympy.Pow):
            base, exponent = node.args
            exponent = exponent.doit()
            if not exponent.is_number:
                continue
            if exponent.is_real is False:
                continue
            e = abs(float(sympy.N(exponent, 15)))
            b = base.doit()
            if b.is_number and e > 1:
                magnitude = abs(complex(sympy.N(b, 15)))
                digits = e * (float(sympy.log(magnitude, 10)) if magnitude > 1 else 0.0)
                if digits > MAX_RESULT_DIGITS or (e > 100_000 and magnitude != 1):
                    raise CalcError(f"result too large: {node} has about {digits:.0f} digits "
                                    f"(limit {MAX_RESULT_DIGITS})")
        elif isinstance(node, sympy.factorial | sympy.binomial):
            arg = node.args[0].doit()
            if arg.is_number and abs(float(sympy.N(arg))) > MAX_FACTORIAL:
                raise CalcError(f"factorial/binomial argument over {MAX_FACTORIAL}")


def _format(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_format(k)}: {_format(v)}" for k, v in value.items()) + "}"
    if isinstance(value, sympy.Basic):
        if value.is_Integer:
            return str(int(value))
        if value.is_Rational:
            return f"{value} (≈ {sympy.N(value, 15)})"
        if value.is_number and not value.free_symbols:
            exact = str(value)
            approx = sympy.N(value, 15)
            return exact if exact == str(approx) else f"{exact} (≈ {approx})"
    return str(value)


def evaluate(expression: str) -> str:
    """Evaluate ``expression`` here (no hard deadline: call it only in the worker, or through
    :func:`rlenvs.tools.calculator.calculate`); raises ``CalcError`` with a readable reason."""
    expression = expression.strip()
    if not expression:
        raise CalcError("empty expression")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalcError(f"expression is {len(expression)} characters; limit {MAX_EXPRESSION_CHARS}")
    if not _ALLOWED_CHARS.fullmatch(expression):
        bad = sorted({c for c in expression if not _ALLOWED_CHARS.fullmatch(c)})[:5]
        raise CalcError(f"characters not allowed in an expression: {bad}")
    if "__" in expression:
        raise CalcError("names with '__' are not allowed")
    unknown = sorted({w for w in re.findall(r"(?<![\d.])[A-Za-z_]\w*", expression) if w not in _NAMES})
    if unknown:
        raise CalcError(f"unknown name(s) {unknown[:5]}; allowed: numbers, + - * / ^ % ( ), "
                        f"x y z n k t, and {sorted(_FUNCTIONS)}")
    if any(len(d) > MAX_LITERAL_DIGITS for d in re.findall(r"\d+", expression)):
        raise CalcError(f"a number literal has over {MAX_LITERAL_DIGITS} digits")
    equation = re.fullmatch(r"([^=]+)=([^=]+)", expression)
    try:
        with _deadline(TIMEOUT_S):
            if equation:
                lhs, rhs = (_parse(part) for part in equation.groups())
                _check_sizes(lhs)
                _check_sizes(rhs)
                eq = sympy.Eq(lhs.doit(), rhs.doit(), evaluate=False)
                symbols = sorted(eq.free_symbols, key=str)
                if not symbols:
                    return "True" if bool(sympy.simplify(eq.lhs - eq.rhs) == 0) else "False"
                solutions = sympy.solve(eq, symbols, dict=True)
                if not solutions:
                    return "no solution"
                return "; ".join(
                    ", ".join(f"{s} = {_format(v)}" for s, v in sol.items()) for sol in solutions
                )
            expr = _parse(expression)
            _check_sizes(expr)
            value = expr.doit()
            if isinstance(value, sympy.Basic) and value.has(sympy.zoo, sympy.nan):
                raise CalcError(f"{expression[:80]!r} is undefined (division by zero?)")
            return _format(value)
    except CalcError:
        raise
    except TimeoutError:
        raise CalcError(f"calculation took longer than {TIMEOUT_S} s") from None
    except Exception as e:  # noqa: BLE001 - sympy raises many kinds; all mean "cannot evaluate"
        raise CalcError(f"cannot evaluate {expression[:80]!r}: {type(e).__name__}: "
                        f"{str(e)[:200]}") from None


def _parse(text: str) -> sympy.Basic:
    return parse_expr(text, local_dict=dict(_NAMES), global_dict={"__builtins__": {},
                      **{k: getattr(sympy, k) for k in _GLOBALS}},
                      transformations=_TRANSFORMS, evaluate=False)


def _serve(memory_mb: int) -> None:
    """The worker loop: ``{"expression": str}`` in, ``{"output": str}`` or ``{"error": str}``
    out, one JSON object per line; ends when stdin closes."""
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    if hasattr(sys, "set_int_max_str_digits"):  # results up to MAX_RESULT_DIGITS are shown
        sys.set_int_max_str_digits(max(MAX_RESULT_DIGITS + 1000, sys.get_int_max_str_digits()))
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")  # replies: a private copy of stdout
    os.dup2(2, 1)  # anything else printed goes to stderr and cannot corrupt the protocol
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            reply = {"output": evaluate(json.loads(line)["expression"])}
        except CalcError as e:
            reply = {"error": str(e)}
        except MemoryError:
            reply = {"error": "the calculation ran out of memory"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else 2048)
