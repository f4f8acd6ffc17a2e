"""Plain-data wire format between the program process and the test driver (stdlib only).

Only data crosses between the process that runs untrusted code and the one that runs the tests:
JSON text (parsed by the C ``json`` decoder) whose nodes are rebuilt here into *exact* builtin
types. Nothing the program sends can become code, a program-defined class, or an object whose
methods the program wrote: the worst it can do is send the wrong data, which is the same as
returning the wrong answer.

Node forms: JSON ``str``/``int``/``float``/``bool``/``null`` stand for themselves; a JSON list
starts with a tag: ``l`` list, ``t`` tuple, ``d`` dict (keys and values alternate), ``s`` set,
``f`` frozenset, ``b``/``B`` bytes/bytearray (hex), ``c`` complex, ``i`` big int (hex),
``n``/``g`` numpy array/scalar (dtype, shape, hex bytes), ``h`` handle (an object that stays in
the program process: index and type name), ``m`` module (name).
"""

from __future__ import annotations

import json
import re

MAX_DEPTH = 100
_BIG = 1 << 62
_SCALARS = (str, bool, float, type(None))
_DTYPE = re.compile(r"[<>|=]?[biufcmMSU]\d{0,6}(\[[a-zA-Z]{1,3}\])?\Z")
_dumps = json.JSONEncoder(ensure_ascii=True, allow_nan=True, check_circular=False,
                          separators=(",", ":")).encode
_loads = json.loads


class WireError(ValueError):
    """A message does not follow the wire format."""


def encode(x, handle=None, depth=0):
    """JSON-able node for ``x``. Values of subclasses of builtin types are read by value through
    the builtin types' own C methods. ``handle(x)`` gives the node of anything else (``None``:
    raise ``TypeError``)."""
    t = type(x)
    if t is str or t is bool or t is float or x is None:
        return x
    if t is int:
        return x if -_BIG < x < _BIG else ["i", format(x, "x")]
    if depth > MAX_DEPTH:
        return _other(x, handle)
    d = depth + 1
    try:
        if isinstance(x, (list, tuple)):
            items = list.__iter__(x) if isinstance(x, list) else tuple.__iter__(x)
            return ["l" if isinstance(x, list) else "t", *[encode(e, handle, d) for e in items]]
        if isinstance(x, dict):
            out = ["d"]
            for k, v in zip(list(dict.keys(x)), list(dict.values(x)), strict=True):
                out += [encode(k, handle, d), encode(v, handle, d)]
            return out
        if isinstance(x, (set, frozenset)):
            items = set.__iter__(x) if isinstance(x, set) else frozenset.__iter__(x)
            return ["s" if isinstance(x, set) else "f", *[encode(e, handle, d) for e in items]]
        if isinstance(x, int):
            return encode(int.__int__(x))
        if isinstance(x, float):
            return float.__float__(x)
        if isinstance(x, str):
            return str.__str__(x)
        if isinstance(x, complex):
            c = complex.__complex__(x)
            return ["c", c.real, c.imag]
        if isinstance(x, bytes):
            return ["b", bytes.__bytes__(x).hex()]
        if isinstance(x, bytearray):
            return ["B", bytes(x).hex()]
        numpy = _numpy_node(x, t)
        if numpy is not None:
            return numpy
    except RecursionError:
        pass
    return _other(x, handle)


def _numpy_node(x, t):
    if getattr(t, "__module__", None) != "numpy":
        return None
    dtype = getattr(x, "dtype", None)
    kind = getattr(dtype, "kind", "O")
    if kind not in "biufcmMSU" or not isinstance(getattr(dtype, "str", None), str):
        return None
    if type(x).__name__ == "ndarray":
        return ["n", dtype.str, [int(n) for n in x.shape], x.tobytes().hex()]
    if hasattr(x, "item") and hasattr(x, "tobytes"):
        return ["g", dtype.str, x.tobytes().hex()]
    return None


def _other(x, handle):
    if handle is None:
        raise TypeError(f"a {type(x).__name__} object cannot be passed to program code: only "
                        "plain data and objects the program returned can cross")
    return handle(x)


def dumps(node) -> bytes:
    return _dumps(node).encode("ascii")


def loads(data: bytes):
    try:
        return _loads(data)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"malformed message: {type(exc).__name__}") from None


def decode(node, handle=None, depth=0):
    """Exact builtin value of ``node`` (``handle(index, type_name)`` rebuilds ``h`` nodes)."""
    t = type(node)
    if t is str or t is int or t is float or t is bool or node is None:
        return node
    if t is not list or not node or type(node[0]) is not str or depth > MAX_DEPTH:
        raise WireError("malformed value")
    tag, rest, d = node[0], node[1:], depth + 1
    if tag == "l":
        if all(type(e) in _SCALARS or type(e) is int for e in rest):
            return rest
        return [decode(e, handle, d) for e in rest]
    if tag == "t":
        return tuple(decode(e, handle, d) for e in rest)
    if tag == "d":
        if len(rest) % 2:
            raise WireError("malformed dict")
        vals = [decode(e, handle, d) for e in rest]
        return dict(zip(vals[::2], vals[1::2], strict=True))
    if tag == "s":
        return {decode(e, handle, d) for e in rest}
    if tag == "f":
        return frozenset(decode(e, handle, d) for e in rest)
    if tag == "i" and len(rest) == 1 and type(rest[0]) is str and len(rest[0]) < 1 << 24:
        return int(rest[0], 16)
    if tag in ("b", "B") and len(rest) == 1 and type(rest[0]) is str:
        data = bytes.fromhex(rest[0])
        return data if tag == "b" else bytearray(data)
    if tag == "c" and len(rest) == 2 and all(type(e) in (int, float) for e in rest):
        return complex(rest[0], rest[1])
    if tag in ("n", "g"):
        return _numpy_value(tag, rest)
    if tag == "h" and handle is not None and len(rest) == 2 and type(rest[0]) is int \
            and type(rest[1]) is str:
        return handle(rest[0], rest[1])
    raise WireError(f"malformed value (tag {tag[:10]!r})")


def _numpy_value(tag, rest):
    if not rest or type(rest[0]) is not str or not _DTYPE.match(rest[0]):
        raise WireError("malformed numpy value")
    try:
        import numpy
    except ImportError:
        raise WireError("a numpy value, but numpy is not importable for the tests") from None
    dtype = numpy.dtype(rest[0])
    if tag == "g" and len(rest) == 2 and type(rest[1]) is str:
        return numpy.frombuffer(bytes.fromhex(rest[1]), dtype=dtype)[0]
    if tag == "n" and len(rest) == 3 and type(rest[1]) is list and type(rest[2]) is str \
            and all(type(n) is int and n >= 0 for n in rest[1]):
        flat = numpy.frombuffer(bytes.fromhex(rest[2]), dtype=dtype)
        return flat.reshape(rest[1]).copy()
    raise WireError("malformed numpy value")
