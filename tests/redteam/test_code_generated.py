"""Red team, code verifier (issue 26): generated attack families, and the opposite direction.

* names: every name a test resolves (builtins it calls, modules it uses without importing them,
  a HumanEval task's helpers) shadowed by the program in several ways, with a wrong solution:
  every such test must fail;
* values: nested values of the standard library's value types, returned by the program and
  passed in by the test, compare exactly as plain Python compares them (the truth is computed
  here, in plain Python, for each generated pair: equal, or unequal after a mutation of a field,
  an order or a type);
* control flow: ``SystemExit`` and kin, however raised and however the test catches them, fail
  the test, and the program keeps answering later tests;
* correct styles: programs written in the styles that used to be scored wrong pass, on
  generated data (0 false fails).

Each example is one ``run_tests`` call holding many tests (a sandbox run costs ~50 ms).
"""

from __future__ import annotations

import builtins
import collections
import dataclasses
import decimal
import enum
import fractions
import functools
import heapq
import itertools
import json
import math
import operator
import statistics

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from judges.code import humaneval_contract, humaneval_program, humaneval_tests, run_tests
from tests.redteam.test_code_contract import TASKS

INTS = st.lists(st.integers(-20, 20), min_size=3, max_size=8)

# ---- names ------------------------------------------------------------------------------------

BUILTINS = ("len", "sum", "max", "min", "sorted", "set", "frozenset", "list", "tuple", "str",
            "repr", "any", "all", "abs", "isinstance", "round", "bool", "dict", "zip", "map")
MODULE_USES = {
    "math": "math.fsum(f(X)) == math.fsum(E)",
    "statistics": "statistics.median(f(X)) == statistics.median(E)",
    "operator": "operator.eq(f(X), E)",
    "heapq": "heapq.nsmallest(3, f(X)) == heapq.nsmallest(3, E)",
    "json": "json.dumps(f(X)) == json.dumps(E)",
    "collections": "collections.Counter(f(X)) == collections.Counter(E)",
    "functools": "functools.reduce(lambda a, b: a * 31 + b, f(X), 7) == "
                 "functools.reduce(lambda a, b: a * 31 + b, E, 7)",
    "itertools": "list(itertools.accumulate(f(X))) == list(itertools.accumulate(E))",
}
MODULES = {"math": math, "statistics": statistics, "operator": operator, "heapq": heapq,
           "json": json, "collections": collections, "functools": functools,
           "itertools": itertools}


def builtin_use(name: str) -> str:
    """A natural assertion that uses builtin ``name`` on the program's result."""
    return {"abs": "abs(sum(f(X)) - sum(E)) < 0.5",
            "isinstance": "isinstance(f(X), tuple) == isinstance(E, tuple) and f(X) == E",
            "round": "round(sum(f(X)) / 7, 3) == round(sum(E) / 7, 3)",
            "dict": "dict(zip(E, f(X))) == dict(zip(E, E))",
            "zip": "all(a == b for a, b in zip(f(X), E)) and len(f(X)) == len(E)",
            "map": "list(map(str, f(X))) == list(map(str, E))"}.get(name, f"{name}(f(X)) == {name}(E)")


SHADOWS = {  # ways a program binds a name; ``C`` is a constant that makes both sides agree
    "def": "def {n}(*a, **k):\n    return {c}\n",
    "lambda": "{n} = lambda *a, **k: {c}\n",
    "class": "class {n}:\n    def __new__(cls, *a, **k):\n        return {c}\n",
    "globals": "globals()[{n!r}] = lambda *a, **k: {c}\n",
    "builtins": "import builtins\nbuiltins.{n} = lambda *a, **k: {c}\n",
}
MODULE_SHADOWS = {
    "object": "class _Fake:\n    def __getattr__(self, name):\n        return lambda *a, **k: [1]\n"
              "{n} = _Fake()\n",
    "patched": "import {n}\nfor _a in dir({n}):\n    if not _a.startswith('_'):\n        try:\n"
               "            setattr({n}, _a, lambda *a, **k: [1])\n        except Exception:\n"
               "            pass\n",
    "sys.modules": "import sys\nclass _Fake:\n    def __getattr__(self, name):\n"
                   "        return lambda *a, **k: [1]\nsys.modules[{n!r}] = {n} = _Fake()\n",
}


def fails_when_trusted(use: str, x: list, e: list, wrong: list) -> bool:
    """Whether the assertion fails for the wrong result with the real builtins and modules."""
    ns = {**MODULES, "f": lambda _: list(wrong), "X": x, "E": e, "__builtins__": builtins}
    try:
        return not eval(use, ns)
    except Exception:
        return True


@settings(max_examples=40)
@given(x=INTS, wrong=INTS, shadow=st.sampled_from(sorted(SHADOWS)),
       module_shadow=st.sampled_from(sorted(MODULE_SHADOWS)))
def test_shadowing_every_name_a_test_uses_with_a_wrong_solution(x, wrong, shadow, module_shadow):
    e = sorted(x)
    assume(wrong != e)
    uses = [builtin_use(n) for n in BUILTINS] + list(MODULE_USES.values())
    uses = [u for u in uses if fails_when_trusted(u, x, e, wrong)]
    assume(uses)
    program = "".join(SHADOWS[shadow].format(n=n, c="0" if n == "abs" else "[1]")
                      for n in BUILTINS)
    program += "".join(MODULE_SHADOWS[module_shadow].format(n=m) for m in MODULE_USES)
    program += f"def f(xs):\n    return {wrong!r}\n"
    tests = [f"X = {x!r}\nE = {e!r}\nassert {u}" for u in uses]
    v = run_tests(program, tests, timeout_s=20)
    passed = [u for u, t in zip(uses, v.details["tests"], strict=True) if t["passed"]]
    assert not passed, (shadow, module_shadow, passed, v.reason)


HELPER_TASKS = sorted(t for t, task in TASKS.items() if humaneval_contract(task)["helpers"])


@settings(max_examples=20)
@given(task_id=st.sampled_from(HELPER_TASKS), const=st.sampled_from(["0", "''", "True", "s"]),
       where=st.sampled_from(["after", "before", "globals"]))
def test_redefining_a_tasks_helpers_with_a_wrong_entry_point(task_id, const, where):
    task = TASKS[task_id]
    helpers = [n for n in humaneval_contract(task)["helpers"].split("\n")
               if n.startswith("def ")]
    names = [h[4:h.index("(")] for h in helpers]
    entry = task["entry_point"]
    fakes = "".join(
        f"globals()[{n!r}] = lambda *a, **k: a[0] if a and {const!r} == 's' else {const}\n"
        if where == "globals" else
        f"def {n}(*a, **k):\n    return a[0] if a and {const!r} == 's' else {const}\n"
        for n in names)
    wrong = f"def {entry}(*a, **k):\n    return a[0] if {const!r} == 's' else {const}\n"
    program = fakes + wrong if where == "before" else wrong + fakes
    v = run_tests(humaneval_program(task, program), humaneval_tests(task), timeout_s=20,
                  **humaneval_contract(task))
    assert not v.passed, (task_id, const, where, v.reason)


# ---- values -----------------------------------------------------------------------------------

PRELUDE = """\
import collections, dataclasses, decimal, enum, fractions
P = collections.namedtuple('P', 'x y')
@dataclasses.dataclass(frozen=True)
class D:
    a: object
    b: object
@dataclasses.dataclass
class M:
    a: object
    b: object
class Color(enum.Enum):
    RED = 1
    BLUE = 2
class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2
Fraction, Decimal = fractions.Fraction, decimal.Decimal
OrderedDict, Counter, deque = collections.OrderedDict, collections.Counter, collections.deque
defaultdict = collections.defaultdict
def reversed_od(pairs):
    return OrderedDict(reversed(pairs))
"""
SCALARS = st.one_of(
    st.integers(-3, 3).map(repr), st.sampled_from(["'a'", "'b'", "None", "True", "2.5"]),
    st.tuples(st.integers(-3, 3), st.integers(1, 4)).map(lambda t: f"Fraction({t[0]}, {t[1]})"),
    st.sampled_from(["Decimal('1.5')", "Decimal('0.10')", "Decimal('-2')"]),
    st.tuples(st.integers(0, 3), st.integers(0, 6), st.integers(1, 2)).map(
        lambda t: f"range({t[0]}, {t[1]}, {t[2]})"),
    st.sampled_from(["Color.RED", "Color.BLUE", "Level.LOW", "Level.HIGH"]),
)


def _hashable(children):
    return st.one_of(
        st.tuples(children, children).map(lambda t: f"P({t[0]}, {t[1]})"),
        st.tuples(children, children).map(lambda t: f"D({t[0]}, {t[1]})"),
        st.lists(children, max_size=3).map(lambda xs: f"({', '.join(xs)}{',' if xs else ''})"),
        st.lists(children, max_size=3).map(lambda xs: f"frozenset([{', '.join(xs)}])"),
    )


HASHABLE = st.recursive(SCALARS, _hashable, max_leaves=3)


def _containers(children):
    pairs = st.lists(st.tuples(HASHABLE, children), max_size=2)
    return st.one_of(
        st.tuples(children, children).map(lambda t: f"P({t[0]}, {t[1]})"),
        st.lists(children, max_size=3).map(lambda xs: f"({', '.join(xs)}{',' if xs else ''})"),
        st.lists(children, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
        st.lists(children, max_size=3).map(lambda xs: f"deque([{', '.join(xs)}])"),
        st.lists(HASHABLE, min_size=1, max_size=3).map(lambda xs: f"{{{', '.join(xs)}}}"),
        st.tuples(children, children).map(lambda t: f"M({t[0]}, {t[1]})"),
        pairs.map(lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}"),
        pairs.map(lambda ps: f"OrderedDict([{', '.join(f'({k}, {v})' for k, v in ps)}])"),
        pairs.map(lambda ps: f"defaultdict(list, {{{', '.join(f'{k}: {v}' for k, v in ps)}}})"),
        st.lists(st.tuples(HASHABLE, st.integers(0, 3)), max_size=3).map(
            lambda ps: "Counter({" + ", ".join(f"{k}: {v}" for k, v in ps) + "})"),
        pairs.map(lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}.keys()"),
        pairs.map(lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}.items()"),
    )


VALUES = st.recursive(st.one_of(SCALARS, HASHABLE), _containers, max_leaves=6)
MUTATIONS = [  # (old, new) text edits that change an order, a field or a type
    ("OrderedDict([", "reversed_od(["), ("deque(", "list("), ("list(", "tuple("),
    ("P(", "D("), ("D(", "M("), ("M(", "P("), ("Counter(", "dict("), ("OrderedDict(", "dict("),
    ("Fraction(", "complex("), ("Decimal(", "str("), ("Color.RED", "Color.BLUE"),
    ("Level.LOW", "1"), ("Level.HIGH", "Color.BLUE"), ("frozenset(", "set("), ("1", "2"),
    ("'a'", "'b'"), ("2.5", "Fraction(5, 2)"), ("None", "0"), ("True", "1"),
    (".keys()", ".values()"), (".items()", ".keys()"), ("range(0", "range(1"),
]


def _pair(value: str, choice: int) -> tuple[str, str]:
    """``(value, value)`` or ``(value, value with one applicable mutation)``."""
    edits = [m for m in MUTATIONS if m[0] in value]
    pick = choice % (len(edits) + 1)
    return value, value if pick == len(edits) else value.replace(*edits[pick], 1)


PAIRS = st.tuples(VALUES, st.integers(0, 1 << 16)).map(lambda t: _pair(*t))


def _truth(a: str, b: str):
    ns: dict = {}
    exec(PRELUDE, ns)
    try:
        return eval(a, ns) == eval(b, ns)
    except Exception:
        return None


@settings(max_examples=40)
@given(st.lists(PAIRS, min_size=4, max_size=10))
def test_values_compare_as_in_plain_python_both_ways(pairs):
    pairs = [(a, b, _truth(a, b)) for a, b in pairs]
    pairs = [p for p in pairs if p[2] is not None]
    assume(pairs)
    program = PRELUDE + "VALUES = [\n" + "".join(f"    {a},\n" for a, _, _ in pairs) + "]\n" \
        "def get(i):\n    return VALUES[i]\n" \
        "def same(i, v):\n    return VALUES[i] == v\n"
    tests = []
    for i, (a, b, truth) in enumerate(pairs):
        tests.append(f"assert (get({i}) == {b}) is {truth}")
        tests.append(f"assert same({i}, {b}) is {truth}")
        tests.append(f"assert type(get({i})).__name__ == type({a}).__name__")
    v = run_tests(program, tests, timeout_s=20)
    wrong = [(tests[j], t["error"]) for j, t in enumerate(v.details["tests"]) if not t["passed"]]
    assert not wrong, wrong


# ---- control flow -----------------------------------------------------------------------------

RAISES = {"SystemExit": "raise SystemExit(3)", "sys.exit": "import sys\n    sys.exit(0)",
          "exit": "exit()", "KeyboardInterrupt": "raise KeyboardInterrupt",
          "GeneratorExit": "raise GeneratorExit", "subclass": "raise Quit('bye')"}
CATCHES = {
    "Exception": "try:\n    {call}\nexcept Exception:\n    pass\nelse:\n    raise AssertionError",
    "BaseException": "try:\n    {call}\nexcept BaseException:\n    pass\n"
                     "else:\n    raise AssertionError",
    "bare": "try:\n    {call}\nexcept:\n    pass\nelse:\n    raise AssertionError",
    "suppress": "import contextlib\nwith contextlib.suppress(BaseException):\n    {call}",
    "finally": "def t():\n    try:\n        {call}\n    finally:\n        return 1\nassert t() == 1",
    "in map": "for r in map(f, [1, 2]):\n    assert r == 3",
    "in generator": "assert list(g()) == [3]",
}


@settings(max_examples=25)
@given(how=st.sampled_from(sorted(RAISES)), catches=st.sets(st.sampled_from(sorted(CATCHES)),
                                                            min_size=2))
def test_control_flow_exceptions_fail_the_test_whatever_it_catches(how, catches):
    program = ("class Quit(SystemExit):\n    pass\n"
               f"def f(x=0):\n    {RAISES[how]}\n"
               f"def g():\n    yield 3\n    {RAISES[how]}\n"
               "def ok():\n    return 3\n")
    tests = [CATCHES[c].format(call="f()") for c in sorted(catches)] + ["assert ok() == 3"]
    v = run_tests(program, tests, timeout_s=20)
    result = [t["passed"] for t in v.details["tests"]]
    assert result == [False] * len(catches) + [True], (how, sorted(catches), v.reason)


# ---- correct styles ---------------------------------------------------------------------------

STYLES = {  # name: (program, test using X and its expected values computed in the test)
    "namedtuple": ("from collections import namedtuple\n"
                   "class Stats(namedtuple('Stats', 'lo hi')):\n"
                   "    def span(self):\n        return self.hi - self.lo\n"
                   "def stats(xs):\n    return Stats(min(xs), max(xs))\n",
                   "s = stats(X)\nassert s.lo == min(X) and s.hi == max(X) "
                   "and s == (min(X), max(X))\nlo, hi = s\nassert s.span() == hi - lo"),
    "fraction": ("from fractions import Fraction\ndef mean(xs):\n"
                 "    return Fraction(sum(xs), len(xs))\n",
                 "from fractions import Fraction\nassert mean(X) == Fraction(sum(X), len(X))"
                 "\nassert mean(X) * len(X) == sum(X)"),
    "in_place": ("def sort_in_place(xs):\n    xs.sort()\n"
                 "def add_all(d, xs):\n    for x in xs:\n        d[x] = d.get(x, 0) + 1\n",
                 "ys = list(X)\nalias = [ys]\nsort_in_place(ys)\nassert ys == sorted(X) "
                 "and alias[0] is ys\nd = {}\nadd_all(d, X)\nassert sum(d.values()) == len(X)"),
    "callable": ("def order(xs, key):\n    return sorted(xs, key=key)\n"
                 "def apply(fn, xs):\n    return [fn(x) for x in xs]\n"
                 "def add_up(xs):\n    return sum(xs)\n",
                 "assert order([str(x) for x in X], key=len) == sorted(map(str, X), key=len)\n"
                 "assert order(X, key=lambda v: -v) == sorted(X, reverse=True)\n"
                 "assert apply(lambda v: v * v, X) == [v * v for v in X]\n"
                 "assert add_up(v * 2 for v in X) == 2 * sum(X) == add_up(iter(X)) * 2"),
    "counter": ("from collections import Counter\ndef count(xs):\n    return Counter(xs)\n",
                "c = count(X)\nassert c[999] == 0 and c[X[0]] == X.count(X[0])\n"
                "assert c.most_common(1)[0][1] == max(X.count(x) for x in X)"),
    "nested": ("def nest(n):\n    x = []\n    for _ in range(n):\n        x = [x]\n    return x\n"
               "def depth(x):\n    d = 0\n    while x:\n        x, d = x[0], d + 1\n    return d\n",
               "n = 100 + abs(X[0]) * 15\nx = nest(n)\nassert depth(x) == n\ny = []\n"
               "for _ in range(n):\n    y = [y]\nassert depth(y) == n"),
    "dataclass": ("from dataclasses import dataclass\n@dataclass(frozen=True)\nclass Pt:\n"
                  "    x: int\n    y: int\n"
                  "def points(xs):\n    return {Pt(x, -x) for x in xs}\n",
                  "assert points(X) == {Pt(x, -x) for x in X}\nassert Pt(X[0], -X[0]) in points(X)"),
    "enum": ("import enum\nclass Sign(enum.Enum):\n    NEG = -1\n    ZERO = 0\n    POS = 1\n"
             "def sign(x):\n    return Sign((x > 0) - (x < 0))\n",
             "assert [sign(x) for x in X] == [Sign((x > 0) - (x < 0)) for x in X]\n"
             "assert sign(X[0]).value in (-1, 0, 1) and sign(5) is sign(6)"),
    "generator": ("def squares(xs):\n    for x in xs:\n        yield x * x\n"
                  "def evens(xs):\n    return filter(lambda v: v % 2 == 0, xs)\n",
                  "assert list(squares(X)) == [x * x for x in X]\ng = squares(X)\n"
                  "assert next(g) == X[0] ** 2 and sum(g) == sum(x * x for x in X[1:])\n"
                  "assert list(evens(X)) == [x for x in X if x % 2 == 0]"),
    "views": ("def idx(xs):\n    return range(len(xs))\n"
              "def keys(xs):\n    return dict.fromkeys(xs).keys()\n",
              "assert idx(X) == range(len(X)) and list(idx(X)) == list(range(len(X)))\n"
              "assert keys(X) == set(X) and list(keys(X)) == list(dict.fromkeys(X))"),
    "decimal": ("from decimal import Decimal\ndef total(xs):\n"
                "    return sum(Decimal(x) / 4 for x in xs)\n",
                "from decimal import Decimal\nassert total(X) == Decimal(sum(X)) / 4"),
    "deque_defaultdict": (
        "from collections import deque, defaultdict, OrderedDict\n"
        "def window(xs):\n    return deque(xs, maxlen=2)\n"
        "def groups(xs):\n    d = defaultdict(list)\n    for x in xs:\n        d[x % 3].append(x)\n"
        "    return d\n"
        "def ordered(xs):\n    return OrderedDict((x, i) for i, x in enumerate(xs))\n",
        "from collections import deque, OrderedDict\nassert window(X) == deque(X[-2:])\n"
        "g = groups(X)\nassert g[99] == [] and sorted(sum(g.values(), [])) == sorted(X)\n"
        "assert ordered(X) == OrderedDict((x, i) for i, x in enumerate(X))"),
}


@settings(max_examples=30)
@given(x=st.lists(st.integers(-9, 9), min_size=2, max_size=8))
def test_correct_programs_in_every_style_pass(x):
    names = sorted(STYLES)
    program = "".join(STYLES[n][0] for n in names)
    tests = [f"X = {x!r}\n{STYLES[n][1]}" for n in names]
    ns: dict = {}
    exec(program, ns)
    for test in tests:  # the tests are right in plain Python
        exec(test, dict(ns))
    v = run_tests(program, tests, timeout_s=20)
    failed = [(n, t["error_type"], t["error"]) for n, t in
              zip(names, v.details["tests"], strict=True) if not t["passed"]]
    assert not failed, failed


def test_plain_python_types_used_here_exist():
    assert dataclasses and decimal and enum and fractions

