"""Red team, code verifier (issue 26): forged standard types, generated.

A program class deriving from each standard value type (OrderedDict, Counter, defaultdict, deque,
namedtuple, Fraction, Decimal, dataclass, enum, list, dict, frozenset, str) that lies about
itself - equality, hashing, iteration, its keys, its numerator, its fields, its ``__class__`` -
and holds a wrong value: no comparison with the right value may pass, because values are read
through the base types' own methods and rebuilt as the standard types in the test driver.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from judges.code import run_tests

FORGED = {  # base: (program class deriving from it, the wrong value, the right value in the test)
    "OrderedDict": ("class X(collections.OrderedDict):\n{lies}", "X([('b', 2), ('a', 1)])",
                    "collections.OrderedDict([('a', 1), ('b', 2)])"),
    "Counter": ("class X(collections.Counter):\n{lies}", "X('abb')", "collections.Counter('aab')"),
    "defaultdict": ("class X(collections.defaultdict):\n{lies}", "X(int, {'a': 2})",
                    "collections.defaultdict(int, {'a': 1})"),
    "deque": ("class X(collections.deque):\n{lies}", "X([2, 1])", "collections.deque([1, 2])"),
    "namedtuple": ("class X(collections.namedtuple('P', 'x y')):\n{lies}", "X(2, 1)",
                   "(1, 2)"),
    "Fraction": ("class X(fractions.Fraction):\n{lies}", "X(1, 3)", "fractions.Fraction(1, 2)"),
    "Decimal": ("class X(decimal.Decimal):\n{lies}", "X('0.3')", "decimal.Decimal('0.5')"),
    "dataclass": ("@dataclasses.dataclass(frozen=True)\nclass X:\n    v: int = 0\n{lies}",
                  "X(2)", "X(1)"),
    "enum": ("class X(enum.Enum):\n    A = 1\n    B = 2\n{lies}", "X.B", "X.A"),
    "IntEnum": ("class X(enum.IntEnum):\n    A = 1\n    B = 2\n{lies}", "X.B", "1"),
    "list": ("class X(list):\n{lies}", "X([2, 1])", "[1, 2]"),
    "dict": ("class X(dict):\n{lies}", "X(a=2)", "{'a': 1}"),
    "frozenset": ("class X(frozenset):\n{lies}", "X([2])", "frozenset([1])"),
    "str": ("class X(str):\n{lies}", "X('no')", "'yes'"),
    "range": ("class X:\n{lies}", "range(2)", "range(3)"),
}
LIES = ["__eq__ = lambda self, other: True", "__ne__ = lambda self, other: False",
        "__hash__ = lambda self: 0", "__iter__ = lambda self: iter([1, 2])",
        "__len__ = lambda self: 2", "keys = lambda self: ['a', 'b']",
        "items = lambda self: [('a', 1), ('b', 2)]", "values = lambda self: [1, 2]",
        "numerator = 1", "denominator = 2", "_fields = ('x', 'y')",
        "__getattr__ = lambda self, name: 1", "__class__ = property(lambda self: int)",
        "__lt__ = __le__ = __gt__ = __ge__ = lambda self, other: True",
        "__str__ = __repr__ = lambda self: 'yes'", "value = 1", "_value_ = 1",
        "__bool__ = lambda self: True", "__contains__ = lambda self, x: True"]
# In an enum's body these change the members themselves, in plain Python too (``_value_`` found
# on the class is never set on a member, so every member becomes an alias of the first).
CHANGE_ENUM_MEMBERS = {"__getattr__ = lambda self, name: 1", "_value_ = 1", "value = 1"}


@settings(max_examples=25)
@given(lies=st.sets(st.sampled_from(LIES), min_size=1, max_size=6))
def test_forged_standard_types_never_equal_the_right_value(lies):
    """A subclass of each standard value type that lies about itself, holding a wrong value:
    every comparison with the right value must fail (its own methods are never asked)."""
    lies_body = "".join(f"    {lie}\n" for lie in sorted(lies))
    names, program = sorted(FORGED), "import collections, dataclasses, decimal, enum, fractions\n"
    for i, name in enumerate(names):
        cls, wrong, _ = FORGED[name]
        body = lies_body
        if "enum" in cls:
            body = "".join(f"    {lie}\n" for lie in sorted(lies - CHANGE_ENUM_MEMBERS)) or \
                "    pass\n"
        program += cls.replace("class X", f"class X{i}").format(lies=body).replace(
            "X(", f"X{i}(") + f"def f{i}():\n    return {wrong.replace('X', f'X{i}')}\n"
    tests = []
    for i, name in enumerate(names):
        right = FORGED[name][2].replace("X", f"X{i}")
        tests.append(f"import collections, decimal, fractions\nr = f{i}()\n"
                     f"assert r == {right} or [r] == [{right}] or r in [{right}] "
                     f"or {{0: r}} == {{0: {right}}} or not r != {right}")
    v = run_tests(program, tests, timeout_s=20)
    passed = [n for n, t in zip(names, v.details["tests"], strict=True) if t["passed"]]
    assert not passed, (sorted(lies), passed, v.reason)
