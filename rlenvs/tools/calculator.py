"""The ``calculator`` tool: exact arithmetic and algebra with sympy, in a killable worker.

The evaluation itself (grammar, size bounds, formatting) is :mod:`rlenvs.tools.calc_eval`. It
never runs in the process that asks: a sympy call can stay unbounded whatever the size checks
(``factorint`` of a large semiprime), and a SIGALRM timeout holds only on the main thread, so
from a worker thread (an env server, a thread pool of environments) one call could hold the
episode for minutes. Here each call goes to a persistent worker *process* (``python -P
calc_eval.py``, sympy only, its memory capped) and waits at most ``TIMEOUT_S + KILL_GRACE_S``
seconds of wall clock, whichever thread asks; past that the worker is killed and replaced and
the call is an error observation. A worker that cannot start is a tool fault.

Workers are started on first use (start-up, ~1 s, is not counted against a call's deadline),
kept idle for the next call (up to ``MAX_WORKERS`` at once) and are dropped in a forked child.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from rlenvs.tools.base import Tool, ToolError, ToolFault
from rlenvs.tools.calc_eval import MAX_EXPRESSION_CHARS, TIMEOUT_S

__all__ = ["calculate", "calculator", "MAX_EXPRESSION_CHARS", "TIMEOUT_S"]

KILL_GRACE_S = 1.0
STARTUP_TIMEOUT_S = 60.0
MAX_WORKERS = 4
MEMORY_MB = 2048
_WORKER_FILE = str(Path(__file__).with_name("calc_eval.py"))


class _Worker:
    """One worker process and the line-buffered reader of its replies."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-P", _WORKER_FILE, str(MEMORY_MB)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True, text=True, encoding="utf-8")
        self.ready = False

    def _line(self, deadline: float) -> dict | None:
        """The next reply line; None once ``deadline`` passes, ``{"died": ...}`` on EOF."""
        assert self.proc.stdout is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            readable, _, _ = select.select([self.proc.stdout], [], [], left)
            if readable:
                line = self.proc.stdout.readline()
                return json.loads(line) if line else {"died": True}

    def ask(self, expression: str) -> dict | None:
        """The worker's reply, or None when it overran the hard deadline or died."""
        if not self.ready:
            if (self._line(time.monotonic() + STARTUP_TIMEOUT_S) or {}).get("ready") is not True:
                raise ToolFault("the calculator worker did not start")
            self.ready = True
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"expression": expression}) + "\n")
        self.proc.stdin.flush()
        return self._line(time.monotonic() + TIMEOUT_S + KILL_GRACE_S)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


class _Pool:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self.slots = threading.BoundedSemaphore(MAX_WORKERS)

    def call(self, expression: str) -> dict | None:
        with self.slots:
            try:
                worker = self.idle.get_nowait()
            except queue.Empty:
                try:
                    worker = _Worker()
                except OSError as e:
                    raise ToolFault(f"the calculator worker could not start ({e})") from None
            try:
                reply = worker.ask(expression)
            except (OSError, ValueError, ToolFault):
                worker.kill()
                raise
            if reply is None or reply.get("died"):
                worker.kill()
            else:
                self.idle.put(worker)
            return reply


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _get_pool() -> _Pool:
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():  # a forked child starts its own workers
            _pool = _Pool()
        return _pool


def calculate(expression: str) -> str:
    """Evaluate ``expression`` in a calculator worker; raises ``ToolError`` with a readable
    reason (``ToolFault`` when the worker itself failed)."""
    if not isinstance(expression, str):
        raise ToolError(f"expression must be a string, got {type(expression).__name__}")
    if len(expression) > MAX_EXPRESSION_CHARS:  # checked here too: never shipped to the worker
        raise ToolError(f"expression is {len(expression)} characters; limit {MAX_EXPRESSION_CHARS}")
    try:
        reply = _get_pool().call(expression)
    except ToolError:
        raise
    except (OSError, ValueError) as e:
        raise ToolFault(f"the calculator worker failed ({type(e).__name__}: {e})") from None
    if reply is None:
        raise ToolError(f"calculation took longer than {TIMEOUT_S} s (stopped)")
    if reply.get("died"):  # the expression exhausted the worker's memory or crashed it
        raise ToolError("the calculation ran out of memory or crashed the calculator (stopped)")
    if "error" in reply:
        raise ToolError(reply["error"])
    return str(reply["output"])


def _calculator(expression: str) -> str:
    """Evaluate a math expression exactly (sympy): arithmetic with big integers, fractions,
    powers (^ or **), sqrt, log, factorial, binomial, gcd, summation(k**2, (k, 1, 100)), and
    equations in x, y, z such as "3*x + 5 = 20" (solved for the unknowns).

    Args:
        expression: the expression or equation, e.g. "123456789 * 987654321".
    """
    return calculate(expression)


calculator = Tool(_calculator, name="calculator")
