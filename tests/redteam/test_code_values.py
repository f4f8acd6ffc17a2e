"""Red team, code verifier: values and modules the tests share with the program (issue #13
items 2 and 3, and kin). Each program is wrong; none may come back passed."""

from __future__ import annotations

import pytest

from judges.code import humaneval_program, humaneval_tests, load_humaneval, run_tests

TASKS = {t["task_id"]: t for t in load_humaneval()}


def refused(program: str, tests, timeout_s: float = 5.0):
    v = run_tests(program, tests, timeout_s=timeout_s)
    assert not v.passed, v.reason
    return v


def humaneval_refused(task_id: str, body: str):
    task = TASKS[task_id]
    v = refused(humaneval_program(task, body), humaneval_tests(task), timeout_s=10)
    return v


ABSORB = ("    class Z:\n"
          "        __sub__ = __rsub__ = __add__ = __radd__ = lambda s, o: 0\n"
          "        __abs__ = __neg__ = lambda s: 0\n"
          "    return Z()\n")


def test_arithmetic_absorbing_return_value_humaneval_4():
    humaneval_refused("HumanEval/4", ABSORB)


@pytest.mark.parametrize("dunder, test", [
    ("__sub__", "assert abs(f() - 3) < 1e-9"),
    ("__rsub__", "assert abs(3 - f()) < 1e-9"),
    ("__lt__", "assert f() < 1"),
    ("__gt__", "assert f() > 1 and not f() > 1"),
    ("__len__", "assert len(f()) == 3"),
    ("__iter__", "assert list(f()) == [1, 2, 3]"),
    ("__contains__", "assert 7 in f()"),
    ("__hash__", "assert {f(): 1}.get(3) == 1 or f() in {3}"),
    ("__bool__", "assert f()"),
    ("__str__", "assert str(f()) == 'ok'"),
    ("__format__", "assert f'{f()}' == 'ok'"),
    ("__index__", "assert [0, 1, 2, 3][f()] == 3"),
    ("__float__", "assert float(f()) == 3.0"),
    ("__int__", "assert int(f()) == 3"),
    ("__round__", "assert round(f()) == 3"),
    ("__getitem__", "assert f()[0] == 1"),
])
def test_every_operator_of_a_returned_object_is_guarded(dunder, test):
    """Each operator answers whatever the test needs; none may decide a test."""
    answers = {"__sub__": "0", "__rsub__": "0", "__lt__": "True", "__gt__": "True",
               "__len__": "3", "__iter__": "iter([1, 2, 3])", "__contains__": "True",
               "__hash__": "hash(3)", "__bool__": "True", "__str__": "'ok'",
               "__format__": "'ok'", "__index__": "3", "__float__": "3.0", "__int__": "3",
               "__round__": "3", "__getitem__": "1"}
    prog = (f"class Z:\n    def {dunder}(self, *a):\n        return {answers[dunder]}\n"
            "    def __eq__(self, o):\n        return True\n    __hash__ = None\n"
            if dunder != "__hash__" else
            f"class Z:\n    def {dunder}(self, *a):\n        return {answers[dunder]}\n"
            "    def __eq__(self, o):\n        return True\n")
    refused(prog + "def f():\n    return Z()\n", [test])


def test_class_attribute_forging_isinstance():
    prog = ("class Fake:\n    __class__ = int\n    def __eq__(self, o):\n        return True\n"
            "    __hash__ = None\ndef f():\n    return Fake()\n")
    refused(prog, ["x = f()\nassert isinstance(x, int) and x == 3"])


def test_int_subclass_with_lying_operators():
    prog = ("class L(int):\n    def __sub__(self, o):\n        return 0\n"
            "    __rsub__ = __sub__\n    def __abs__(self):\n        return 0\n"
            "    def __lt__(self, o):\n        return True\n"
            "def f():\n    return L(99)\n")
    refused(prog, ["assert abs(f() - 3) < 1e-9", "assert f() < 5"])


@pytest.mark.parametrize("task_id", ["HumanEval/38", "HumanEval/50"])
def test_patching_random_the_tests_draw_from(task_id):
    """Item 3: the tests draw their inputs from ``random``; the program makes them trivial."""
    task = TASKS[task_id]
    entry = task["entry_point"]
    body = ("    import random\n    random.randint = lambda a, b: 0\n"
            "    random.choice = lambda s: ''\n    return s\n")
    prog = humaneval_program(task, body).replace(
        f"def {entry}(", "import random\nrandom.randint = lambda a, b: 0\n"
        f"random.choice = lambda s: ''\ndef {entry}(", 1)
    refused(prog, humaneval_tests(task), timeout_s=10)


def test_patching_math_isclose():
    prog = ("import math\nmath.isclose = lambda *a, **k: True\n"
            "def area(r):\n    return 0.0\n")
    refused(prog, ["import math\nassert math.isclose(area(1.0), 3.14159, rel_tol=1e-3)"])


@pytest.mark.parametrize("patch", [
    "import builtins\nbuiltins.abs = lambda x: 0",
    "import builtins\nbuiltins.all = lambda x: True",
    "import builtins\nbuiltins.sorted = lambda x, **k: [1, 2, 3]",
    "import operator\noperator.eq = lambda a, b: True",
    "import functools\nfunctools.reduce = lambda *a: 3",
    "import collections\ncollections.Counter.__eq__ = lambda s, o: True",
    "import re\nre.fullmatch = lambda *a, **k: True",
    "import json\njson.loads = lambda s: [1, 2, 3]",
])
def test_patching_what_tests_use(patch):
    tests = ["assert abs(f() - 3) < 1e-9", "assert all(x == 1 for x in [f()])",
             "assert sorted(f()) == [1, 2, 3]",
             "import operator\nassert operator.eq(f(), 3)",
             "import functools\nassert functools.reduce(lambda a, b: a + b, [f()]) == 3",
             "import collections\nassert collections.Counter(f()) == collections.Counter('ab')",
             "import re\nassert re.fullmatch('[0-9]+', f())",
             "import json\nassert json.loads(f()) == [1, 2, 3]"]
    v = refused(f"{patch}\ndef f():\n    return 'zz'\n", tests)
    assert v.score == 0.0, [t["passed"] for t in v.details["tests"]]


def test_state_on_a_returned_function_cannot_rebind_test_globals():
    prog = ("def f():\n    def g():\n        return 3\n    return g\n"
            "def h(fn):\n    fn.__globals__['expected'] = 'zz'\n    return 'zz'\n")
    refused(prog, ["expected = 3\nassert h(lambda: 1) == expected"])


def test_mutating_the_tests_own_inputs():
    """The expected value is computed from the test's input after the call: a program that
    empties its argument (now or from a thread, later) must not make ``[] == sorted([])``."""
    prog = ("import threading\n"
            "def f(xs):\n"
            "    xs.clear()\n"
            "    def spin():\n"
            "        for _ in range(100000):\n"
            "            xs[:] = []\n"
            "    threading.Thread(target=spin, daemon=True).start()\n"
            "    return []\n")
    refused(prog, ["xs = [3, 1, 2]\nout = f(xs)\nassert out == sorted(xs)",
                   "d = {'a': 1}\nassert f(d) == list(d)"])


@pytest.mark.parametrize("exc", ["StopIteration", "GeneratorExit", "SystemExit(0)",
                                 "KeyboardInterrupt"])
def test_control_flow_exceptions_cannot_end_a_test_early(exc):
    """Raised inside ``map``, a StopIteration would end the test's loop with nothing checked."""
    prog = f"def f(x):\n    raise {exc}\n"
    v = refused(prog, ["for r in map(f, [1, 2]):\n    assert r == 3",
                       "try:\n    ok = [f(1)] == [3]\nexcept Exception:\n    ok = False\n"
                       "assert ok is False\nassert next(filter(f, [1]), 3) == 3"])
    assert v.score == 0.0
