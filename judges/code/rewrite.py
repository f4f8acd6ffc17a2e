"""Compile trusted test source into sandbox-ready code with strict comparisons.

Every comparison in the test (``a == b``, ``0 <= x < n``, ``x in xs``; ``is``/``is not`` chains
are left alone) becomes ``<cmp>(op, a, b)()`` and every ``assert`` condition goes through
``<truth>(...)()``, where ``<cmp>``/``<chain>``/``<truth>`` are placeholder *string constants*
that the sandbox harness swaps for its strict helpers (``_strict.cmp`` etc.) before any
untrusted code runs. Binding them as code constants rather than names means program code cannot
rebind them. Chained comparisons evaluate all operands eagerly (no short-circuit).

Compilation happens in the parent (tests are trusted, programs are not) and is cached.
"""

from __future__ import annotations

import ast
import functools
import marshal
import warnings

__all__ = ["compile_test", "BadTestSource"]

CMP = "\x00rlenvs.cmp\x00"  # mirrors _harness.PLACEHOLDERS
CHAIN = "\x00rlenvs.chain\x00"
TRUTH = "\x00rlenvs.truth\x00"
_OP_NAMES = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
}


class BadTestSource(ValueError):
    """The test source itself does not compile."""


def _thunk_call(placeholder: str, args: list[ast.expr]) -> ast.expr:
    inner = ast.Call(func=ast.Constant(placeholder), args=args, keywords=[])
    return ast.Call(func=inner, args=[], keywords=[])


class _StrictRewriter(ast.NodeTransformer):
    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        ops = [_OP_NAMES[type(op)] for op in node.ops]
        if all(op in ("is", "is not") for op in ops):
            return node
        if len(ops) == 1:
            new = _thunk_call(CMP, [ast.Constant(ops[0]), node.left, node.comparators[0]])
        else:
            new = _thunk_call(CHAIN, [ast.Tuple([ast.Constant(o) for o in ops], ast.Load()),
                                      node.left, *node.comparators])
        return ast.copy_location(new, node)

    def visit_Assert(self, node: ast.Assert) -> ast.Assert:
        self.generic_visit(node)
        node.test = self._truthy(node.test)
        return node

    def _truthy(self, expr: ast.expr) -> ast.expr:
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Call) and isinstance(
                expr.func.func, ast.Constant) and expr.func.func.value in (CMP, CHAIN, TRUTH):
            return expr  # already a strict bool
        if isinstance(expr, ast.BoolOp):
            expr.values = [self._truthy(v) for v in expr.values]
            return expr
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
            expr.operand = self._truthy(expr.operand)
            return expr
        if isinstance(expr, ast.Constant):
            return expr
        return ast.copy_location(_thunk_call(TRUTH, [expr]), expr)


@functools.lru_cache(maxsize=4096)
def compile_test(source: str, filename: str = "<test>") -> bytes:
    """Rewrite and compile one test; returns ``marshal`` bytes of the code object.

    Raises:
        BadTestSource: the test source has a syntax error.
    """
    try:
        tree = ast.parse(source, filename, "exec")
    except (SyntaxError, ValueError) as exc:
        raise BadTestSource(f"test does not compile: {exc}") from exc
    tree = ast.fix_missing_locations(_StrictRewriter().visit(tree))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "'str' object is not callable" on the placeholders
        code = compile(tree, filename, "exec", dont_inherit=True)
    return marshal.dumps(code)
