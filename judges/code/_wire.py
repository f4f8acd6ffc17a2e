"""Plain-data wire format between the program process and the test driver (stdlib only).

Only data crosses between the process that runs untrusted code and the one that runs the tests:
JSON text (parsed by the C ``json`` decoder) whose nodes are rebuilt here into *exact* builtin
and standard-library types. Nothing the program sends can become code, a program-defined class,
or an object whose methods the program wrote: the worst it can do is send the wrong data, which
is the same as returning the wrong answer.

Node forms: JSON ``str``/``int``/``float``/``bool``/``null`` stand for themselves; a JSON list
starts with a tag: ``l`` list, ``t`` tuple, ``d`` dict (keys and values alternate), ``s`` set,
``f`` frozenset, ``b``/``B`` bytes/bytearray (hex), ``c`` complex, ``i`` big int (hex),
``n``/``g`` numpy array/scalar (dtype, shape, hex bytes), ``h`` handle (an object that stays in
the program process: index and type name), ``it`` an iterator that stays in the program process
(the test pulls its items one by one), ``cb`` a test's callable (runs in the driver when the
program calls it), ``ti`` a test's iterator (the program pulls its items the same way), ``bi`` a builtin by name, ``m`` module (name), and the standard library's
value types of ``_values``.

Encoding and decoding are iterative (no Python recursion), so a value nested ``MAX_DEPTH``
levels deep crosses whatever the interpreter's recursion limit; a deeper one is refused with
:class:`ValueTooDeep` (a ``TypeError`` the test sees), never a broken connection.
"""

from __future__ import annotations

import builtins
import collections.abc
import json
import re

try:
    import _values  # in the sandbox: the modules of this directory are top-level
except ImportError:  # imported as judges.code._wire
    from judges.code import _values

MAX_DEPTH = 500
_BIG = 1 << 62
_PLAIN = frozenset((str, bool, float, int, type(None)))
_DTYPE = re.compile(r"[<>|=]?[biufcmMSU]\d{0,6}(\[[a-zA-Z]{1,3}\])?\Z")
_dumps = json.JSONEncoder(ensure_ascii=True, allow_nan=True, check_circular=False,
                          separators=(",", ":")).encode
_loads = json.loads
_BUILTIN_CALLABLE = (type, type(len))
_CONTAINERS = {"l": list, "t": tuple, "s": set, "f": frozenset}


class WireError(ValueError):
    """A message does not follow the wire format."""


class UntrustedComparison(TypeError):
    """A test applied an operator to an object whose behaviour the program controls."""


class ValueRefused(TypeError):
    """A well-formed value this side cannot rebuild (an unhashable key, a reserved field
    name...): the test that asked for it fails with the reason; the connection stays."""


class ValueTooDeep(TypeError):
    """A value nested deeper than ``MAX_DEPTH`` levels cannot cross."""


def encode(x, handle=None, depth=0, *, owner=True):
    """JSON-able node for ``x``. Values of subclasses of builtin and standard types are read by
    value through the base types' own methods. ``handle(x)`` gives the node of anything else
    (``None``: raise ``TypeError``). ``owner``: this side owns the classes of its values (the
    program process); the test driver sends its classes as descriptions only."""
    root = [None]
    stack = [(x, root, 0, depth)]
    while stack:
        value, parent, i, d = stack.pop()
        node, children = _node(value, handle, d, owner)
        parent[i] = node
        start = len(node) - len(children) if children else 0
        for j, child in enumerate(children):
            stack.append((child, node, start + j, d + 1))
    return root[0]


def _node(x, handle, depth, owner):
    """(node with ``None`` where its children go, children)."""
    t = type(x)
    if t is str or t is bool or t is float or x is None:
        return x, ()
    if t is int:
        return (x if -_BIG < x < _BIG else ["i", format(x, "x")]), ()
    if t is _values.Ref:
        return (_other(x.obj, handle) if owner else None), ()
    if depth > MAX_DEPTH:
        raise ValueTooDeep(f"a value nested deeper than {MAX_DEPTH} levels cannot cross "
                           "between the program and the tests")
    if t is list or t is tuple:
        items = list(x)
        if all(type(e) in _PLAIN for e in items) and all(
                -_BIG < e < _BIG for e in items if type(e) is int):
            return ["l" if t is list else "t", *items], ()  # the common case, no stack work
        return ["l" if t is list else "t", *[None] * len(items)], items
    if t is dict:
        pairs = _values._pairs(dict.items(x))
        return ["d", *[None] * len(pairs)], pairs
    try:
        read = _values.read(x, t, lambda cls: _origin(cls, owner))
    except Exception:
        read = None
    if read is not None:
        tag, header, children = read
        return [tag, *header, *[None] * len(children)], children
    if issubclass(t, (list, tuple)):
        items = list(list.__iter__(x)) if issubclass(t, list) else list(tuple.__iter__(x))
        return ["l" if issubclass(t, list) else "t", *[None] * len(items)], items
    if issubclass(t, dict):
        pairs = _values._pairs(zip(list(dict.keys(x)), list(dict.values(x)), strict=True))
        return ["d", *[None] * len(pairs)], pairs
    if issubclass(t, (set, frozenset)):
        items = list(set.__iter__(x)) if issubclass(t, set) else list(frozenset.__iter__(x))
        return ["s" if issubclass(t, set) else "f", *[None] * len(items)], items
    if issubclass(t, int):
        return encode(int.__int__(x)), ()
    if issubclass(t, float):
        return float.__float__(x), ()
    if issubclass(t, str):
        return str.__str__(x), ()
    if issubclass(t, complex):
        c = complex.__complex__(x)
        return ["c", c.real, c.imag], ()
    if issubclass(t, bytes):
        return ["b", bytes.__bytes__(x).hex()], ()
    if issubclass(t, bytearray):
        return ["B", bytes(x).hex()], ()
    numpy = _numpy_node(x, t)
    if numpy is not None:
        return numpy, ()
    name = getattr(x, "__name__", None) if t in _BUILTIN_CALLABLE else None
    if type(name) is str and vars(builtins).get(name) is x and (t is type or not owner):
        return ["bi", name], ()
    node = _other(x, handle)
    if owner and type(node) is list and node[:1] == ["h"] and _is_iterator(x):
        node = ["it", *node[1:]]
    return node, ()


def _origin(cls, owner):
    """The child that stands for a value's class: the class itself on the side that owns it,
    the reference a rebuilt class remembers, or ``None`` (rebuild from the description)."""
    if "_wire_origin" in vars(cls):
        return cls._wire_origin
    return cls if owner else None


def _is_iterator(x) -> bool:
    try:
        return isinstance(x, collections.abc.Iterator)
    except Exception:
        return False


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
                        "plain data, callables and objects the program returned can cross")
    return handle(x)


def dumps(node) -> bytes:
    return _dumps(node).encode("ascii")


def loads(data: bytes):
    try:
        return _loads(data)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"malformed message: {type(exc).__name__}") from None


_BUILD = object()


def decode(node, handle=None, depth=0, *, iterator=None, callback=None, test_iterator=None,
           builtin=None, local_class=None):
    """Exact value of ``node``. ``handle(index, type_name)`` rebuilds ``h`` nodes,
    ``iterator(index, type_name)`` ``it`` nodes, ``callback(index)`` ``cb`` nodes,
    ``test_iterator(index)`` ``ti`` nodes (a test's iterator, pulled through the channel),
    ``builtin(name)`` ``bi`` nodes; ``local_class(cls)`` tells a class this side owns.
    A node that is not well formed raises ``WireError``; ``UntrustedComparison`` (a program
    object in a set, say) passes through."""
    out: list = []
    work: list = [(node, depth)]
    hooks = {"h": handle, "it": iterator, "cb": callback, "ti": test_iterator, "bi": builtin}
    try:
        while work:
            item = work.pop()
            if item[0] is _BUILD:
                _, tag, header, k = item
                children = out[len(out) - k:]
                del out[len(out) - k:]
                out.append(_build(tag, header, children, local_class))
                continue
            n, d = item
            t = type(n)
            if t is str or t is int or t is float or t is bool or n is None:
                out.append(n)
                continue
            if t is not list or not n or type(n[0]) is not str or d > MAX_DEPTH:
                raise WireError("malformed value")
            tag, rest = n[0], n[1:]
            if (tag == "l" or tag == "t") and all(type(e) in _PLAIN for e in rest):
                out.append(rest if tag == "l" else tuple(rest))
                continue
            h = 0 if tag in _CONTAINERS or tag == "d" else _values.HEADERS.get(tag)
            if h is None:
                out.append(_leaf(tag, rest, hooks))
                continue
            if len(rest) < h:
                raise WireError(f"malformed value (tag {tag!r})")
            kids = rest[h:]
            work.append((_BUILD, tag, rest[:h], len(kids)))
            work.extend((c, d + 1) for c in reversed(kids))
    except (WireError, UntrustedComparison, ValueRefused):
        raise
    except Exception as exc:
        raise WireError(f"malformed value ({type(exc).__name__})") from None
    if len(out) != 1:
        raise WireError("malformed value")
    return out[0]


def _build(tag, header, children, local_class):
    if tag == "d" and len(children) % 2:
        raise WireError("malformed dict")
    try:
        if tag == "d":
            return dict(zip(children[::2], children[1::2], strict=True))
        if tag in _CONTAINERS:
            return _CONTAINERS[tag](children)
        return _values.build(tag, header, children, local_class or (lambda cls: False))
    except UntrustedComparison:
        raise
    except Exception as exc:
        name = _values.type_name(tag, header)
        raise ValueRefused(f"a {name} value from the program cannot be rebuilt for the "
                           f"tests: {type(exc).__name__}: {str(exc)[:200]}") from None


def _leaf(tag, rest, hooks):
    if tag == "i" and len(rest) == 1 and type(rest[0]) is str and len(rest[0]) < 1 << 24:
        return int(rest[0], 16)
    if tag in ("b", "B") and len(rest) == 1 and type(rest[0]) is str:
        data = bytes.fromhex(rest[0])
        return data if tag == "b" else bytearray(data)
    if tag == "c" and len(rest) == 2 and all(type(e) in (int, float) for e in rest):
        return complex(rest[0], rest[1])
    if tag in ("n", "g"):
        return _numpy_value(tag, rest)
    hook = hooks.get(tag)
    if hook is not None and tag in ("h", "it") and len(rest) == 2 and type(rest[0]) is int \
            and type(rest[1]) is str:
        return hook(rest[0], rest[1])
    if hook is not None and tag in ("cb", "ti") and len(rest) == 1 and type(rest[0]) is int:
        return hook(rest[0])
    if hook is not None and tag == "bi" and len(rest) == 1 and type(rest[0]) is str:
        return hook(rest[0])
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
