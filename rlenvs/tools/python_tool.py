"""The ``python`` tool: a stateful interpreter per episode, run in the sandbox.

State is the list of cells that ran successfully (``state["cells"]``, part of the episode, so
``clone()`` copies it). Each call runs a fresh sandboxed interpreter that silently replays the
history and then the new cell; the new cell's stdout (and the ``repr`` of a final expression,
REPL-style) is the observation. A failing cell shows its traceback and is not added to the
history. Replay is therefore lazy: a clone pays nothing until its next ``python`` call.

The sandbox is ``judges.code.run_python(source, timeout_s=...)``, imported on first use; when it
is not installed the call is an error observation saying so (the environment keeps working).

A cell is kept only when the run proves it ran to its end: exit code exactly 0 *and* the
driver's end mark on stderr, written after the cell returned. A cell that ends the interpreter
(``exit()``, ``os._exit``), is killed (signal, memory) or times out is an error and is not kept,
so it can never be replayed into every later call. A run the sandbox could not carry out
(``error`` set, or the runner raised) is a :class:`~rlenvs.tools.base.ToolFault`: the policy is
told the tool failed, and environments do not count it against the policy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rlenvs.tools.base import Tool, ToolError, ToolFault

__all__ = ["make_python_tool", "build_program", "sandbox_runner", "END_MARK"]

Runner = Callable[..., Any]
MAX_CELL_CHARS = 20_000
MAX_CELLS = 50
END_MARK = "\n[python tool: cell finished]\n"

_DRIVER = '''\
import ast, contextlib, io, json, sys, traceback
_cells = json.loads({cells!r})
_ns = {{"__name__": "__main__"}}

def _run(src, name, show):
    tree = ast.parse(src, name)
    last = None
    if show and tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, name, "exec"), _ns)
    if last is not None:
        value = eval(compile(last, name, "eval"), _ns)
        if value is not None:
            print(repr(value))

try:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for _i, _c in enumerate(_cells[:-1]):
            _run(_c, "<cell %d>" % (_i + 1), False)
except BaseException as _e:
    print("replaying earlier cells failed: %s: %s" % (type(_e).__name__, _e), file=sys.stderr)
    sys.exit(3)
try:
    _run(_cells[-1], "<cell %d>" % len(_cells), True)
except SystemExit as _e:
    print("the cell ended the interpreter (SystemExit: %s); it was not kept" % (_e,),
          file=sys.stderr)
    sys.exit(2)
except BaseException as _e:
    _tb = [f for f in traceback.extract_tb(_e.__traceback__) if f.filename.startswith("<cell")]
    print("Traceback (most recent call last):", file=sys.stderr)
    print("".join(traceback.format_list(_tb)), end="", file=sys.stderr)
    print("".join(traceback.format_exception_only(type(_e), _e)), end="", file=sys.stderr)
    sys.exit(1)
sys.stdout.flush()
sys.stderr.write({end!r})
sys.stderr.flush()
'''


def build_program(cells: list[str]) -> str:
    """The driver program that replays ``cells[:-1]`` quietly and runs ``cells[-1]``."""
    return _DRIVER.format(cells=json.dumps(cells), end=END_MARK)


def sandbox_runner() -> Runner:
    """``judges.code.run_python``, or a ``ToolFault`` explaining that the sandbox is missing."""
    try:
        from judges.code import run_python
    except ImportError as e:
        raise ToolFault(
            "the python tool needs the code sandbox (judges.code.run_python), which is not "
            f"available in this installation ({e})"
        ) from None
    return run_python


def _field(result: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if isinstance(result, dict) and name in result:
            return result[name]
        if hasattr(result, name):
            return getattr(result, name)
    return default


def _observe(result: Any, code: str, cells: list[str], timeout_s: float,
             max_output_chars: int) -> str:
    """The observation of one run; appends ``code`` to ``cells`` only if it provably finished."""
    error = _field(result, "error", default=None)
    if error:
        raise ToolFault(f"the python sandbox failed to run the cell ({str(error)[:200]}); "
                        "it was not kept")
    stdout = str(_field(result, "stdout", default="") or "")
    stderr = str(_field(result, "stderr", default="") or "")
    rc = _field(result, "exit_code", "returncode", "exitcode", default=None)
    if _field(result, "timed_out", default=False):
        raise ToolError(f"the cell timed out after {timeout_s} s (it was not kept)\n"
                        + stdout[-max_output_chars // 2 :])
    finished = rc == 0 and (stderr.endswith(END_MARK)
                            or bool(_field(result, "stderr_truncated", default=False)))
    if not finished:
        stderr = stderr.replace(END_MARK, "")
        if rc == 0:
            stderr += "\nthe cell ended the interpreter before finishing; it was not kept"
        elif rc is None or rc < 0:
            how = _field(result, "reason", default=None) or "killed by a signal"
            stderr += f"\nthe cell was stopped ({how}); it was not kept"
        shown = (stdout + ("\n" if stdout and stderr else "") + stderr)[-max_output_chars:]
        raise ToolError(shown.strip() or f"the cell ended with exit code {rc}; it was not kept")
    cells.append(code)
    return stdout[:max_output_chars] if stdout else "(no output)"


def make_python_tool(timeout_s: float = 5.0, runner: Runner | None = None,
                     max_output_chars: int = 4000) -> Tool:
    """A ``python`` tool; ``runner(source, timeout_s=...)`` defaults to the sandbox.

    The runner's result must expose ``stdout``, ``stderr``, an exit code (``exit_code`` or
    ``returncode``) and ``timed_out`` (attributes or dict keys).
    """

    def python(code: str, state: dict[str, Any]) -> str:
        """Run Python code in a persistent interpreter (variables survive between calls).
        Print what you want to see; the value of a final expression is shown too.

        Args:
            code: the Python cell to run.
        """
        if len(code) > MAX_CELL_CHARS:
            raise ToolError(f"cell is {len(code)} characters; limit {MAX_CELL_CHARS}")
        cells: list[str] = state.setdefault("cells", [])
        if len(cells) >= MAX_CELLS:
            raise ToolError(f"the session has {MAX_CELLS} cells, the maximum")
        run = runner if runner is not None else sandbox_runner()
        try:
            result = run(build_program([*cells, code]), timeout_s=timeout_s)
        except Exception as e:  # noqa: BLE001 - the sandbox failing is the tool's fault
            raise ToolFault(f"the python sandbox failed to run the cell "
                            f"({type(e).__name__}: {str(e)[:200]}); it was not kept") from None
        return _observe(result, code, cells, timeout_s, max_output_chars)

    return Tool(python, name="python", max_result_chars=max_output_chars)
