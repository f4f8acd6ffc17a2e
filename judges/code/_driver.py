"""The test driver of a tests job: runs the trusted tests and writes the verdict records
(stdlib only; runs inside the sandbox, see ``_harness``).

It never runs a line of program code. The program lives in another process (``_program``);
the driver reaches it only through two pipes and reads its answers as plain data
(``_wire``). What a test sees of the program:

* plain data (``bool``/``int``/``float``/``str``/``bytes``/containers of them, numpy arrays
  and scalars of non-object dtypes) and the standard library's value types (``_values``:
  OrderedDict, Counter, namedtuple, dataclass, enum, Fraction, Decimal, range, ...): exact
  copies rebuilt as the standard types, compared by the driver's own code;
* iterators and generators: pulled item by item as the test iterates them;
* every other object (functions, classes, instances): a :class:`ProgramObject` handle. Tests
  may call it and read its attributes (each answer is again data or a handle); every operator
  (comparison, arithmetic, hashing, ``len``, ``iter``, ``bool``, indexing, ``format``...)
  raises :class:`UntrustedComparison` instead of asking the program;
* modules: the driver's own copy of the module of that name (never the program's);
* exceptions: a fresh instance of the nearest builtin exception class, message kept
  (``RuntimeError`` for ``StopIteration``, as in a generator); ``SystemExit``,
  ``KeyboardInterrupt`` and ``GeneratorExit`` fail the test whatever it catches; so do the
  program process ending in a call (``os._exit``, a kill: :class:`ProgramGone`) and the
  driver's own refusals (:class:`UntrustedComparison`, ``ValueRefused``): they are not the
  program's exceptions, so a test's ``except`` clause does not turn them into its answer.

Names: a test sees the driver's builtins, the driver's own modules, the task's helpers (trusted
source run here) and, from the program, only the names the task requires it to define.

Arguments travel the other way as data, by value: the program works on copies, so it cannot
change what the test holds while it computes a result. A call that returns ``None`` (a
procedure, such as an in-place sort) has its changes to its arguments copied back into the
test's objects. A test's callables (``key=len``, a lambda) are passed as references and run
here when the program calls them. The driver's memory, modules and result
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

import _copyback
import _program
import _wire

MAX_REPLY = 256 << 20
# Exceptions that steer control flow rather than report an error: raised from a program call
# inside ``map``/``filter``/``iter`` a StopIteration would silently end a test's loop early.
_CONTROL = ("StopIteration", "StopAsyncIteration", "GeneratorExit", "KeyboardInterrupt",
            "SystemExit")
_BUILTIN_EXCS = {k: v for k, v in _program._BUILTIN_EXCS.items() if k not in _CONTROL}


UntrustedComparison = _wire.UntrustedComparison
_EXITS = ("SystemExit", "KeyboardInterrupt", "GeneratorExit")


class ProgramExit(BaseException):
    """The program raised a control-flow exception (``SystemExit``...): the test fails, and
    no ``except`` clause of the test decides otherwise."""


class ProgramGone(BaseException):
    """The program process exited, was killed or broke the call protocol: as with
    ``ProgramExit``, the test fails whatever it catches (it is not the program's exception;
    ``os._exit`` in plain Python ends the test run)."""


class Connection:
    """The driver's end of the pipes to the program process."""

    def __init__(self, pid: int, call_fd: int, reply_fd: int) -> None:
        self.pid, self.call_fd, self.reply_fd = pid, call_fd, reply_fd
        self.seq, self.broken, self.status = 0, None, None
        self.last_error = (None, "", "")  # (exception raised for the program, class, traceback)
        self.exited: tuple[str, str] | None = None  # a control-flow exception in this test
        self.refused: str | None = None  # the driver refused a program value in this test
        self.callables: list = []  # the test's callables the program may call

    def request(self, op: str, *payload):
        if self.broken:
            raise ProgramGone(self.broken)
        self.seq += 1
        seq = self.seq
        try:
            _program.send(self.call_fd, [seq, op, *payload])
            reply = self.receive()
            while type(reply) is list and len(reply) == 5 and reply[:2] == [seq, "cb"]:
                self._run_callable(seq, reply[2:])
                reply = self.receive()
        except (OSError, EOFError, _wire.WireError, ValueError, TypeError) as exc:
            raise ProgramGone(self._break(exc)) from None
        if type(reply) is not list or len(reply) < 2 or reply[0] != seq:
            raise ProgramGone(self._break(_wire.WireError("reply out of sequence")))
        return reply

    def _run_callable(self, seq: int, call: list) -> None:
        """The program calls a test's callable: run it here, send back its result."""
        index, args, kwargs = call
        if type(index) is not int or not 0 <= index < len(self.callables):
            raise _wire.WireError("unknown test callable")
        args, kwargs = self.value(args), self.value(kwargs)
        if type(args) is not list or type(kwargs) is not dict or not all(
                type(k) is str for k in kwargs):
            raise _wire.WireError("malformed callable arguments")
        try:
            reply = [seq, "cbret", self.node(self.callables[index](*args, **kwargs))]
        except Exception as exc:
            name = type(exc).__name__
            reply = [seq, "cberr", name if name in _BUILTIN_EXCS or name == "StopIteration"
                     else "RuntimeError", str(exc)[:_program.MAX_FIELD]]
        _program.send(self.call_fd, reply)

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
            return _wire.decode(node, self.handle, iterator=self.iterator,
                                callback=self.callable, builtin=_builtin_type)
        except (UntrustedComparison, _wire.ValueRefused) as exc:
            self.refused = str(exc)
            raise
        except Exception as exc:
            raise ProgramGone(self._break(_wire.WireError(f"bad value: {exc}"))) from None

    def iterator(self, index: int, type_name: str) -> ProgramIterator:
        it = object.__new__(ProgramIterator)
        it._index, it._type_name, it._conn = index, type_name[:100], self
        return it

    def callable(self, index: int):
        if not 0 <= index < len(self.callables):
            raise _wire.WireError("unknown test callable")
        return self.callables[index]

    def handle(self, index: int, type_name: str) -> ProgramObject:
        obj = object.__new__(ProgramObject)
        object.__setattr__(obj, "_index", index)
        object.__setattr__(obj, "_type_name", type_name[:100])
        object.__setattr__(obj, "_conn", self)
        return obj

    def node(self, x):
        return _wire.encode(x, self._handle_node, owner=False)

    def _handle_node(self, x):
        if type(x) is ProgramObject or type(x) is ProgramIterator:
            return ["h", object.__getattribute__(x, "_index"), ""]
        if _wire._is_iterator(x):  # a generator the test passes: the program pulls from it
            self.callables.append(x.__next__)
            return ["ti", len(self.callables) - 1]
        if callable(x):
            self.callables.append(x)
            return ["cb", len(self.callables) - 1]
        return _wire._other(x, None)

    def answer(self, reply, args=None, kwargs=None):
        if reply[1] == "ok" and len(reply) == 4 and args is not None:
            if type(reply[3]) is not list or len(reply[3]) != 2:
                raise ProgramGone(self._break(_wire.WireError("malformed reply")))
            value = self.value(reply[2])
            if value is None:  # the rule is the driver's: only a procedure's changes count
                _copyback.copy_back(args, kwargs, self.value(reply[3][0]),
                                    self.value(reply[3][1]))
            return value
        if reply[1] == "ok" and len(reply) == 3:
            return self.value(reply[2])
        if reply[1] == "err" and len(reply) == 6 and reply[2] in _EXITS and all(
                type(f) is str for f in reply[3:]):
            self.exited = (reply[4][:200] or reply[2], reply[3])
            self.last_error = (None, "", reply[5][-_program.MAX_TB:])
            raise ProgramExit(f"the program raised {reply[2]}")
        if reply[1] == "err" and len(reply) == 6 and all(type(f) is str for f in reply[2:]):
            base = _BUILTIN_EXCS.get(reply[2], RuntimeError)
            try:
                exc = base(reply[3])
            except Exception:
                exc = RuntimeError(reply[3])
            self.last_error = (exc, reply[4][:200], reply[5][-_program.MAX_TB:])
            raise exc
        raise ProgramGone(self._break(_wire.WireError("malformed reply")))


def _builtin_type(name: str) -> type:
    value = vars(builtins).get(name)
    if not isinstance(value, type):
        raise _wire.WireError("not a builtin type")
    return value


def _refuse(op):
    def refused(self, *args):
        msg = (f"refused {op!r} on a {object.__getattribute__(self, '_type_name')} object: its "
               "behaviour is controlled by the program; tests see program results as plain data")
        object.__getattribute__(self, "_conn").refused = msg
        raise UntrustedComparison(msg)
    refused.__name__ = op
    return refused


class ProgramObject:
    """A test's handle on an object that lives in the program process."""

    __slots__ = ("_index", "_type_name", "_conn")

    @staticmethod
    def _wire_index(obj) -> int:
        return object.__getattribute__(obj, "_index")

    def __call__(self, *args, **kwargs):
        conn = object.__getattribute__(self, "_conn")
        index = object.__getattribute__(self, "_index")
        node_args = conn.node(list(args))
        node_kwargs = conn.node(dict(kwargs))
        return conn.answer(conn.request("call", index, node_args, node_kwargs), args, kwargs)

    def __instancecheck__(self, instance) -> bool:
        """``isinstance(value, ProgramClass)``: the program checks its own copy of the value."""
        conn = object.__getattribute__(self, "_conn")
        try:
            node = conn.node(instance)
        except TypeError:  # a test's own object is never an instance of a program class
            return False
        return conn.answer(conn.request(
            "isinstance", object.__getattribute__(self, "_index"), node)) is True

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        conn = object.__getattribute__(self, "_conn")
        index = object.__getattribute__(self, "_index")
        return conn.answer(conn.request("getattr", index, name))

    def __setattr__(self, name, value):
        msg = "tests cannot set attributes of program objects"
        object.__getattribute__(self, "_conn").refused = msg
        raise UntrustedComparison(msg)

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


class ProgramIterator:
    """A test's handle on an iterator (a generator, say) in the program process: iterating it
    pulls the program's items one by one, as data; nothing else is asked of the program."""

    __slots__ = ("_index", "_type_name", "_conn")

    def __iter__(self):
        return self

    def __next__(self):
        reply = self._conn.request("next", self._index)
        if reply[1] == "end" and len(reply) == 2:
            raise StopIteration
        return self._conn.answer(reply)

    def __repr__(self):
        return f"<program iterator of type {self._type_name}>"


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


def _module(name: str):
    """The driver's own copy of a module (never the program's), or ``None``."""
    module = sys.modules.get(name)
    if module is None:
        try:
            module = __import__(name, fromlist=["_"])
        except BaseException:
            return None
    return module


def _names(manifest, modules, conn: Connection) -> dict:
    """A fresh namespace for one test: the driver's modules the test uses, then the names the
    program was required to define (a module there is again the driver's own)."""
    ns = {}
    for name in modules:
        module = _module(name)
        if module is not None:
            ns[name] = module
    for name, node in manifest:
        if type(node) is list and node[:1] == ["m"] and len(node) == 2:
            module = _module(node[1]) if type(node[1]) is str else None
            if module is not None:
                ns[name] = module
        else:
            ns[name] = conn.value(node)
    return ns


def run_tests(conn: Connection, source: str, tests: list, emit, contract: dict) -> None:
    """Send the program, then run each test; ``emit(*fields)`` writes one record.

    ``contract``: ``names`` the program must define (the only ones a test gets from it),
    ``modules`` (stdlib modules the tests use by name), ``helpers`` (the task's trusted helper
    code, run in each test's namespace) and ``helpers_source`` (the same, for the program's own
    calls)."""
    names = [n for n in contract.get("names", ()) if type(n) is str]
    try:
        _program.send(conn.call_fd, [0, "program", source, contract.get("helpers_source", ""),
                                     names])
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
    manifest = [m for m in first[2] if type(m) is list and len(m) == 2 and m[0] in names]
    helpers = contract.get("helpers")
    test_builtins = dict(vars(builtins))
    for i, code in enumerate(tests):
        t0 = time.perf_counter()
        conn.exited, conn.refused, gone = None, None, conn.broken
        try:
            ns = _names(manifest, contract.get("modules", ()), conn)
            ns.update({"__builtins__": test_builtins, "__name__": "__test__"})
            if helpers is not None:
                exec(helpers, ns)
            exec(code, ns)
            info = ("", "", "", "")
            ok = True
        except BaseException as exc:
            info = _describe(exc, conn, code.co_filename)
            ok = False
        if ok and conn.broken is not None and gone is None:  # whatever the test caught
            ok, info = False, ("ProgramGone", conn.broken[:_program.MAX_FIELD], "", "")
        if ok and conn.refused is not None:  # a refusal is the driver's, not an answer
            ok, info = False, ("UntrustedComparison", conn.refused[:_program.MAX_FIELD], "", "")
        if conn.exited is not None:  # whatever the test caught
            ok, (name, msg) = False, conn.exited
            info = (name, f"the program raised {name} ({msg}): a control-flow exception ends "
                    "the test and cannot be caught as an ordinary error"[:_program.MAX_FIELD],
                    info[2], conn.last_error[2])
        emit("T", str(i), "1" if ok else "0", str(round(time.perf_counter() - t0, 6)), *info)


def usage() -> tuple[str, str]:
    """(cpu seconds, max RSS in KiB) of the driver and the (reaped) program process."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    return str(round(cpu, 6)), str(max(me.ru_maxrss, kids.ru_maxrss))
