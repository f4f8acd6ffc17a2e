"""The test driver of a tests job: runs the trusted tests and writes the verdict records
(stdlib only; runs inside the sandbox, see ``_harness``).

It never runs a line of program code. The program lives in another process (``_program``);
the driver reaches it only through two pipes and reads its answers as plain data
(``_wire``). What a test sees of the program:

* plain data (``bool``/``int``/``float``/``str``/``bytes``/containers of them, numpy arrays
  and scalars of non-object dtypes): exact builtin copies, compared by the driver's own code;
* every other object (functions, classes, instances): a :class:`ProgramObject` handle. Tests
  may call it and read its attributes (each answer is again data or a handle); every operator
  (comparison, arithmetic, hashing, ``len``, ``iter``, ``bool``, indexing, ``format``...)
  raises :class:`UntrustedComparison` instead of asking the program;
* modules: the driver's own copy of the module of that name (never the program's);
* exceptions: a fresh instance of the nearest builtin exception class, message kept
  (``RuntimeError`` for control-flow ones such as ``StopIteration`` or ``SystemExit``).

Arguments travel the other way as data, by value: the program works on copies, so it cannot
change what the test holds (a test's expected value computed from its own inputs, say). The driver's memory, modules and result
descriptor are out of the program's reach by construction: separate process, the result pipe
never opened in the program process, the driver non-dumpable (no ``ptrace``,
``/proc/<pid>/mem`` or ``/proc/<pid>/fd`` access for a process without ``CAP_SYS_PTRACE``).
"""

from __future__ import annotations

import builtins
import os
import resource
import signal
import sys
import time

import _program
import _wire

MAX_REPLY = 256 << 20
# Exceptions that steer control flow rather than report an error: raised from a program call
# inside ``map``/``filter``/``iter`` a StopIteration would silently end a test's loop early.
_CONTROL = ("StopIteration", "StopAsyncIteration", "GeneratorExit", "KeyboardInterrupt",
            "SystemExit")
_BUILTIN_EXCS = {k: v for k, v in _program._BUILTIN_EXCS.items() if k not in _CONTROL}


class UntrustedComparison(TypeError):
    """A test applied an operator to an object whose behaviour the program controls."""


class ProgramGone(RuntimeError):
    """The program process exited, was killed or broke the call protocol."""


class Connection:
    """The driver's end of the pipes to the program process."""

    def __init__(self, pid: int, call_fd: int, reply_fd: int) -> None:
        self.pid, self.call_fd, self.reply_fd = pid, call_fd, reply_fd
        self.seq, self.broken, self.status = 0, None, None
        self.last_error = (None, "", "")  # (exception raised for the program, class, traceback)

    def request(self, op: str, *payload):
        if self.broken:
            raise ProgramGone(self.broken)
        self.seq += 1
        try:
            _program.send(self.call_fd, [self.seq, op, *payload])
            reply = self.receive()
        except (OSError, EOFError, _wire.WireError, ValueError, TypeError) as exc:
            raise ProgramGone(self._break(exc)) from None
        if type(reply) is not list or len(reply) < 2 or reply[0] != self.seq:
            raise ProgramGone(self._break(_wire.WireError("reply out of sequence")))
        return reply

    def receive(self):
        header = _program._read(self.reply_fd, 8)
        n = int.from_bytes(header, "big")
        if n > MAX_REPLY:
            raise _wire.WireError("reply too large")
        return _wire.loads(_program._read(self.reply_fd, n))

    def _break(self, exc: BaseException) -> str:
        if isinstance(exc, EOFError | OSError):
            self.broken = f"the program process {self.ended()} during a call"
        else:
            self.broken = f"the program process broke the call protocol ({exc})"
            self.kill()
        return self.broken

    def ended(self) -> str:
        """How the program process ended (waits for it; it has closed its pipe)."""
        if self.status is None:
            try:
                _, status = os.waitpid(self.pid, 0)
                self.status = status
            except ChildProcessError:
                return "ended"
        if os.WIFSIGNALED(self.status):
            return f"was killed by signal {os.WTERMSIG(self.status)}"
        return f"exited with code {os.waitstatus_to_exitcode(self.status)}"

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass

    def value(self, node):
        try:
            return _wire.decode(node, self.handle)
        except Exception as exc:
            raise ProgramGone(self._break(_wire.WireError(f"bad value: {exc}"))) from None

    def handle(self, index: int, type_name: str) -> ProgramObject:
        obj = object.__new__(ProgramObject)
        object.__setattr__(obj, "_index", index)
        object.__setattr__(obj, "_type_name", type_name[:100])
        object.__setattr__(obj, "_conn", self)
        return obj

    def node(self, x):
        return _wire.encode(x, _handle_node)

    def answer(self, reply):
        if reply[1] == "ok" and len(reply) == 3:
            return self.value(reply[2])
        if reply[1] == "err" and len(reply) == 6 and all(type(f) is str for f in reply[2:]):
            base = _BUILTIN_EXCS.get(reply[2], RuntimeError)
            try:
                exc = base(reply[3])
            except Exception:
                exc = RuntimeError(reply[3])
            self.last_error = (exc, reply[4][:200], reply[5][-_program.MAX_TB:])
            raise exc
        raise ProgramGone(self._break(_wire.WireError("malformed reply")))


def _handle_node(x):
    if type(x) is ProgramObject:
        return ["h", object.__getattribute__(x, "_index"), ""]
    return _wire._other(x, None)


def _refuse(op):
    def refused(self, *args):
        raise UntrustedComparison(
            f"refused {op!r} on a {object.__getattribute__(self, '_type_name')} object: its "
            "behaviour is controlled by the program; tests see program results as plain data")
    refused.__name__ = op
    return refused


class ProgramObject:
    """A test's handle on an object that lives in the program process."""

    __slots__ = ("_index", "_type_name", "_conn")

    def __call__(self, *args, **kwargs):
        conn = object.__getattribute__(self, "_conn")
        index = object.__getattribute__(self, "_index")
        node_args = conn.node(list(args))
        node_kwargs = conn.node(dict(kwargs))
        return conn.answer(conn.request("call", index, node_args, node_kwargs))

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        conn = object.__getattribute__(self, "_conn")
        index = object.__getattribute__(self, "_index")
        return conn.answer(conn.request("getattr", index, name))

    def __setattr__(self, name, value):
        raise UntrustedComparison("tests cannot set attributes of program objects")

    __delattr__ = __setattr__

    def __repr__(self):
        return f"<program object of type {object.__getattribute__(self, '_type_name')}>"

    __str__ = __repr__


for _op in ("eq ne lt le gt ge bool hash len iter next reversed contains getitem setitem delitem "
            "missing add radd iadd sub rsub isub mul rmul imul matmul rmatmul imatmul truediv "
            "rtruediv itruediv floordiv rfloordiv ifloordiv mod rmod imod divmod rdivmod pow rpow "
            "ipow lshift rlshift ilshift rshift rrshift irshift and rand iand or ror ior xor rxor "
            "ixor neg pos abs invert round trunc floor ceil index int float complex bytes format "
            "enter exit aenter aexit await aiter anext length_hint buffer").split():
    setattr(ProgramObject, f"__{_op}__", _refuse(f"__{_op}__"))


def _describe(exc: BaseException, conn: Connection, filename: str) -> tuple[str, str, str, str]:
    """(type name, message, failing test line, program traceback) of a failed test."""
    from_program = exc is conn.last_error[0]
    name = conn.last_error[1] if from_program else type(exc).__name__
    try:
        msg = str(exc)
    except BaseException:
        msg = "<unprintable exception>"
    line, tb = "", exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = str(tb.tb_lineno)
        tb = tb.tb_next
    return name, msg[:_program.MAX_FIELD], line, conn.last_error[2] if from_program else ""


def _names(manifest, conn: Connection) -> dict:
    """A fresh namespace of the program's public names for one test."""
    ns = {}
    for name, node in manifest:
        if type(node) is list and node[:1] == ["m"] and len(node) == 2:
            module = sys.modules.get(node[1])
            if module is None:
                try:
                    module = __import__(node[1], fromlist=["_"])
                except BaseException:
                    continue
            ns[name] = module
        else:
            ns[name] = conn.value(node)
    return ns


def run_tests(conn: Connection, source: str, tests: list, emit) -> None:
    """Send the program, then run each test; ``emit(*fields)`` writes one record."""
    try:
        _program.send(conn.call_fd, [0, "program", source])
        first = conn.receive()
    except (OSError, EOFError, _wire.WireError) as exc:
        why = conn.ended() if isinstance(exc, EOFError | OSError) else f"sent {exc}"
        emit("N", f"the program process {why} before the tests ran")
        return
    if type(first) is list and first[:2] == [0, "error"] and len(first) == 7:
        kind, etype, msg, line, tb = first[2:]
        emit("E", str(kind), str(etype), str(msg)[:_program.MAX_FIELD],
             str(line) if type(line) is int else "", str(tb)[-_program.MAX_TB:])
        return
    if type(first) is not list or first[:2] != [0, "ready"] or len(first) != 3 \
            or type(first[2]) is not list:
        emit("N", "the program process broke the call protocol before the tests ran")
        return
    emit("P")
    manifest = [m for m in first[2] if type(m) is list and len(m) == 2 and type(m[0]) is str]
    test_builtins = dict(vars(builtins))
    for i, code in enumerate(tests):
        t0 = time.perf_counter()
        try:
            ns = _names(manifest, conn)
            ns.update({"__builtins__": test_builtins, "__name__": "__test__"})
            exec(code, ns)
            info = ("", "", "", "")
            ok = True
        except BaseException as exc:
            info = _describe(exc, conn, code.co_filename)
            ok = False
        emit("T", str(i), "1" if ok else "0", str(round(time.perf_counter() - t0, 6)), *info)


def usage() -> tuple[str, str]:
    """(cpu seconds, max RSS in KiB) of the driver and the (reaped) program process."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    return str(round(cpu, 6)), str(max(me.ru_maxrss, kids.ru_maxrss))
