"""Test-thread side of the in-sandbox harness (stdlib only; see ``_harness`` for the design).

Each test runs on a fresh thread (Tt) driving the generator :func:`_test_runner`. Everything it
uses comes from a *group*: fresh copies of these functions and of the strict helpers in
``_strict``, with a private globals dict (pre-bound callables and constants only, no modules),
their own copy of the pristine builtins snapshot, and line numbers shifted by
``TT_LINE_OFFSET`` so that tracebacks tell harness frames from test frames. Groups are built in
the trusted phase, before any untrusted code runs, one per test.
"""

from __future__ import annotations

import _thread
import builtins
import cmath
import itertools
import math
import operator
import string
import sys
import types

import _strict
from _strict import plain_copy, type_name

PLACEHOLDERS = {"\x00rlenvs.cmp\x00": "cmp", "\x00rlenvs.chain\x00": "chain",
                "\x00rlenvs.truth\x00": "truth"}  # mirrors judges.code.rewrite
TT_LINE_OFFSET = 1_000_000  # harness frames on test threads report line numbers >= this
P_LINE_OFFSET = 2_000_000  # harness frames on the program thread report line numbers >= this
MAX_FIELD = 1000
MAX_TB = 1800

PRISTINE = dict(builtins.__dict__)  # snapshot taken in the zygote, before any job exists
_PRIVATE_MODULES = {}
for _m in (math, cmath, operator, itertools, string):
    _PRIVATE_MODULES[_m.__name__] = types.ModuleType(_m.__name__)
    _PRIVATE_MODULES[_m.__name__].__dict__.update(_m.__dict__)
BUILTIN_EXCS = tuple(v for v in PRISTINE.values()
                     if isinstance(v, type) and issubclass(v, BaseException))

# Pre-bound callables: attribute lookups on shared (patchable) modules happen here, at import.
_get_ident = _thread.get_ident
_real_import = builtins.__import__
_ModuleType = types.ModuleType
_FunctionType = types.FunctionType
_type = type
_len = len
_str = str
_dict_items = dict.items
_exec = exec
_BUILTIN_EXCS = BUILTIN_EXCS
_TEST_BUILTINS: dict = {}  # each test's group gets its own (see test_group)


def _test_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name in _PRIVATE_MODULES:
        return _PRIVATE_MODULES[name]
    return _real_import(name, globals, locals, fromlist, level)


def _make_proxy(fn, chan, owner):
    """A callable for the test namespace that runs ``fn`` on the program thread."""

    def proxy(*args, **kwargs):
        if _get_ident() != owner[0]:
            return fn(*args, **kwargs)  # called back from program code: run in place
        chan[0], chan[1], chan[2] = fn, args, kwargs
        chan[6].release()
        chan[7].acquire()
        ok, value, tb = chan[3], chan[4], chan[5]
        chan[3] = chan[4] = chan[5] = None
        if ok is True:
            c, plain = plain_copy(value, 0, False)
            return c if plain else value
        base, msg, name = value if _type(value) is tuple and _len(value) == 3 else (0, "", "")
        if not any(base is b for b in _BUILTIN_EXCS):
            base = RuntimeError
        msg = msg if _type(msg) is str else ""
        try:
            exc = base(msg)
        except Exception:
            exc = RuntimeError(msg)
        owner[1], owner[2], owner[3] = (tb if _type(tb) is str else ""), name, exc
        raise exc

    if _type(fn) is _FunctionType:
        proxy.__name__ = proxy.__qualname__ = _str(fn.__name__)
    return proxy


def _build_test_ns(g, chan, owner):
    ns = {"__builtins__": _TEST_BUILTINS, "__name__": "__test__"}
    for k, v in list(_dict_items(g)):
        if _type(k) is not str or k.startswith("__"):
            continue
        t = _type(v)
        if t is _ModuleType or issubclass(t, type):
            ns[k] = v
        elif callable(v):
            ns[k] = _make_proxy(v, chan, owner)
        else:
            c, plain = plain_copy(v, 0, False)
            ns[k] = c if plain else v
    return ns


def _describe(exc, owner):
    """(type name, message, failing test line, program traceback), without touching frames."""
    from_program = exc is owner[3]
    name = owner[2] if from_program and _type(owner[2]) is str else type_name(exc)
    try:
        msg = _str(exc)
        msg = msg if _type(msg) is str else ""
    except BaseException:
        msg = "<unprintable exception>"
    line = ""
    try:
        tb, n = exc.__traceback__, 0
        while tb is not None and n < 500:
            ln = tb.tb_lineno
            if _type(ln) is not int or ln >= P_LINE_OFFSET:
                break
            if ln < TT_LINE_OFFSET:
                line = _str(ln)
            tb, n = tb.tb_next, n + 1
    except BaseException:
        pass
    ptb = owner[1] if from_program and _type(owner[1]) is str else ""
    return (name, msg[:MAX_FIELD], line, ptb[-MAX_TB:])


def _test_runner(code, g, chan, owner, arm):
    """The test, as a generator driven on its own thread by :func:`_drive`.

    ``arm`` (from the monitor) first marks this thread as protected. The generator is left
    *suspended* only if ``exec`` returned normally; that state (``gi_suspended``, read by the
    monitor on the generator object it holds) is the pass signal: no code on this thread can
    fake it without the generator object, which only the monitor and ``_drive`` hold.
    """
    arm()
    try:
        _exec(code, _build_test_ns(g, chan, owner))
    except BaseException as exc:
        owner[4] = _describe(exc, owner)
        exc = None
        return
    yield


def _drive(gen, done):
    """Thread entry: run the test generator to its pass point (or end), then wake the monitor."""
    try:
        next(gen, None)
    finally:
        done.release()


# ---------------------------------------------------------------------------------------------
# Groups


def _shift(code, offset):
    consts = tuple(_shift(c, offset) if isinstance(c, types.CodeType) else c
                   for c in code.co_consts)
    return code.replace(co_firstlineno=code.co_firstlineno + offset, co_consts=consts)


_SHIFTED: dict = {}


def group(values, functions, offset):
    """Fresh copies of ``functions`` sharing one private globals dict built from ``values``."""
    ns = {"__builtins__": dict(PRISTINE), **values}
    for f in functions:
        code = _SHIFTED.get((f, offset)) or _shift(f.__code__, offset)
        _SHIFTED[(f, offset)] = code
        ns[f.__name__] = types.FunctionType(code, ns, f.__name__, f.__defaults__)
    return ns


def public(module, names):
    return {n: getattr(module, n) for n in names}


_TT_VALUES = {
    **{k: v for k, v in vars(_strict).items() if not k.startswith("__")
       and not isinstance(v, (types.ModuleType, types.FunctionType))},
    **public(sys.modules[__name__], [
        "_get_ident", "_type", "_len", "_str", "_dict_items", "_ModuleType", "_FunctionType",
        "_real_import", "_exec", "_BUILTIN_EXCS", "P_LINE_OFFSET",
        "TT_LINE_OFFSET", "MAX_FIELD", "MAX_TB"])}
_TT_FUNCS = [*[getattr(_strict, n) for n in _strict.FUNCTIONS], _test_import, _make_proxy,
             _build_test_ns, _describe, _test_runner, _drive]


def test_group():
    """A fresh set of test-thread helpers, builtins, operators and private modules for one test."""
    ns = group(_TT_VALUES, _TT_FUNCS, TT_LINE_OFFSET)
    ns["_TEST_BUILTINS"] = {**PRISTINE, "__import__": ns["_test_import"]}
    ns["OPS"] = dict(_strict.OPS)
    ns["_PRIVATE_MODULES"] = {}
    for name, module in _PRIVATE_MODULES.items():
        ns["_PRIVATE_MODULES"][name] = copy = types.ModuleType(name)
        copy.__dict__.update(module.__dict__)
    return ns


def bind_placeholders(code, group):
    """Replace the parent's placeholder constants with this test's strict helpers."""
    consts = []
    for c in code.co_consts:
        if type(c) is str and c in PLACEHOLDERS:
            consts.append(group[PLACEHOLDERS[c]])
        elif isinstance(c, types.CodeType):
            consts.append(bind_placeholders(c, group))
        else:
            consts.append(c)
    return code.replace(co_consts=tuple(consts))


