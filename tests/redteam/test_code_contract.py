"""Red team, code verifier (issue 26): the reported instances, one test each.

Class 1: the program decides what a test's names mean. Class 2: values lose their type or their
equality on the way. Class 3: correct programs scored wrong. Every wrong program must fail, every
correct one must pass. The generated families are in ``test_code_generated.py``.
"""

from __future__ import annotations

import pytest

from judges.code import (
    humaneval_contract,
    humaneval_program,
    humaneval_tests,
    load_humaneval,
    run_tests,
)

TASKS = {t["task_id"]: t for t in load_humaneval()}


def humaneval(task_id: str, completion: str):
    task = TASKS[task_id]
    return run_tests(humaneval_program(task, completion), humaneval_tests(task), timeout_s=10,
                     **humaneval_contract(task))


# ---- class 1: names ---------------------------------------------------------------------------

def test_shadowing_abs_with_a_wrong_mean_absolute_deviation():
    v = humaneval("HumanEval/4", "    return 0.0\n\n\ndef abs(x):\n    return 0\n")
    assert not v.passed and v.score == 0.0, v.reason
    # without the task's contract too: ``abs`` is a builtin, never the program's
    task = TASKS["HumanEval/4"]
    prog = humaneval_program(task, "    return 0.0\n\n\ndef abs(x):\n    return 0\n")
    assert not run_tests(prog, humaneval_tests(task), timeout_s=10).passed


@pytest.mark.parametrize("task_id, fake", [
    ("HumanEval/32", "def poly(xs, x):\n    return 0\n\n\ndef find_zero(xs):\n    return 7.5\n"),
    ("HumanEval/38", "def encode_cyclic(s):\n    return s\n\n\n"
                     "def decode_cyclic(s):\n    return s\n"),
    ("HumanEval/50", "def encode_shift(s):\n    return s\n\n\ndef decode_shift(s):\n    return s\n"),
])
def test_redefining_the_tasks_helpers_with_a_wrong_entry_point(task_id, fake):
    v = humaneval(task_id, fake)
    assert not v.passed and v.score == 0.0, v.reason


def test_helpers_are_the_tasks_for_the_programs_own_calls_too():
    """The program's ``find_zero`` calls ``poly``: it gets the task's, not its redefinition."""
    task = TASKS["HumanEval/32"]
    body = task["canonical_solution"] + "\n\ndef poly(xs, x):\n    return 1.0\n"
    v = humaneval("HumanEval/32", body)
    assert v.passed, v.reason


def test_defining_set_does_not_change_the_tests_set():
    prog = "def set(*a):\n    return 'x'\ndef uniq(xs):\n    return 'x'\n"
    v = run_tests(prog, ["assert set(uniq([1, 1, 2])) == set([1, 2])"], timeout_s=5)
    assert not v.passed


def test_binding_math_to_the_programs_own_object():
    """An MBPP-style test uses ``math`` without importing it (the reference code imported it)."""
    prog = ("class M:\n    def isclose(self, *a, **k):\n        return True\n"
            "math = M()\ndef area(r):\n    return 0.0\n")
    v = run_tests(prog, ["assert math.isclose(area(1.0), 3.14159, rel_tol=1e-3)"], timeout_s=5)
    assert not v.passed
    good = "import math\ndef area(r):\n    return math.pi * r * r\n"
    assert run_tests(good, ["assert math.isclose(area(1.0), 3.14159, rel_tol=1e-3)"],
                     timeout_s=5).passed


# ---- class 2: lossy values --------------------------------------------------------------------

def test_ordered_dict_order_is_compared():
    prog = ("from collections import OrderedDict\n"
            "def f():\n    return OrderedDict([('b', 2), ('a', 1)])\n")
    test = "from collections import OrderedDict\nassert f() == OrderedDict([('a', 1), ('b', 2)])"
    assert not run_tests(prog, [test], timeout_s=5).passed
    assert run_tests(prog, [test.replace("('a', 1), ('b', 2)", "('b', 2), ('a', 1)")],
                     timeout_s=5).passed


def test_system_exit_is_not_caught_as_an_ordinary_exception():
    prog = "import sys\ndef validate(x):\n    sys.exit(0)\n"
    test = ("try:\n    validate(-1)\nexcept Exception:\n    pass\n"
            "else:\n    raise AssertionError('must raise')\n")
    v = run_tests(prog, [test], timeout_s=5)
    assert not v.passed and "SystemExit" in v.reason, v.reason


# ---- class 3: correct programs ----------------------------------------------------------------

CORRECT = [
    ("from collections import namedtuple\nP = namedtuple('P', 'x y')\n"
     "def f():\n    return P(1, 2)\n",
     "p = f()\nassert p.x == 1 and p.y == 2 and p == (1, 2)"),
    ("from fractions import Fraction\ndef f():\n    return Fraction(1, 3)\n",
     "from fractions import Fraction\nassert f() == Fraction(2, 6)"),
    ("def f(xs):\n    xs.sort()\n", "xs = [3, 1, 2]\nf(xs)\nassert xs == [1, 2, 3]"),
    ("def f(xs, key):\n    return sorted(xs, key=key)\n",
     "assert f(['ccc', 'a', 'bb'], key=len) == ['a', 'bb', 'ccc']\n"
     "assert f([3, 1, 2], key=lambda x: -x) == [3, 2, 1]"),
    ("from collections import Counter\ndef f(s):\n    return Counter(s)\n",
     "c = f('aab')\nassert c['z'] == 0 and c['a'] == 2"),
    ("def f(n):\n    x = []\n    for _ in range(n):\n        x = [x]\n    return x\n",
     "x = f(150)\nfor _ in range(150):\n    (x,) = x\nassert x == []"),
    ("from dataclasses import dataclass\n@dataclass(frozen=True)\nclass P:\n    x: int\n"
     "def f():\n    return {P(1), P(2)}\n",
     "assert f() == {P(2), P(1)} and P(1) in f()"),
    ("import enum\nclass C(enum.Enum):\n    RED = 1\n    BLUE = 2\n"
     "def f():\n    return C.RED\n",
     "assert f() == C.RED and f() != C.BLUE and f().name == 'RED'"),
    ("from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int\n    y: int\n"
     "def f():\n    return P(1, 2)\n",
     "assert f() == P(1, 2) and f() != P(2, 1) and f().y == 2"),
    ("def f(n):\n    for i in range(n):\n        yield i * i\n",
     "assert list(f(4)) == [0, 1, 4, 9]\ng = f(3)\nassert next(g) == 0 and sum(g) == 5"),
    ("def total(xs):\n    return sum(xs)\ndef first(it):\n    return next(it)\n",
     "assert total(x * x for x in range(4)) == 14 and total(iter([1, 2])) == 3\n"
     "assert first(map(str, [5, 6])) == '5' and total(x for x in []) == 0"),
    ("def f(n):\n    return range(n)\n", "assert f(3) == range(3) and list(f(3)) == [0, 1, 2]"),
    ("def f(d):\n    return d.keys()\n", "assert f({'a': 1, 'b': 2}) == {'b', 'a'}"),
    ("from decimal import Decimal\ndef f():\n    return Decimal('0.1') + Decimal('0.2')\n",
     "from decimal import Decimal\nassert f() == Decimal('0.3')"),
    ("from dataclasses import dataclass\n@dataclass(frozen=True)\nclass P:\n    x: int\n"
     "    def double(self):\n        return P(2 * self.x)\n"
     "def f():\n    return P(2)\n",
     "assert f().double() == P(4) and f().double().double().x == 8"),
    ("from dataclasses import dataclass\nclass Node:\n    pass\nclass Leaf(Node):\n    pass\n"
     "@dataclass\nclass P:\n    x: int\n"
     "def f():\n    return Leaf()\ndef g():\n    return P(1)\n",
     "assert isinstance(f(), Node) and isinstance(f(), Leaf) and isinstance(g(), P)\n"
     "assert not isinstance(g(), Node) and not isinstance(3, Node) and not isinstance(f(), P)"),
]


@pytest.mark.parametrize("program, test", CORRECT, ids=[
    "namedtuple", "fraction", "sort_in_place", "key_callable", "counter_missing", "nested_150",
    "frozen_dataclass_set", "enum", "dataclass_eq", "generator", "generator_argument", "range", "dict_keys", "decimal",
    "dataclass_methods", "isinstance"])
def test_correct_program_passes(program, test):
    v = run_tests(program, [test, "assert True"], timeout_s=5)
    assert v.passed, v.reason


def test_a_sandbox_that_fails_is_a_fault_not_a_wrong_answer(monkeypatch):
    """Faults are unscored: a sandbox that could not run the job is not the program's fault
    (the one fault a real sandbox cannot be made to produce on demand, hence the stand-in)."""
    import sys

    from judges.code.sandbox import SandboxResult

    module = sys.modules["judges.code.run_tests"]

    monkeypatch.setattr(module, "_execute", lambda *a, **k: SandboxResult(error="no fork"))
    v = module.run_tests("def f():\n    return 1\n", ["assert f() == 1"])
    assert not v.passed and v.details["unscored"] is True and "no fork" in v.details["cause"]


def test_a_value_too_deep_to_cross_fails_only_its_test():
    prog = ("def nest(n):\n    x = []\n    for _ in range(n):\n        x = [x]\n    return x\n"
            "def depth(x):\n    d = 0\n    while x:\n        x, d = x[0], d + 1\n    return d\n")
    tests = ["nest(2000)", "y = []\nfor _ in range(2000):\n    y = [y]\ndepth(y)",
             "assert depth(nest(400)) == 400"]
    v = run_tests(prog, tests, timeout_s=10)
    assert [t["passed"] for t in v.details["tests"]] == [False, False, True], v.reason
    assert all("deeper than 500 levels" in t["error"] for t in v.details["tests"][:2])


def test_copy_back_only_for_a_call_that_returned_none_whatever_the_program_sends():
    """The None rule is the driver's: a program that patches its own side of the channel to
    send its arguments back (emptied) along with a value cannot change the test's input."""
    prog = ("import sys\n_p = sys.modules['_program']\n_w = sys.modules['_wire']\n"
            "_orig = _p._answer\n"
            "def _answer(request, objects):\n"
            "    reply = _orig(request, objects)\n"
            "    if request[1] == 'call' and len(reply) == 3:\n"
            "        reply.append([_w.encode([[]]), _w.encode({})])\n"
            "    return reply\n"
            "_p._answer = _answer\n"
            "def f(xs):\n    return []\n")
    v = run_tests(prog, ["xs = [3, 1, 2]\nout = f(xs)\nassert out == sorted(xs)"], timeout_s=5)
    assert not v.passed, v.reason
