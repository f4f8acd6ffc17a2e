"""In-sandbox harness: runs one job inside the sandboxed process (stdlib only, no package imports).

Imported by the zygote (``_zygote.py``) before any job exists; every job is a fork of the zygote
that calls :func:`run_job` once the operating-system sandbox is in place.

``script`` jobs (``run_python``) run the program as ``__main__`` on the main thread; the exit
status and output are the result.

``tests`` jobs (``run_tests``) run the program, then each test after it. The parent decides the
verdict from *records* written here to a private pipe. Integrity design:

* **Records carry a per-run nonce** read (and its pipe closed) before any untrusted code runs.
  Printed text, exit codes and forged records cannot add passes; the parent rejects records
  without the nonce, out of order, or after the final ``D`` record.
* **Threads.** The *main* thread (P) runs the program's top level and then serves every call a
  test makes into a program callable (tests see proxies). The *monitor* thread (M) holds the
  nonce, writes records and never calls program code. Each test runs on a fresh *test* thread
  (Tt) with its own private copies of the helpers and builtins. Walking ``f_back`` from program
  code only meets P's frames. Exceptions raised by program callables reach the test as fresh
  instances of their nearest builtin exception class (message kept), so program-held exception
  objects never carry test frames in their tracebacks.
* **An audit hook** (cannot be removed) kills the run (exit ``VIOLATION_EXIT``, record ``V``) on
  ``gc`` object/referrer introspection, ``sys._current_frames``/``_current_exceptions``,
  ``sys.settrace``/``setprofile``, adding audit hooks, creating code objects, ctypes foreign calls
  and raw memory reads, and - on M and the running Tt - on anything that yields a frame
  (``sys._getframe``, ``tb_frame``, ``gi_frame``, ``f_code``...). Program code that ends up on
  those threads (finalizers, methods of returned objects) therefore cannot reach their state.
* **A test passes only if ``exec`` of the test returned normally**: the test runs inside a
  generator that only reaches its single ``yield`` after that; M holds the generator object and
  reads ``gi_suspended`` once the thread is done. Exceptions, ``sys.exit``, ``os._exit`` and
  hangs all leave it elsewhere, and no code on the test thread can reach the generator object.
* **Tests see a private snapshot of the builtins** (taken when the zygote started, copied per
  test) and private copies of C-level modules; comparisons are strict (see ``_strict``).

Not guaranteed: a program that corrupts interpreter memory (crafted bytecode via ``marshal``, a
CPython bug) can forge its own records (it still cannot leave the OS sandbox). Also trusted to
the program: arithmetic and methods of returned non-plain objects (``abs(obj - x) < eps``),
Python-level stdlib modules it monkeypatches, objects it puts into arguments it mutates in place,
and the globals of test-defined callables or generators that a test hands to program code.
"""

from __future__ import annotations

import _thread
import builtins
import linecache
import marshal
import os
import resource
import sys
import time
import traceback
import types

import _strict
from _strict import type_name
from _testthread import (
    BUILTIN_EXCS,
    MAX_FIELD,
    MAX_TB,
    P_LINE_OFFSET,
    PRISTINE,
    bind_placeholders,
    group,
    public,
    test_group,
)

VIOLATION_EXIT = 86
HOOK_FAILED_EXIT = 87
"x".encode("unicode_escape")  # load the codec now: M must not import anything later

# Pre-bound callables: attribute lookups on shared (patchable) modules happen here, at import.
_get_ident = _thread.get_ident
_allocate_lock = _thread.allocate_lock
_start_thread = _thread.start_new_thread
_perf = time.perf_counter
_write = os.write
_os_exit = os._exit
_getrusage = resource.getrusage
_RUSAGE_SELF = resource.RUSAGE_SELF
_format_exception = traceback.format_exception
_type = type
_len = len
_str = str
_mro_of = type.__dict__["__mro__"].__get__
_BUILTIN_EXCS = BUILTIN_EXCS


# ---------------------------------------------------------------------------------------------
# Program side (P, the main thread). Program code can reach these frames; they hold nothing but
# P's own state, so tampering with them only changes the program's own answers.


def _format_tb(exc):
    """The program-side traceback, starting at the first frame of the program."""
    try:
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "<program>":
            tb = tb.tb_next
        return "".join(_format_exception(_type(exc), exc, tb))[-MAX_TB:]
    except BaseException:
        return ""


def _exception_info(exc):
    """(nearest builtin exception class, message, class name) for re-raising on a test thread."""
    base = RuntimeError
    try:
        for klass in _mro_of(_type(exc)):
            if any(klass is b for b in _BUILTIN_EXCS):
                base = klass
                break
        msg = _str(exc)
    except BaseException:
        msg = ""
    return (base, msg if _type(msg) is str else "", type_name(exc))


def _program_main(source, g, pstate, p_ready, chan):
    try:
        code = compile(source, "<program>", "exec", dont_inherit=True)
    except BaseException as exc:
        lineno = getattr(exc, "lineno", None)
        pstate[:] = ["syntax", type_name(exc), _str(getattr(exc, "msg", exc))[:MAX_FIELD],
                     _str(lineno) if _type(lineno) is int else "", ""]
        p_ready.release()
        code = None
    if code is not None:
        try:
            exec(code, g)
            pstate[0] = "ok"
        except BaseException as exc:
            pstate[:] = ["error", type_name(exc), _str(exc)[:MAX_FIELD], "", _format_tb(exc)]
        exc = code = None
        p_ready.release()
    while True:  # serve the calls tests make into program callables
        chan[6].acquire()
        fn, args, kwargs = chan[0], chan[1], chan[2]
        chan[0] = chan[1] = chan[2] = None
        try:
            value = fn(*args, **kwargs)
            chan[3], chan[4], chan[5] = True, value, ""
        except BaseException as exc:
            chan[3], chan[4], chan[5] = False, _exception_info(exc), _format_tb(exc)
        fn = args = kwargs = value = None
        chan[7].release()


# ---------------------------------------------------------------------------------------------
# Monitor side (M): holds the nonce, never calls program code. Its globals are created per job
# and referenced only from M's own (protected) thread.


def _monitor(nonce, res_fd, tests, g, state, pstate, p_ready, chan):
    write, perf, lock, start, ftype = _write, _perf, _allocate_lock, _start_thread, _type

    def emit(*fields):
        body = "\t".join([(f if ftype(f) is str else "").encode("unicode_escape").decode("ascii")
                          for f in fields]).encode("ascii")[:3900]
        write(res_fd, nonce + _len(body).to_bytes(4, "big") + body)

    state[0] = _get_ident()
    p_ready.acquire()
    fields = [f if ftype(f) is str else "" for f in pstate]
    if fields[0] != "ok":
        emit("E", fields[0] or "error", *fields[1:])
        tests = []
    else:
        emit("P")
    keep = []  # suspended test generators: never released, so never finalized on M
    for i in range(_len(tests)):
        code, runner, drive = tests[i]
        owner, done = [0, "", "", None, None], lock()
        done.acquire()

        def arm(owner=owner):
            owner[0] = state[1] = _get_ident()  # frame access on this thread now kills the run

        gen = runner(code, g, chan, owner, arm)
        t0 = perf()
        try:
            start(drive, (gen, done))
        except BaseException:
            emit("T", _str(i), "0", "0", "RuntimeError", "could not start a test thread", "", "")
            continue
        done.acquire()
        dt = perf() - t0
        passed = gen.gi_suspended is True
        keep.append(gen)
        state[1] = 0
        info = owner[4] if ftype(owner[4]) is tuple and _len(owner[4]) == 4 else ("", "", "", "")
        owner[4] = None
        emit("T", _str(i), "1" if passed else "0", _str(round(dt, 6)),
             *[f if ftype(f) is str else "" for f in info])
    _flush()  # before the final record: nothing the program does after it can matter
    usage = _getrusage(_RUSAGE_SELF)
    emit("D", _str(round(usage.ru_utime + usage.ru_stime, 6)), _str(usage.ru_maxrss))
    _os_exit(0)


def _make_hook(state, res_fd, nonce):
    """Audit hook that kills the run on integrity-relevant events (see the module docstring).

    It never raises (a traceback would expose its frame) and calls only C functions.
    """
    always = frozenset({
        "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames",
        "sys._current_exceptions", "sys.settrace", "sys.setprofile", "sys.addaudithook",
        "code.__new__", "ctypes.call_function", "ctypes.cdata", "ctypes.string_at",
        "ctypes.wstring_at", "ctypes.dlsym", "ctypes.dlsym/handle",
    })
    frame_attrs = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code"})
    watched = always | {"sys._getframe", "object.__getattr__"}
    write, die, ident, ftype, flen = _write, _os_exit, _get_ident, _type, _len

    def hook(event, args):
        try:
            if event not in watched:
                return
            if event not in always:
                if event != "sys._getframe":
                    name = args[1] if ftype(args) is tuple and flen(args) > 1 else None
                    if ftype(name) is not str or name not in frame_attrs:
                        return
                me = ident()
                if me != state[0] and me != state[1]:
                    return
            body = ("V\t" + event).encode("ascii", "replace")
            write(res_fd, nonce + flen(body).to_bytes(4, "big") + body)
            die(VIOLATION_EXIT)
        except BaseException:
            die(HOOK_FAILED_EXIT)

    return hook


# ---------------------------------------------------------------------------------------------
# Entry points (main thread, trusted phase until the program starts)


def _read_job(fd):
    """The job payload: an 8-byte big-endian length, then that many bytes of ``marshal``."""
    chunks, header = [], b""
    while len(header) < 8:
        b = os.read(fd, 8 - len(header))
        if not b:
            raise EOFError("job input ended early")
        header += b
    need = int.from_bytes(header, "big")
    while need:
        b = os.read(fd, min(need, 1 << 20))
        if not b:
            raise EOFError("job input ended early")
        chunks.append(b)
        need -= len(b)
    return b"".join(chunks)


def _flush():
    for s in (sys.__stdout__, sys.__stderr__):
        try:
            if s is not None:
                type(s).flush(s)
        except BaseException:
            pass


def run_job(in_fd: int, res_fd: int) -> None:
    """Read the job from ``in_fd`` and run it; never returns (ends with ``os._exit``)."""
    box = [marshal.loads(_read_job(in_fd))]
    os.close(in_fd)
    for name in ("_harness", "_strict", "_testthread", "_jail", "_zygote"):
        sys.modules.pop(name, None)
    job = box[0]
    sys.argv[:] = list(job.get("argv") or ["<program>"])
    if job.get("stdin"):
        fd = os.memfd_create("stdin")
        os.write(fd, job["stdin"])
        os.lseek(fd, 0, 0)
        os.dup2(fd, 0)
        os.close(fd)
    source = job["source"]
    linecache.cache["<program>"] = (len(source), None, source.splitlines(True), "<program>")
    if job["mode"] == "script":
        os.close(res_fd)
        _run_script(source)
    del job  # the nonce must not stay in this frame, which program code can reach
    args = _prepare_tests(box, res_fd)
    _PROGRAM_MAIN(*args)


def _run_script(source: str) -> None:
    main = types.ModuleType("__main__")
    main.__dict__.update({"__builtins__": builtins, "__file__": "<program>"})
    sys.modules["__main__"] = main
    code = 0
    try:
        exec(compile(source, "<program>", "exec", dont_inherit=True), main.__dict__)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = (exc.code or 0) & 0xFF
        else:
            try:
                print(exc.code, file=sys.stderr)
            except BaseException:
                pass
            code = 1
    except BaseException as exc:
        try:
            traceback.print_exception(exc)
        except BaseException:
            pass
        code = 1
    _flush()
    os._exit(code)


def _prepare_tests(box, res_fd):
    """Trusted phase of a tests job: bind helpers, install the hook, start M.

    Returns only what the program thread needs; the nonce and the hook's state live on in the
    hook's closure and M's arguments, not in any frame the program can walk to.
    """
    job = box.pop()
    os.set_inheritable(res_fd, False)
    tests = []
    for blob in job["tests"]:
        tg = test_group()
        tests.append((bind_placeholders(marshal.loads(blob), tg), tg["_test_runner"], tg["_drive"]))
    solution = types.ModuleType("solution")
    solution.__dict__["__builtins__"] = builtins
    sys.modules["solution"] = sys.modules["__main__"] = solution
    g = solution.__dict__
    state = [0, 0]  # monitor ident, armed test-thread ident
    pstate, p_ready = ["", "", "", "", ""], _allocate_lock()
    p_ready.acquire()
    chan = [None, None, None, None, None, None, _allocate_lock(), _allocate_lock()]
    chan[6].acquire()
    chan[7].acquire()
    monitor = group(_MONITOR_VALUES, [_monitor], 0)["_monitor"]
    sys.addaudithook(_make_hook(state, res_fd, job["nonce"]))
    _start_thread(monitor, (job["nonce"], res_fd, tests, g, state, pstate, p_ready, chan))
    return job["source"], g, pstate, p_ready, chan


# ---------------------------------------------------------------------------------------------
# Private globals for the program-thread and monitor functions (see ``_testthread.group``).

_HERE = sys.modules[__name__]
_PG = group(
    {**public(_strict, ["_name_of", "_type"]),
     **public(_HERE, ["_format_exception", "_str", "_type", "_mro_of", "_BUILTIN_EXCS",
                      "MAX_FIELD", "MAX_TB"])},
    [_strict.type_name, _format_tb, _exception_info, _program_main], P_LINE_OFFSET)
_PROGRAM_MAIN = _PG["_program_main"]
_MONITOR_VALUES = {
    **public(_HERE, ["_write", "_perf", "_allocate_lock", "_start_thread", "_type", "_get_ident",
                     "_len", "_str", "_os_exit", "_getrusage", "_RUSAGE_SELF"]),
    "_flush": types.FunctionType(_flush.__code__, {"__builtins__": dict(PRISTINE), "sys": sys,
                                                   "type": type})}
