"""Red team, code verifier (issue 26): forged standard types and forged wire data, generated.

A program class deriving from each standard value type (OrderedDict, Counter, defaultdict, deque,
namedtuple, Fraction, Decimal, dataclass, enum, list, dict, frozenset, str) that lies about
itself - equality, hashing, iteration, its keys, its numerator, its fields, its ``__class__`` -
and holds a wrong value: no comparison with the right value may pass, because values are read
through the base types' own methods and rebuilt as the standard types in the test driver.

Forged wire data: the program rewrites its own side of the channel (it can: that process is
its own) and answers calls with arbitrary nodes; the verdict must agree exactly with an honest
decoding of them.
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


# ---- forged wire data ---------------------------------------------------------------------------

TAGS = ["l", "t", "d", "s", "f", "i", "b", "B", "c", "h", "it", "cb", "ti", "bi", "m", "od", "C",
        "dd", "q", "nt", "dc", "e", "fr", "D", "r", "dk", "dv", "di", "n", "g", "zz"]
NODES = st.recursive(
    st.one_of(st.integers(-3, 43), st.sampled_from([42.0, "42", None, True, "int", "x", "A"]),
              st.lists(st.sampled_from(["x", "y", "A", "_z", "int"]), max_size=3),
              st.lists(st.booleans(), min_size=4, max_size=4)),
    lambda children: st.tuples(st.sampled_from(TAGS), st.lists(children, max_size=4)).map(
        lambda t: [t[0], *t[1]]),
    max_leaves=8)


FORTY_TWO = [42, 42.0, ["fr", 84, 2], ["D", "42.0"], ["c", 42, 0], ["i", "2a"],
             ["e", "IntEnum", "E", ["A"], "A", None, 42, 42]]


def _decodes_to_42(node) -> bool | None:
    """What an honest decoding makes of the node here: equal to 42 or not; ``None`` when the
    node is malformed."""
    import builtins

    from judges.code import _wire

    def no_callable(index):
        raise _wire.WireError("no test callables here")

    def builtin_type(name):
        if not isinstance(vars(builtins).get(name), type):
            raise _wire.WireError("not a builtin type")
        return vars(builtins)[name]

    try:
        value = _wire.decode(node, lambda i, n: object(), iterator=lambda i, n: object(),
                             callback=no_callable, builtin=builtin_type)
    except Exception:
        return None
    try:
        return bool(value == 42)
    except Exception:
        return False


@settings(max_examples=25)
@given(nodes=st.lists(st.one_of(NODES, st.sampled_from(FORTY_TWO)), min_size=5, max_size=12))
def test_forged_wire_values_pass_only_as_what_they_decode_to(nodes):
    """The program rewrites its own side of the channel to answer every call with arbitrary
    wire data (any tag, any shape): a test of ``f() == 42`` passes exactly when an honest
    decoding makes the data equal to 42; malformed data fails (it ends the program process, so
    the well-formed nodes go first), and nothing hangs the run or makes it unscored."""
    import json

    truth = [_decodes_to_42(n) for n in nodes]
    order = sorted(range(len(nodes)), key=lambda i: truth[i] is None)
    nodes, truth = [nodes[i] for i in order], [truth[i] for i in order]

    program = ("import sys, json\n_p = sys.modules['_program']\n"
               f"NODES = json.loads({json.dumps(nodes)!r})\n_orig = _p._answer\n"
               "def _answer(request, objects):\n    reply = _orig(request, objects)\n"
               "    if request[1] == 'call' and reply[1] == 'ok' and type(reply[2]) is int:\n"
               "        reply[2] = NODES[reply[2]]\n    return reply\n"
               "_p._answer = _answer\ndef f(i):\n    return i\n")
    tests = [f"assert f({i}) == 42" for i in range(len(nodes))]
    v = run_tests(program, tests, timeout_s=20)
    got = [t["passed"] for t in v.details["tests"]]
    assert got == [t is True for t in truth], (nodes, got, truth, v.reason)
    assert not v.details.get("unscored"), v.reason
