"""The standard library's value types on the wire (stdlib only; used by ``_wire`` in both the
program process and the test driver).

Each type is read on the sending side through its base type's own methods (a subclass's
overrides are never asked) into a node, and rebuilt on the receiving side as a real instance of
the standard type, so equality, hashing, ordering and attribute access are the standard
library's: ``OrderedDict`` (order-sensitive equality), ``Counter`` (missing key -> 0),
``defaultdict``, ``deque``, ``namedtuple`` (a class rebuilt from its name and fields),
dataclasses (rebuilt with the same fields and ``eq``/``frozen``/``order``/``unsafe_hash``),
enums (rebuilt with the same members), ``Fraction``, ``Decimal``, ``range`` and dict views.

A class crosses as a reference (the ``cls`` child): on the side that owns it, the real class;
on the other, a class rebuilt once per (reference, description), so two values of one program
class compare as they would in the program, and values of different classes never compare equal.

Node forms (``tag``, header fields, then child values): ``od``/``C`` OrderedDict/Counter
(keys and values alternate), ``dd`` defaultdict (factory, then pairs), ``q`` deque (maxlen,
then items), ``nt`` namedtuple (typename, fields; cls, object, items), ``dc`` dataclass (name,
fields, flags; cls, object, values), ``e`` enum (kind, name, member names, this member's name;
cls, value, member values),
``fr`` Fraction (numerator, denominator), ``D`` Decimal (text), ``r`` range (start, stop, step),
``dk``/``dv``/``di`` dict keys/values/items (items; items as pairs).
"""

from __future__ import annotations

import collections
import dataclasses
import decimal
import enum
import fractions
import keyword

MAX_MEMBERS = 4096
_ENUM_KINDS = ("IntFlag", "Flag", "IntEnum", "StrEnum", "Enum")
_DICT_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))
# header length of each tag (fields that are raw JSON, not values)
HEADERS = {"od": 0, "C": 0, "dd": 0, "q": 0, "nt": 2, "dc": 3, "e": 4, "fr": 0, "D": 1,
           "r": 0, "dk": 0, "dv": 0, "di": 0}
_classes: dict = {}


class WireValueError(ValueError):
    """A value node that does not describe a value of its type."""


class Ref:
    """Stands for the sent object itself (sent as a handle by the side that owns it, ``None``
    by the other): a rebuilt namedtuple or dataclass forwards its other attributes - methods,
    properties - to it, so ``p.area()`` still asks the program's object."""

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj


def _forward(self, name: str):
    """``__getattr__`` of rebuilt classes: a missing public attribute is read from the
    program's object (a handle: the answer is again data or a handle)."""
    ref = self.__dict__.get("_wire_self") if not name.startswith("_") else None
    if ref is None:
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
    return getattr(ref, name)


_TYPE_NAMES = {"l": "list", "t": "tuple", "d": "dict", "s": "set", "f": "frozenset",
               "od": "OrderedDict", "C": "Counter", "dd": "defaultdict", "q": "deque",
               "fr": "Fraction", "D": "Decimal", "r": "range", "dk": "dict_keys",
               "dv": "dict_values", "di": "dict_items"}


def type_name(tag: str, header: list) -> str:
    """What a node stands for, for messages (a class's own name where the node has one)."""
    if tag in ("nt", "dc") and header and type(header[0]) is str:
        return f"{header[0][:60]} ({'namedtuple' if tag == 'nt' else 'dataclass'})"
    if tag == "e" and len(header) > 1 and type(header[1]) is str:
        return f"{header[1][:60]} (enum)"
    return _TYPE_NAMES.get(tag, "program")


def read(x, t, origin):
    """``(tag, header, children)`` for a stdlib value ``x`` of type ``t``, or ``None``.

    ``origin(cls)`` gives the child that stands for a value's class (``None`` when the class
    was rebuilt here from a description and has no owner to refer to).
    """
    if t is range:
        return "r", [], [range.start.__get__(x), range.stop.__get__(x), range.step.__get__(x)]
    if issubclass(t, collections.OrderedDict):
        return "od", [], _pairs(collections.OrderedDict.items(x))
    if issubclass(t, collections.Counter):
        return "C", [], _pairs(zip(dict.keys(x), dict.values(x), strict=True))
    if issubclass(t, collections.defaultdict):
        factory = collections.defaultdict.default_factory.__get__(x)
        return "dd", [], [factory, *_pairs(zip(dict.keys(x), dict.values(x), strict=True))]
    if issubclass(t, collections.deque):
        return "q", [], [collections.deque.maxlen.__get__(x), *collections.deque.__iter__(x)]
    if issubclass(t, tuple) and _is_namedtuple(t):
        return "nt", [t.__name__, list(t._fields)], [origin(t), Ref(x), *tuple.__iter__(x)]
    if dataclasses.is_dataclass(t) and not issubclass(t, type):
        params = t.__dataclass_params__
        names = [f.name for f in dataclasses.fields(t)]
        hashable = t.__hash__ is not None and params.eq and not params.frozen
        flags = [bool(params.eq), bool(params.frozen), bool(params.order),
                 bool(params.unsafe_hash or hashable)]
        return "dc", [t.__name__, names, flags], [
            origin(t), Ref(x), *[object.__getattribute__(x, n) for n in names]]
    if issubclass(t, enum.Enum):
        kind = next(k for k in _ENUM_KINDS if issubclass(t, getattr(enum, k)))
        members = [(n, m) for n, m in t.__members__.items() if m._name_ == n][:MAX_MEMBERS]
        return "e", [kind, t.__name__, [n for n, _ in members], x._name_], [
            origin(t), x._value_, *[m._value_ for _, m in members]]
    if issubclass(t, fractions.Fraction):
        return "fr", [], [fractions.Fraction.numerator.fget(x),
                          fractions.Fraction.denominator.fget(x)]
    if issubclass(t, decimal.Decimal):
        return "D", [decimal.Decimal.__str__(x)], []
    if issubclass(t, _DICT_VIEWS[0]):
        return "dk", [], list(x)
    if issubclass(t, _DICT_VIEWS[1]):
        return "dv", [], list(x)
    if issubclass(t, _DICT_VIEWS[2]):
        return "di", [], _pairs(x)
    return None


def _pairs(items) -> list:
    out = []
    for k, v in items:
        out += [k, v]
    return out


def _is_namedtuple(t) -> bool:
    fields = getattr(t, "_fields", None)
    return type(fields) is tuple and all(type(f) is str for f in fields) and tuple in t.__mro__


def build(tag: str, header: list, children: list, local_class):
    """The value of a node whose children are already rebuilt. ``local_class(cls)`` is true for
    a class this side owns (it is used as it is); any other reference gets a rebuilt class."""
    if tag == "od":
        return collections.OrderedDict(_pairs_of(children))
    if tag == "C":
        return collections.Counter(dict(_pairs_of(children)))
    if tag == "dd":
        factory = children[0] if children else None
        if factory is not None and not callable(factory):
            raise WireValueError("defaultdict factory is not callable")
        return collections.defaultdict(factory, _pairs_of(children[1:]))
    if tag == "q":
        maxlen = children[0] if children else None
        if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
            raise WireValueError("bad deque maxlen")
        return collections.deque(children[1:], maxlen)
    if tag == "fr":
        if len(children) != 2 or not all(type(c) is int for c in children) or not children[1]:
            raise WireValueError("bad Fraction")
        return fractions.Fraction(children[0], children[1])
    if tag == "D":
        if type(header[0]) is not str or len(header[0]) > 1 << 16:
            raise WireValueError("bad Decimal")
        return decimal.Decimal(header[0])
    if tag == "r":
        if len(children) != 3 or not all(type(c) is int for c in children) or not children[2]:
            raise WireValueError("bad range")
        return range(*children)
    if tag == "dk":
        return dict.fromkeys(children).keys()
    if tag == "dv":
        return dict(enumerate(children)).values()
    if tag == "di":
        return dict(_pairs_of(children)).items()
    if not children:
        raise WireValueError("value without its class")
    cls, rest = children[0], children[1:]
    if tag in ("nt", "dc"):
        return _record(tag, header, cls, rest, local_class)
    if tag == "e":
        if not rest:
            raise WireValueError("enum without its value")
        if not local_class(cls):
            cls = _enum_class(cls, header, rest[1:])
        member = header[3]  # by name: two members never merge into one
        return cls[member] if type(member) is str and member in cls.__members__ else cls(rest[0])
    raise WireValueError(f"unknown tag {tag[:10]!r}")


def _record(tag: str, header: list, cls, rest: list, local_class):
    """A namedtuple or dataclass value: of the local class, or of a rebuilt one that forwards
    its other attributes to the sender's object."""
    if not rest:
        raise WireValueError("value without its object reference")
    ref, values = rest[0], rest[1:]
    if local_class(cls):
        if tag == "nt":
            return tuple.__new__(cls, values)
        obj = object.__new__(cls)
        for name, value in zip([f.name for f in dataclasses.fields(cls)], values, strict=True):
            object.__setattr__(obj, name, value)
        return obj
    if tag == "nt":
        cls = _namedtuple_class(cls, header)
        if len(values) != len(cls._fields):
            raise WireValueError("namedtuple of the wrong length")
        obj = tuple.__new__(cls, values)
    else:
        obj = _dataclass_class(cls, header)(*values)
    if ref is not None:
        object.__setattr__(obj, "_wire_self", ref)
    return obj


def _pairs_of(children: list):
    if len(children) % 2:
        raise WireValueError("odd number of keys and values")
    return zip(children[::2], children[1::2], strict=True)


def _names(names, what: str) -> tuple:
    """Field or member names: identifiers, not keywords, not reserved (``_x_``, ``__x``)."""
    if type(names) is not list or len(names) > MAX_MEMBERS or not all(
            type(n) is str and n.isidentifier() and not keyword.iskeyword(n)
            and not n.startswith("__") and not (n[0] == n[-1] == "_")
            for n in names) or len(set(names)) != len(names):
        raise WireValueError(f"bad {what} names")
    return tuple(names)


def _type_name(name) -> str:
    if type(name) is not str or not name.isidentifier() or keyword.iskeyword(name):
        raise WireValueError("bad class name")
    return name


def _cached(key, origin, make):
    cls = _classes.get(key)
    if cls is None:
        if len(_classes) >= MAX_MEMBERS:
            raise WireValueError("too many distinct classes")
        cls = _classes[key] = make()
        cls._wire_origin = origin  # what this class stands for when its values go back
    return cls


def _ref(cls):
    """A hashable key for a class reference that is not a local class (a handle or None)."""
    if cls is None:
        return None
    index = getattr(type(cls), "_wire_index", None)
    if index is None:
        raise WireValueError("bad class reference")
    return index(cls)


def _namedtuple_class(cls, header):
    name, fields = _type_name(header[0]), _names(header[1], "field")
    return _cached(("nt", _ref(cls), name, fields), cls, lambda: type(
        name, (collections.namedtuple(name, fields),), {"__getattr__": _forward}))


def _dataclass_class(cls, header):
    name, fields, flags = _type_name(header[0]), _names(header[1], "field"), header[2]
    if type(flags) is not list or len(flags) != 4 or not all(type(f) is bool for f in flags):
        raise WireValueError("bad dataclass flags")
    eq, frozen, order, unsafe_hash = flags
    return _cached(("dc", _ref(cls), name, fields, tuple(flags)), cls,
                   lambda: dataclasses.make_dataclass(name, fields, eq=eq, frozen=frozen,
                                                      order=order and eq,
                                                      unsafe_hash=unsafe_hash,
                                                      namespace={"__getattr__": _forward}))


def _enum_class(cls, header, values):
    kind, name, members = header[0], _type_name(header[1]), _names(header[2], "member")
    if kind not in _ENUM_KINDS or len(values) != len(members):
        raise WireValueError("bad enum")
    key_values = tuple(repr(v) for v in values)
    rebuilt = _cached(("e", _ref(cls), kind, name, members, key_values), cls,
                      lambda: getattr(enum, kind)(name, list(zip(members, values, strict=True))))
    if len(rebuilt.__members__) != len(members) or any(
            rebuilt[m].name != m for m in members):  # distinct members with equal values
        raise WireValueError(f"enum {name} has distinct members with equal values")
    return rebuilt
