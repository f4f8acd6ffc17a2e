"""In-sandbox harness: runs one job inside the sandboxed process (stdlib only, no package imports).

Imported by the zygote (``_zygote.py``) before any job exists; every job is a fork of the zygote
that calls :func:`run_job` once the operating-system sandbox is in place (privileges dropped,
capabilities gone, seccomp filter installed: ``_seccomp``).

``script`` jobs (``run_python``) run the program as ``__main__``; the exit status and output
are the result.

``tests`` jobs (``run_tests``) use two processes, split before the job's payload is read:

* the **program process** (``_program``) receives only the program's source, runs it and
  answers calls into it; it never holds the result descriptor, the nonce or the tests;
* the **test driver** (``_driver``, this process) runs the trusted tests, sees the program only
  as plain data and handles, and alone writes the verdict records to the result pipe.

The boundary is the kernel's: separate address spaces, a descriptor that exists only in the
driver, and a non-dumpable driver that a process without ``CAP_SYS_PTRACE`` cannot trace, read
or write (``ptrace``, ``process_vm_*``, ``pidfd_getfd`` are also denied by seccomp). Whatever
the program does - any syscall its limits allow, any thread, any descriptor trick, patched
modules, objects with lying operators - it can only send the driver wrong data or none, and
both fail its tests. A program that dies or breaks the protocol fails the remaining tests at
once (no waiting for the timeout). Records carry the run's nonce as a second check.
"""

from __future__ import annotations

import builtins
import linecache
import marshal
import os
import signal
import sys
import traceback
import types

import _driver
import _program
import _seccomp

PR_SET_PDEATHSIG = 1
"x".encode("unicode_escape")  # load the codec now: the setuid mode may not read the stdlib later


def _read_job(fd):
    """The job payload: an 8-byte big-endian length, then that many bytes of ``marshal``."""
    return _program._read(fd, int.from_bytes(_program._read(fd, 8), "big"))


def _flush():
    for s in (sys.__stdout__, sys.__stderr__):
        try:
            if s is not None:
                s.flush()
        except BaseException:
            pass


def run_job(in_fd: int, res_fd: int) -> None:
    """Read the job from ``in_fd`` and run it; never returns (ends with ``os._exit``)."""
    call_r, call_w = os.pipe()
    reply_r, reply_w = os.pipe()
    driver = os.getpid()
    pid = os.fork()
    if pid == 0:  # the program process: nothing of the job but what the driver sends it
        try:
            _seccomp.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            for fd in (in_fd, res_fd, call_w, reply_r):
                os.close(fd)
            os.setpgid(0, 0)  # its own process group: kill(0, ...) cannot reach the driver
            _seccomp.spare(driver)
            for name in ("_harness", "_driver", "_copyback", "_jail", "_zygote", "_seccomp"):
                sys.modules.pop(name, None)
        except BaseException:
            os._exit(125)
        _program.serve(call_r, reply_w)
        os._exit(0)
    os.close(call_r)
    os.close(reply_w)
    conn = _driver.Connection(pid, call_w, reply_r)
    try:
        job = marshal.loads(_read_job(in_fd))
    except BaseException:
        conn.kill()
        os._exit(125)
    os.close(in_fd)
    if job["mode"] == "script":
        conn.kill()
        os.waitpid(pid, 0)
        os.close(res_fd)
        _run_script(job)
    if "" in sys.path:
        sys.path.remove("")  # the driver imports nothing the program could have written
    nonce = job["nonce"]

    def emit(*fields):
        body = "\t".join(f.encode("unicode_escape").decode("ascii") for f in fields)
        body = body.encode("ascii")[:3900]
        os.write(res_fd, nonce + len(body).to_bytes(4, "big") + body)

    tests = [marshal.loads(blob) for blob in job["tests"]]
    contract = dict(job.get("contract") or {})
    if contract.get("helpers") is not None:
        contract["helpers"] = marshal.loads(contract["helpers"])
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4000))  # deep values in tests' code
    _driver.run_tests(conn, job["source"], tests, emit, contract)
    conn.kill()
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    _flush()
    emit("D", *_driver.usage())
    os._exit(0)


def _run_script(job) -> None:
    sys.argv[:] = list(job.get("argv") or ["<program>"])
    if job.get("stdin"):
        fd = os.memfd_create("stdin")
        os.write(fd, job["stdin"])
        os.lseek(fd, 0, 0)
        os.dup2(fd, 0)
        os.close(fd)
    source = job["source"]
    for name in ("_harness", "_driver", "_copyback", "_program", "_wire", "_values", "_jail",
                 "_zygote", "_seccomp"):
        sys.modules.pop(name, None)
    main = types.ModuleType("__main__")
    linecache.cache["<program>"] = (len(source), None, source.splitlines(True), "<program>")
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
