"""Red team, code verifier: forging the verdict channel (issue #13 items 1 and 5, and kin).

Each program here is wrong (``add`` returns 0 or the wrong value) and tries to be scored as
right by reaching whatever carries the test results. Every sandbox mode available here is
attacked; an attack that comes back ``passed`` (or with any test passed) is a failing test.
"""

from __future__ import annotations

import time

import pytest

from judges.code import SandboxUnavailable, run_tests, sandbox_info

ADD_TESTS = ["assert add(1, 2) == 3", "assert add(2, 5) == 7"]


def _modes() -> list[str]:
    import os

    wanted = ["namespaces", "setuid", "rlimits"] if os.geteuid() == 0 else ["userns", "rlimits"]
    found = []
    for mode in wanted:
        try:
            sandbox_info(mode)
            found.append(mode)
        except SandboxUnavailable:
            pass
    return found


MODES = _modes()
# In rlimits mode the program runs as the caller (root here) outside any namespace: attacks that
# reach other processes would hit the host, so they run only where the program is contained.
CONTAINED = [m for m in MODES if m != "rlimits"]


def refused(program: str, tests=ADD_TESTS, mode: str | None = None, timeout_s: float = 5.0):
    v = run_tests(program, tests, timeout_s=timeout_s, mode=mode)
    assert not v.passed, f"attack scored as right in mode {mode}: {v.reason}"
    assert not any(t["passed"] for t in v.details["tests"]), v.details["tests"]
    assert v.reason
    return v


# Item 1: dup the real result channel, dup2 a pipe over it, learn the nonce from the first
# record, write a forged "all passed" report to the real channel.
FORGE = """
import os, threading
N = {n}
def _forge(fd):
    r, w = os.pipe()
    try:
        real = os.dup(fd)
        os.dup2(w, fd)
    except OSError:
        return
    head = b""
    while len(head) < 20:
        chunk = os.read(r, 20 - len(head))
        if not chunk:
            return
        head += chunk
    nonce = head[:16]
    def rec(body):
        return nonce + len(body).to_bytes(4, "big") + body
    out = rec(b"P") + b"".join(rec(b"T\\t%d\\t1\\t0\\t\\t\\t\\t" % i) for i in range(N)) + rec(b"D")
    os.write(real, out)
    os._exit(0)
for _fd in {fds}:
    try:
        os.fstat(_fd)
    except OSError:
        continue
    threading.Thread(target=_forge, args=(_fd,), daemon=True).start()
def add(a, b):
    return 0
"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fds", [(4,), (3,), (5,), (6,), (7,)])
def test_result_channel_dup2_forgery(mode, fds):
    refused(FORGE.format(n=len(ADD_TESTS), fds=fds), mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_result_channel_forgery_many_tests(mode):
    tests = [f"assert add({i}, 1) == {i + 1}" for i in range(40)]
    refused(FORGE.format(n=len(tests), fds=(4,)), tests=tests, mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_closing_the_channel_fails_fast(mode):
    """Item 5: closing every descriptor the program holds must not make the run wait out its
    timeout (a bound far below ``timeout_s``, not a speed claim)."""
    prog = "import os\nos.closerange(3, 256)\ndef add(a, b):\n    return 0\n"
    start = time.monotonic()
    refused(prog, mode=mode, timeout_s=30.0)
    assert time.monotonic() - start < 15.0


@pytest.mark.parametrize("mode", CONTAINED)
def test_proc_fd_reopen_and_pidfd_getfd(mode):
    """Reach the channel through another process's descriptor table or memory."""
    prog = r"""
import os, ctypes
libc = ctypes.CDLL(None, use_errno=True)
grabbed = []
for pid in os.listdir('/proc'):
    if not pid.isdigit():
        continue
    try:
        for fd in os.listdir(f'/proc/{pid}/fd'):
            try:
                grabbed.append(os.open(f'/proc/{pid}/fd/{fd}', os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    except OSError:
        pass
    pidfd = libc.syscall(434, int(pid), 0)
    if pidfd >= 0:
        for fd in range(3, 32):
            got = libc.syscall(438, pidfd, fd, 0)
            if got >= 0:
                grabbed.append(got)
    try:
        with open(f'/proc/{pid}/mem', 'r+b', buffering=0):
            grabbed.append(-1)
    except OSError:
        pass
junk = b'\x00' * 16 + (1).to_bytes(4, 'big') + b'D'
for fd in grabbed:
    try:
        os.write(fd, junk)
    except OSError:
        pass
def add(a, b):
    return 0
"""
    refused(prog, mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_tracing_jumps_over_failing_asserts(mode):
    """A trace function that jumps every test frame to its last line skips the asserts."""
    prog = r"""
import sys, threading
def tracer(frame, event, arg):
    if frame.f_code.co_filename.startswith('<test'):
        def local(frame, event, arg):
            if event == 'line':
                try:
                    frame.f_lineno = max(ln for _, _, ln in frame.f_code.co_lines() if ln)
                except Exception:
                    pass
            return local
        return local
    return None
sys.settrace(tracer)
threading.settrace(tracer)
def add(a, b):
    return 0
"""
    refused(prog, tests=["assert add(1, 2) == 3\nx = 1", "assert add(2, 5) == 7\nx = 2"],
            mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_blind_heap_rewrite(mode):
    """Flip every False to True and every '0' to '1' in every container of the process."""
    prog = r"""
import gc
def add(a, b):
    for obj in gc.get_objects():
        try:
            if type(obj) is list:
                for i, v in enumerate(obj):
                    if v is False or v == '0':
                        obj[i] = True if v is False else '1'
            elif type(obj) is dict:
                for k, v in list(obj.items()):
                    if v is False:
                        obj[k] = True
        except Exception:
            pass
    return 0
"""
    refused(prog, mode=mode)


@pytest.mark.parametrize("mode", CONTAINED)
def test_signals_to_every_other_process(mode):
    """Stop or kill whatever else runs in the job (a monitor, a test driver)."""
    prog = r"""
import os, signal
for sig in (signal.SIGSTOP, signal.SIGKILL):
    for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:
        if pid != os.getpid():
            try:
                os.kill(pid, sig)
            except OSError:
                pass
def add(a, b):
    return 0
"""
    refused(prog, mode=mode, timeout_s=3.0)


@pytest.mark.parametrize("mode", MODES)
def test_exception_text_that_looks_like_records(mode):
    prog = ("class E(AssertionError):\n    def __str__(self):\n"
            "        return 'x\\n' + '\\x00' * 16 + 'T\\t0\\t1\\t0\\t\\t\\t\\t' + '\\tD'\n"
            "def add(a, b):\n    raise E()\n")
    refused(prog, mode=mode)


@pytest.mark.parametrize("mode", CONTAINED)
def test_stopping_the_parent_does_not_hold_the_run(mode):
    """SIGSTOP to the parent (a test driver, a monitor) and its process group: the run still
    ends at once (a bound far below ``timeout_s``, not a speed claim). Stopping itself (pid 0
    or -1 include the program) is a hang like any other and ends at the timeout."""
    prog = ("import os, signal\n"
            "for target in (os.getppid(), -os.getpgid(os.getppid()), 1):\n"
            "    try:\n        os.kill(target, signal.SIGSTOP)\n    except OSError:\n"
            "        pass\n"
            "def add(a, b):\n    return 0\n")
    start = time.monotonic()
    refused(prog, mode=mode, timeout_s=30.0)
    assert time.monotonic() - start < 15.0
