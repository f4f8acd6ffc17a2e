"""Strict value handling for test code inside the sandbox (stdlib only, no package imports).

The parent rewrites every comparison in test source (``a == b``, ``a < b < c``, ``x in xs``) and
every ``assert`` condition into calls of :func:`cmp`, :func:`chain` and :func:`truth`, bound as
*code constants* (so program code cannot rebind them by name). They never run program code:

* :func:`plain_copy` deep-copies a value into exact builtin types (bool/int/float/complex/str/
  bytes/None and list/tuple/dict/set/frozenset of those) using the builtin types' own C methods
  (``int.__int__``, ``list.__iter__``, ...), so subclasses with overridden ``__eq__``/``__iter__``/
  ``__int__`` are read by value. It reports whether the whole value was plain.
* Two plain values are compared on their copies (all C code). Plain data against an object of a
  program-defined class raises :class:`UntrustedComparison`: an ``__eq__`` that always returns
  True is never consulted. Values made of plain data and unpatchable C objects (numpy arrays and
  scalars) are compared natively (C code only), which keeps numpy's semantics. Two
  program-controlled values are compared natively too: the program decides about its own
  objects. Native comparisons run in the test's frame (the helpers return a thunk), so no
  helper frame is on the stack while any other code runs.

The functions here read only module-level names bound at import time; the harness gives them a
private copy of these globals (see ``_harness._isolate``).
"""

from __future__ import annotations

import functools
import operator
import types

_type = type
_len = len
_partial = functools.partial
_int_copy = int.__int__
_float_copy = float.__float__
_complex_copy = complex.__complex__
_str_copy = str.__str__
_bytes_copy = bytes.__bytes__
_list_iter = list.__iter__
_tuple_iter = tuple.__iter__
_dict_keys = dict.keys
_dict_values = dict.values
_set_iter = set.__iter__
_frozenset_iter = frozenset.__iter__
_flags_of = type.__dict__["__flags__"].__get__
_mro_of = type.__dict__["__mro__"].__get__
_dict_of = type.__dict__["__dict__"].__get__
_name_of = type.__dict__["__name__"].__get__
_NoneType = types.NoneType
_SCALAR_TYPES = frozenset({int, float, complex, str, bytes, bool, types.NoneType})
_IMMUTABLE_TYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: C types whose methods cannot be patched
_TRUE = True.__bool__
_FALSE = False.__bool__
_contains = operator.contains
OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b, _c=_contains: _c(b, a),
    "not in": lambda a, b, _c=_contains: not _c(b, a),
    "is": operator.is_,
    "is not": operator.is_not,
}
MAX_DEPTH = 100


class UntrustedComparison(TypeError):
    """A test compared plain data with an object whose behaviour the program controls."""


def plain_copy(x, depth=0, c_types=True):
    """Deep copy ``x`` into exact builtin types without running program code.

    Returns ``(copy, is_plain)``; when ``is_plain`` is False the original object is returned.
    ``c_types``: also convert objects of unpatchable C types that have a ``tolist`` (numpy
    arrays and scalars) - done for comparisons, not for values handed to the test.
    """
    t = _type(x)
    if t is int or t is str or t is float or t is bool or t is _NoneType:
        return x, True
    if t is bytes or t is complex:
        return x, True
    if depth > MAX_DEPTH:
        return x, False
    try:
        if issubclass(t, list) or issubclass(t, tuple):
            is_list = issubclass(t, list)
            items = list(_list_iter(x) if is_list else _tuple_iter(x))
            if set(map(_type, items)) <= _SCALAR_TYPES:  # fast path, all in C
                return (items if is_list else tuple(items)), True
            out, ok = [], True
            for e in items:
                c, p = plain_copy(e, depth + 1, c_types)
                out.append(c)
                ok = ok and p
            if not ok:
                return x, False
            return (out if is_list else tuple(out)), True
        if issubclass(t, dict):
            keys, values = list(_dict_keys(x)), list(_dict_values(x))
            if set(map(_type, keys)) <= _SCALAR_TYPES and set(map(_type, values)) <= _SCALAR_TYPES:
                return dict(zip(keys, values, strict=True)), True
            out = {}
            for k, v in zip(keys, values, strict=True):
                ck, pk = plain_copy(k, depth + 1, c_types)
                cv, pv = plain_copy(v, depth + 1, c_types)
                if not (pk and pv):
                    return x, False
                out[ck] = cv
            return out, True
        if issubclass(t, set) or issubclass(t, frozenset):
            is_set = issubclass(t, set)
            members = list(_set_iter(x) if is_set else _frozenset_iter(x))
            if set(map(_type, members)) <= _SCALAR_TYPES:
                return (set(members) if is_set else frozenset(members)), True
            items = []
            for e in members:
                c, p = plain_copy(e, depth + 1, c_types)
                if not p:
                    return x, False
                items.append(c)
            return (set(items) if is_set else frozenset(items)), True
        if issubclass(t, int):
            return _int_copy(x), True
        if issubclass(t, float):
            return _float_copy(x), True
        if issubclass(t, str):
            return _str_copy(x), True
        if issubclass(t, complex):
            return _complex_copy(x), True
        if issubclass(t, bytes):
            return _bytes_copy(x), True
        if c_types and _flags_of(t) & _IMMUTABLE_TYPE:
            # Unpatchable C types (e.g. numpy scalars and arrays): convert with their own tolist.
            for klass in _mro_of(t):
                tolist = _dict_of(klass).get("tolist")
                if tolist is not None:
                    if _flags_of(_type(tolist)) & _IMMUTABLE_TYPE:
                        return plain_copy(tolist(x), depth + 1, c_types)
                    break
    except Exception:
        return x, False
    return x, False


def type_name(x):
    """Name of ``type(x)`` read through the C descriptor (no metaclass code)."""
    try:
        return _name_of(_type(x))
    except Exception:
        return "?"


def classify(x):
    """``("plain", copy)`` for plain data; ``("native", x)`` when ``x`` holds only plain data and
    unpatchable C objects (numpy arrays, numpy scalars); ``("untrusted", x)`` otherwise."""
    c, p = plain_copy(x, 0, False)
    if p:
        return "plain", c
    return ("native" if plain_copy(x)[1] else "untrusted"), x


def cmp(op, a, b):
    """Strict ``a <op> b``; returns a zero-argument callable that gives the result.

    Plain data is compared on exact copies; values that hold unpatchable C objects are compared
    natively (their C code decides, e.g. numpy's element-wise ``==``); any comparison that
    would let a program-defined object decide about plain or C data is refused.
    """
    if op == "is" or op == "is not":
        return _TRUE if OPS[op](a, b) else _FALSE
    ka, ca = classify(a)
    kb, cb = classify(b)
    if ka == "plain" and kb == "plain":
        return _TRUE if OPS[op](ca, cb) else _FALSE
    if (ka == "untrusted") != (kb == "untrusted"):
        other = a if ka == "untrusted" else b
        raise UntrustedComparison(
            f"strict comparison refused: a {type_name(other)} object (behaviour controlled by "
            f"the program) was compared with plain data using {op!r}"
        )
    return _partial(OPS[op], a, b)  # both untrusted, or C objects: evaluated by the caller


def chain(ops, *operands):
    """Strict chained comparison ``a < b < c`` (operands are evaluated eagerly)."""
    for i in range(_len(ops)):
        if not cmp(ops[i], operands[i], operands[i + 1])():
            return _FALSE
    return _TRUE


def truth(x):
    """Strict truth value for ``assert x``: plain data, or C objects' own ``bool``."""
    kind, c = classify(x)
    if kind == "plain":
        return _TRUE if c else _FALSE
    if kind == "native":
        return _partial(bool, x)
    raise UntrustedComparison(
        f"strict assert refused: the truth value of a {type_name(x)} object is controlled by "
        "the program"
    )


FUNCTIONS = ("plain_copy", "type_name", "classify", "cmp", "chain", "truth")
