"""Tools: schemas from typed functions, argument validation, calculator, search, python."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Literal

import pytest

from rlenvs.tools import BM25Index, Tool, calculator, make_python_tool, make_search_tool, tool
from rlenvs.tools.python_tool import build_program


def local_runner(source: str, timeout_s: float = 5.0) -> SimpleNamespace:
    """A real (unsandboxed) subprocess with the sandbox's result shape, for tests only."""
    try:
        p = subprocess.run([sys.executable, "-I", "-c", source], capture_output=True, text=True,
                           timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return SimpleNamespace(stdout=out, stderr="", exit_code=None, timed_out=True)
    return SimpleNamespace(stdout=p.stdout, stderr=p.stderr, exit_code=p.returncode,
                           timed_out=False)


@tool
def lookup(city: str, year: int, unit: Literal["C", "F"] = "C", tags: list[str] | None = None,
           scale: float = 1.0) -> str:
    """Look up the weather.

    Args:
        city: the city name.
        year: a year
            (four digits).
        unit: temperature unit.
    """
    return f"{city}/{year}/{unit}/{tags}/{scale}"


def test_tool_decorator_builds_an_openai_schema():
    schema = lookup.schema
    assert schema["type"] == "function" and schema["function"]["name"] == "lookup"
    fn = schema["function"]
    assert fn["description"] == "Look up the weather."
    params = fn["parameters"]
    assert params["required"] == ["city", "year"]
    assert params["properties"]["city"] == {"type": "string", "description": "the city name."}
    assert params["properties"]["year"]["description"] == "a year (four digits)."
    assert params["properties"]["unit"]["enum"] == ["C", "F"]
    assert params["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert params["properties"]["scale"] == {"type": "number"}
    named = tool(name="weather")(lookup.fn)
    assert isinstance(named, Tool) and named.name == "weather"


@pytest.mark.parametrize(
    "args, error",
    [
        ({"city": "Oslo"}, "missing required"),
        ({"city": "Oslo", "year": "2020"}, "'year' must be integer"),
        ({"city": "Oslo", "year": True}, "'year' must be integer"),
        ({"city": "Oslo", "year": 2020, "unit": "K"}, "one of"),
        ({"city": "Oslo", "year": 2020, "tags": [1]}, "'tags'"),
        ({"city": "Oslo", "year": 2020, "zzz": 1}, "unknown argument"),
        (["Oslo", 2020], "JSON object"),
    ],
)
def test_wrong_arguments_are_errors_not_exceptions(args, error):
    result = lookup.invoke(args)
    assert not result.ok and error in result.error
    assert result.as_text().startswith("Error:")


def test_valid_arguments_run_and_exceptions_become_errors():
    assert lookup.invoke({"city": "Oslo", "year": 2020, "scale": 2}).output == (
        "Oslo/2020/C/None/2")

    @tool
    def boom(x: int) -> int:
        """Always fails."""
        raise RuntimeError("kaput")

    result = boom.invoke({"x": 1})
    assert "RuntimeError: kaput" in result.error


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("123456789 * 987654321", "121932631112635269"),
        ("2^10", "1024"),
        ("3*x + 5 = 20", "x = 5"),
        ("summation(k**2, (k, 1, 100))", "338350"),
        ("1/3 + 1/6", "1/2"),
        ("gcd(12, 18)", "6"),
        ("17 % 5", "2"),
    ],
)
def test_calculator_is_exact(expression, expected):
    assert calculator.invoke({"expression": expression}).output.startswith(expected)


@pytest.mark.parametrize(
    "expression, error",
    [
        ("9**9**9", "too large"),
        ("2**100000", "too large"),
        ("factorial(10**6)", "factorial"),
        ("__import__('os').system('echo hi')", "not allowed"),
        ("x.__class__", "not allowed"),
        ("open(1)", "unknown name"),
        ("1/0", "undefined"),
        ("1" * 600, "limit"),
        ("(((", "cannot evaluate"),
    ],
)
def test_calculator_rejects_unsafe_or_huge_input(expression, error):
    result = calculator.invoke({"expression": expression})
    assert not result.ok and error in result.error, result


def test_bm25_ranks_the_relevant_entry_first_and_accepts_user_documents():
    search = make_search_tool()
    top = search.invoke({"query": "who founded Port Ilvane", "k": 1}).output
    assert top.startswith("[1] Port Ilvane") or "Osric Telmaine" in top
    assert "No results" in search.invoke({"query": "zebra quantum"}).output
    assert not search.invoke({"query": "the of"}).ok  # only stop words
    own = BM25Index(["cats purr softly", "dogs bark loudly", "birds sing"])
    assert own.search("bark", k=1)[0][0]["text"] == "dogs bark loudly"
    user_tool = make_search_tool([{"id": "a", "title": "Alpha", "text": "alpha beta"}])
    assert "Alpha" in user_tool.invoke({"query": "beta"}).output


def test_python_tool_keeps_state_by_replaying_successful_cells():
    py = make_python_tool(timeout_s=5, runner=local_runner)
    state: dict = {}
    assert py.invoke({"code": "x = 21\nprint('set')"}, state).output == "set\n"
    assert py.invoke({"code": "x * 2"}, state).output.strip() == "42"  # REPL-style last value
    bad = py.invoke({"code": "y = x +\n"}, state)
    assert not bad.ok and "SyntaxError" in bad.error
    err = py.invoke({"code": "1/0"}, state)
    assert "ZeroDivisionError" in err.error and "<cell" in err.error
    assert state["cells"] == ["x = 21\nprint('set')", "x * 2"]  # failures are not kept
    out = py.invoke({"code": "print(x + 1)"}, state).output
    assert out == "22\n", "earlier cells' output must not be repeated"


def test_python_tool_timeout_is_an_error_and_not_kept():
    py = make_python_tool(timeout_s=1, runner=local_runner)
    state: dict = {}
    result = py.invoke({"code": "while True: pass"}, state)
    assert not result.ok and "timed out" in result.error and state["cells"] == []


def test_python_tool_without_sandbox_says_so():
    try:
        from judges.code import run_python  # noqa: F401
    except ImportError:
        result = make_python_tool().invoke({"code": "print(1)"}, {})
        assert not result.ok and "judges.code" in result.error
    else:
        result = make_python_tool(timeout_s=10).invoke({"code": "print(6 * 7)"}, {})
        assert result.ok and result.output.strip() == "42", result


def test_driver_program_is_plain_python():
    compile(build_program(["a = 1", "print(a)"]), "<driver>", "exec")
