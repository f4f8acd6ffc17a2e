"""Which names a test resolves, and where each comes from (computed in the parent from the
trusted test source; the sandboxed driver builds each test's namespace from it).

Every name a test resolves is trusted: builtins are the driver's own, modules are the driver's
own copies, the task's helpers (e.g. a HumanEval prompt's ``poly``) come from the task's source,
and the program contributes only the names the task requires it to define - the entry point when
the task names one, otherwise the test's free names that are none of the above (derived with
``symtable``, not from a list of names to avoid). A free name of a standard module counts as
the module unless the test calls it (``code(x)``: a module is not callable).
"""

from __future__ import annotations

import ast
import builtins
import functools
import symtable
import sys
from collections.abc import Sequence

from judges.code.rewrite import BadTestSource, compile_test

__all__ = ["called_names", "free_names", "derive_contract"]

_BUILTIN_NAMES = frozenset(dir(builtins))
_MODULE_NAMES = frozenset(sys.stdlib_module_names)


@functools.lru_cache(maxsize=4096)
def free_names(source: str) -> frozenset[str]:
    """Names the code reads but never binds itself (at module level or as a ``global``).

    Raises:
        BadTestSource: the source does not compile.
    """
    try:
        top = symtable.symtable(source, "<test>", "exec")
    except (SyntaxError, ValueError) as exc:
        raise BadTestSource(f"test does not compile: {exc}") from exc
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    read = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    stack = list(top.get_children())
    while stack:
        table = stack.pop()
        stack.extend(table.get_children())
        for s in table.get_symbols():
            if s.is_global() and s.is_referenced():
                read.add(s.get_name())
            if s.is_declared_global() and s.is_assigned():
                bound.add(s.get_name())
    return frozenset(read - bound)


def derive_contract(tests: Sequence[str], entry_point: str | None = None,
                  helpers: str | None = None) -> dict:
    """The contract of a run: what the program must define and what the task provides:
    ``names`` (required of the program), ``modules`` (the driver's own, by name), ``helpers``
    (the compiled helpers or ``None``) and ``helpers_source``.

    Args:
        tests: the tests' source.
        entry_point: the one name the task requires of the program (HumanEval); ``None``:
            the tests' free names that are not builtins, stdlib modules or helpers.
        helpers: trusted source of the task's helper definitions (``None``: none).

    Raises:
        BadTestSource: a test or the helpers do not compile.
        TypeError: ``entry_point`` or ``helpers`` is not a str.
    """
    if entry_point is not None and (type(entry_point) is not str
                                    or not entry_point.isidentifier()):
        raise TypeError("entry_point must be an identifier (str)")
    if helpers is not None and not isinstance(helpers, str):
        raise TypeError("helpers must be Python source (str)")
    compiled = compile_test(helpers, "<task helpers>") if helpers else None
    free = set().union(*(free_names(t) for t in tests)) if tests else set()
    provided = set()
    if helpers:
        provided = set(_defined(helpers))
        free |= free_names(helpers)
    called = set().union(*(called_names(t) for t in tests)) if tests else set()
    modules = {n for n in free - provided - called if n in _MODULE_NAMES}
    if entry_point is not None:
        names = [entry_point]
    else:
        names = sorted(free - provided - modules - _BUILTIN_NAMES)
    modules = sorted(modules)
    return dict(
        names=names, modules=modules,
        helpers=compiled,
        helpers_source=helpers or "")


def _defined(source: str) -> frozenset[str]:
    top = symtable.symtable(source, "<task helpers>", "exec")
    return frozenset(s.get_name() for s in top.get_symbols()
                     if s.is_assigned() or s.is_imported())


@functools.lru_cache(maxsize=4096)
def called_names(source: str) -> frozenset[str]:
    """Names the code calls directly (``name(...)``): never a module, which is not callable."""
    return frozenset(node.func.id for node in ast.walk(ast.parse(source))
                     if isinstance(node, ast.Call) and isinstance(node.func, ast.Name))
