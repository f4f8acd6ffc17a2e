"""The program process of a tests job: runs the untrusted program and serves the test driver's
calls into it (stdlib only; runs inside the sandbox, see ``_harness``).

Everything here is at the program's mercy (it can patch this module, the codec, the pipes);
that is by design: the only thing that leaves this process is the bytes written to the reply
pipe, and the driver reads those as plain data (``_wire``). A program that tampers with this
loop can only send wrong answers or break the protocol, and both fail its tests.

Messages are framed as an 8-byte big-endian length followed by JSON (``_wire``). Requests:
``[seq, "program", source]`` once, then ``[seq, "call", handle, args, kwargs]`` and
``[seq, "getattr", handle, name]``. Replies: ``[seq, "ok", value]`` or
``[seq, "err", builtin_base_name, message, class_name, traceback]``; the first reply is
``[0, "ready", [[name, node], ...]]`` or ``[0, "error", kind, class_name, message, line, tb]``.
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


class _Objects:
    """Objects that stay in this process; the driver refers to them by index."""

    def __init__(self) -> None:
        self.items: list = []

    def handle(self, x):
        self.items.append(x)
        return ["h", len(self.items) - 1, type(x).__name__]

    def get(self, i, _type_name=""):
        if type(i) is not int or not 0 <= i < len(self.items):
            raise _wire.WireError("unknown object")
        return self.items[i]


def _manifest(g: dict, objects: _Objects) -> list:
    out = []
    for name, value in list(g.items()):
        if not isinstance(name, str) or name.startswith("__"):
            continue
        if isinstance(value, types.ModuleType):
            out.append([name, ["m", str(getattr(value, "__name__", name))]])
        elif isinstance(value, type) or callable(value):
            out.append([name, objects.handle(value)])
        else:
            out.append([name, _wire.encode(value, objects.handle)])
    return out


def serve(call_fd: int, reply_fd: int) -> None:
    """Wait for the program, run it, then answer calls until the driver goes away."""
    try:
        seq, op, source = recv(call_fd)
    except BaseException:
        os._exit(0)
    linecache.cache["<program>"] = (len(source), None, source.splitlines(True), "<program>")
    solution = types.ModuleType("solution")
    solution.__dict__["__builtins__"] = builtins
    sys.modules["solution"] = sys.modules["__main__"] = solution
    g = solution.__dict__
    objects = _Objects()
    try:
        code = compile(source, "<program>", "exec", dont_inherit=True)
    except BaseException as exc:
        line = getattr(exc, "lineno", None)
        reply = [0, "error", "syntax", type(exc).__name__, str(getattr(exc, "msg", exc)),
                 line if type(line) is int else None, ""]
    else:
        try:
            exec(code, g)
            reply = [0, "ready", _manifest(g, objects)]
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


def _answer(request, objects: _Objects):
    seq = request[0] if isinstance(request, list) and request else -1
    try:
        op, target = request[1], objects.get(request[2])
        if op == "getattr":
            return [seq, "ok", _wire.encode(getattr(target, request[3]), objects.handle)]
        args = _wire.decode(request[3], objects.get)
        kwargs = _wire.decode(request[4], objects.get)
        value = target(*args, **kwargs)
        return [seq, "ok", _wire.encode(value, objects.handle)]
    except BaseException as exc:
        return [seq, *_error(exc)]
    finally:
        _flush()
