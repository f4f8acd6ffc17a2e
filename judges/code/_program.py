"""The program process of a tests job: runs the untrusted program and serves the test driver's
calls into it (stdlib only; runs inside the sandbox, see ``_harness``).

Everything here is at the program's mercy (it can patch this module, the codec, the pipes);
that is by design: the only thing that leaves this process is the bytes written to the reply
pipe, and the driver reads those as plain data (``_wire``). A program that tampers with this
loop can only send wrong answers or break the protocol, and both fail its tests.

Messages are framed as an 8-byte big-endian length followed by JSON (``_wire``). Requests:
``[seq, "program", source]`` once, then ``[seq, "call", handle, args, kwargs]`` and
``[seq, "getattr", handle, name]``, ``[seq, "next", iterator]`` and
``[seq, "isinstance", class, value]``. Replies: ``[seq, "ok", value]``
(a call that returned ``None`` adds ``[args, kwargs]`` after it when it changed its arguments: the
driver copies the change back into the test's objects), ``[seq, "end"]`` (an iterator is
exhausted) or ``[seq, "err", builtin_base_name, message, class_name, traceback]``; the first reply
is ``[0, "ready", [[name, node], ...]]`` (the names the driver asked for) or
``[0, "error", kind, class_name, message, line, tb]``.

While a call runs, the program may call a test's callable (a ``cb`` node, e.g. ``key=len`` or a
lambda): it sends ``[seq, "cb", index, args, kwargs]`` and waits for ``[seq, "cbret", value]`` or
``[seq, "cberr", builtin_base_name, message]``, answering any call the driver makes meanwhile.
"""

from __future__ import annotations

import builtins
import linecache
import os
import sys
import traceback
import types

import _wire

MAX_FIELD = 2000
MAX_TB = 4000
_BUILTIN_EXCS = {name: v for name, v in vars(builtins).items()
                 if isinstance(v, type) and issubclass(v, BaseException)}


def recv(fd: int):
    header = _read(fd, 8)
    return _wire.loads(_read(fd, int.from_bytes(header, "big")))


def _read(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        b = os.read(fd, min(n, 1 << 20))
        if not b:
            raise EOFError
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def send(fd: int, node) -> None:
    data = _wire.dumps(node)
    data = len(data).to_bytes(8, "big") + data
    while data:
        data = data[os.write(fd, data):]


def _tb(exc) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != "<program>":
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))[-MAX_TB:]


def _error(exc):
    base = next((k.__name__ for k in type(exc).__mro__ if _BUILTIN_EXCS.get(k.__name__) is k),
                "RuntimeError")
    try:
        msg = str(exc)[:MAX_FIELD]
    except BaseException:
        msg = ""
    return ["err", base, msg, type(exc).__name__, _tb(exc)]


def _flush() -> None:
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except BaseException:
            pass


class _Exit:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Use {self.name}() to exit"

    def __call__(self, code=None):
        raise SystemExit(code)


class _Objects:
    """Objects that stay in this process; the driver refers to them by index (one index per
    object, so a class always has the same one)."""

    def __init__(self) -> None:
        self.items: list = []
        self.index: dict = {}

    def handle(self, x):
        i = self.index.get(id(x))
        if i is None:
            self.items.append(x)
            i = self.index[id(x)] = len(self.items) - 1
        return ["h", i, type(x).__name__]

    def get(self, i, _type_name=""):
        if type(i) is not int or not 0 <= i < len(self.items):
            raise _wire.WireError("unknown object")
        return self.items[i]


def _manifest(g: dict, names, objects: _Objects) -> list:
    """The requested names the program defined (a value that cannot cross is left out: the
    test then finds the name undefined)."""
    out = []
    for name in names if type(names) is list else ():
        if type(name) is not str or name not in g:
            continue
        value = g[name]
        try:
            if isinstance(value, types.ModuleType):
                out.append([name, ["m", str(getattr(value, "__name__", name))]])
            elif isinstance(value, type) or callable(value):
                out.append([name, objects.handle(value)])
            else:
                out.append([name, _wire.encode(value, objects.handle)])
        except Exception:
            pass
    return out


def serve(call_fd: int, reply_fd: int) -> None:
    """Wait for the program, run it, then answer calls until the driver goes away."""
    global _objects, _fds
    try:
        seq, op, source, helpers, names = recv(call_fd)
    except BaseException:
        os._exit(0)
    linecache.cache["<program>"] = (len(source), None, source.splitlines(True), "<program>")
    solution = types.ModuleType("solution")
    solution.__dict__["__builtins__"] = builtins
    for name in ("exit", "quit"):  # as ``site`` defines them (the sandbox runs without it)
        if not hasattr(builtins, name):
            setattr(builtins, name, _Exit(name))
    sys.modules["solution"] = sys.modules["__main__"] = solution
    g = solution.__dict__
    objects = _objects = _Objects()
    _fds = (call_fd, reply_fd)
    try:
        code = compile(source, "<program>", "exec", dont_inherit=True)
    except BaseException as exc:
        line = getattr(exc, "lineno", None)
        reply = [0, "error", "syntax", type(exc).__name__, str(getattr(exc, "msg", exc)),
                 line if type(line) is int else None, ""]
    else:
        try:
            exec(code, g)
            _task_helpers(helpers, g)
            reply = [0, "ready", _manifest(g, names, objects)]
        except BaseException as exc:
            _, base, msg, name, tb = _error(exc)
            reply = [0, "error", "error", name, msg, None, tb]
    _flush()
    send(reply_fd, reply)
    while True:
        try:
            request = recv(call_fd)
        except BaseException:
            os._exit(0)
        send(reply_fd, _answer(request, objects))


def _task_helpers(helpers, g: dict) -> None:
    """The task's helpers (trusted source, e.g. a HumanEval prompt's ``poly``) bound over the
    program's redefinitions, so the program's own calls use the task's too."""
    if type(helpers) is not str or not helpers:
        return
    try:
        exec(compile(helpers, "<task helpers>", "exec", dont_inherit=True), g)
    except BaseException:
        pass


_objects = _Objects()
_fds = (-1, -1)
_calls: list = []  # seq of the driver's calls in progress, innermost last


def _decode(node):
    return _wire.decode(node, _objects.get, callback=_test_callable, test_iterator=_TestIterator,
                        builtin=_builtin, local_class=lambda cls: isinstance(cls, type))


class _TestIterator:
    """A test's iterator (a generator expression, say): each item is pulled from the driver."""

    def __init__(self, index: int) -> None:
        self._next = _test_callable(index)

    def __iter__(self):
        return self

    def __next__(self):
        return self._next()


def _builtin(name):
    value = vars(builtins).get(name)
    if value is None or not callable(value):
        raise _wire.WireError("unknown builtin")
    return value


def _test_callable(index: int):
    """A test's callable: calling it runs it in the driver, through the channel."""
    def call_the_test(*args, **kwargs):
        if not _calls:
            raise RuntimeError("a test's callable can be called only while the test calls in")
        seq = _calls[-1]
        send(_fds[1], [seq, "cb", index, _wire.encode(list(args), _objects.handle),
                       _wire.encode(dict(kwargs), _objects.handle)])
        while True:
            msg = recv(_fds[0])
            if type(msg) is list and len(msg) >= 3 and msg[0] == seq and msg[1] == "cbret":
                return _decode(msg[2])
            if type(msg) is list and len(msg) == 4 and msg[0] == seq and msg[1] == "cberr":
                exc = _BUILTIN_EXCS.get(msg[2], RuntimeError)
                raise exc(msg[3]) if issubclass(exc, Exception) else RuntimeError(msg[3])
            send(_fds[1], _answer(msg, _objects))
    call_the_test.__name__ = call_the_test.__qualname__ = f"test_callable_{index}"
    return call_the_test


def _answer(request, objects: _Objects):
    seq = request[0] if isinstance(request, list) and request else -1
    _calls.append(seq)
    try:
        op, target = request[1], objects.get(request[2])
        if op == "getattr":
            return [seq, "ok", _wire.encode(getattr(target, request[3]), objects.handle)]
        if op == "isinstance":
            return [seq, "ok", isinstance(_decode(request[3]), target) is True]
        if op == "next":
            try:
                value = next(target)
            except StopIteration:
                return [seq, "end"]
            return [seq, "ok", _wire.encode(value, objects.handle)]
        args, kwargs = _decode(request[3]), _decode(request[4])
        value = target(*args, **kwargs)
        reply = [seq, "ok", _wire.encode(value, objects.handle)]
        if value is None:  # a procedure: its result is what it did to its arguments
            after = [_wire.encode(args, objects.handle), _wire.encode(kwargs, objects.handle)]
            if after != [request[3], request[4]]:
                reply.append(after)
        return reply
    except BaseException as exc:
        return [seq, *_error(exc)]
    finally:
        _calls.pop()
        _flush()
