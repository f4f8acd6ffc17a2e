"""A small pool of persistent math-verify worker processes with a hard wall-clock kill.

Why processes started with :mod:`subprocess` (not :mod:`multiprocessing`):

* math-verify's own timeout is ``signal.alarm``: main thread only, whole seconds, and it
  cancels the caller's alarm. Running it in another process sidesteps all three.
* ``multiprocessing`` refuses to start children from a daemonic process, i.e. from inside a
  ``multiprocessing.Pool`` worker; ``subprocess.Popen`` works from any thread of any process.
* a worker is ``python -P judges/math/worker.py``: it imports nothing of ours, so it starts
  in ~0.5 s whatever the rest of the package imports.

Crashes. If a worker dies under an item (EOF on its pipe), the item is retried once on a
fresh worker, then reported as ``crashed``.

Timeouts. Every item gets ``timeout`` seconds inside the worker (a SIGALRM soft timeout that
keeps the worker alive for pure-Python slowness) and ``timeout + kill_grace_s`` seconds of
wall clock in the caller, after which the worker is SIGKILLed, reaped and replaced. The
replacement starts at once; its start-up (~0.5 s) is paid by the next request that uses it,
and is not counted against that request's own item timeouts.

Lifecycle. The pool is created lazily on first use, shut down at interpreter exit
(``atexit``: stdin closed, worker reaped, killed if it lingers), and dropped without touching
the parent's workers in a forked child (``os.register_at_fork``); a worker also exits by itself
when its stdin closes or its parent process disappears. Memory is capped per worker with
``RLIMIT_AS``.
"""

from __future__ import annotations

import atexit
import math
import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from judges.math.worker import MAX_MSG, write_msg

__all__ = ["WorkerPool", "get_pool", "configure_pool", "shutdown_pool"]

_WORKER_FILE = str(Path(__file__).with_name("worker.py"))
_TIMEOUT = object()


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) process ``pid`` has used, from ``/proc`` (``None`` elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class _Worker:
    """One worker process and the caller-side end of its pipes (used by one thread at a time)."""

    def __init__(self, memory_mb: int) -> None:
        env = dict(os.environ)
        env["RLENVS_MATH_MEMORY_MB"] = str(int(memory_mb))
        debug = bool(os.environ.get("RLENVS_MATH_DEBUG"))
        self.proc = subprocess.Popen(
            [sys.executable, "-P", _WORKER_FILE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if debug else subprocess.DEVNULL,
            env=env,
            close_fds=True,
            start_new_session=True,
            bufsize=0,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.in_fd = self.proc.stdin.fileno()
        self.out_fd = self.proc.stdout.fileno()
        self.buf = bytearray()
        self.ready = False

    # --------------------------------------------------------------------------- protocol
    def send(self, obj: Any) -> None:
        write_msg(self.in_fd, obj)

    def _pop_message(self) -> Any | None:
        import json

        if len(self.buf) < 4:
            return None
        size = int.from_bytes(self.buf[:4], "big")
        if size > MAX_MSG:
            raise EOFError("corrupt message from math worker")
        if len(self.buf) < 4 + size:
            return None
        body = bytes(self.buf[4 : 4 + size])
        del self.buf[: 4 + size]
        return json.loads(body)

    def recv(self, deadline: float) -> Any:
        """The next message, ``_TIMEOUT`` past ``deadline``; EOFError if the worker died."""
        poller = select.poll()
        poller.register(self.out_fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while True:
            msg = self._pop_message()
            if msg is not None:
                return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _TIMEOUT
            if not poller.poll(max(1, math.ceil(remaining * 1000))):
                continue
            chunk = os.read(self.out_fd, 1 << 16)
            if not chunk:
                raise EOFError("math worker exited")
            self.buf.extend(chunk)

    def ensure_ready(self, startup_timeout: float, deadline: float | None = None) -> bool:
        """Wait for the start-up message; False if ``deadline`` (a call's own deadline)
        passes first -- the worker keeps starting and serves a later call."""
        if self.ready:
            return True
        limit = time.monotonic() + startup_timeout
        try:
            msg = self.recv(limit if deadline is None else min(limit, deadline))
        except EOFError:
            raise RuntimeError(
                "math worker exited during start-up (is math-verify installed?)"
            ) from None
        if msg is _TIMEOUT and deadline is not None and deadline < limit:
            return False
        if msg is _TIMEOUT:
            raise RuntimeError(f"math worker did not start within {startup_timeout:.0f} s")
        if not msg.get("ready"):
            raise RuntimeError(f"math worker failed to start: {msg.get('error')}")
        self.ready = True
        return True

    # -------------------------------------------------------------------------- lifecycle
    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        self.proc.wait()
        self._close_pipes()

    def begin_close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass

    def finish_close(self, wait_s: float = 1.0) -> None:
        try:
            self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_pipes()

    def abandon(self) -> None:
        """In a forked child: drop our copies of the pipes, leave the process alone."""
        self._close_pipes()
        self.proc.returncode = 0  # not our child: never wait for it

    def _close_pipes(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass


class WorkerPool:
    """Persistent worker processes; :meth:`run` evaluates items with per-item hard timeouts."""

    def __init__(
        self,
        size: int = 2,
        *,
        memory_mb: int = 2048,
        kill_grace_s: float = 0.5,
        startup_timeout_s: float = 60.0,
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.size = size
        self.memory_mb = memory_mb
        self.kill_grace_s = kill_grace_s
        self.startup_timeout_s = startup_timeout_s
        self.pid = os.getpid()
        self.kills = 0  # how many workers were killed for overrunning (for tests / stats)
        self._closed = False
        self._lock = threading.Lock()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: set[_Worker] = set()
        for _ in range(size):
            w = _Worker(memory_mb)
            self._workers.add(w)
            self._idle.put(w)

    def warm(self) -> None:
        """Block until every worker has started (start-up is otherwise paid on first use)."""
        workers = [self._checkout() for _ in range(self.size)]
        try:
            for w in workers:
                w.ensure_ready(self.startup_timeout_s)
        finally:
            for w in workers:
                self._idle.put(w)

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self._workers]

    # ----------------------------------------------------------------------------- usage
    def _checkout(self, deadline: float | None = None) -> _Worker | None:
        """An idle worker; None if ``deadline`` passes while every worker is busy."""
        while True:
            if self._closed:
                raise RuntimeError("the math worker pool has been shut down")
            wait = 0.25
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return None
            try:
                return self._idle.get(timeout=wait)
            except queue.Empty:
                continue

    def _replace(self, old: _Worker) -> _Worker:
        old.kill()
        with self._lock:
            self._workers.discard(old)
            if self._closed:
                raise RuntimeError("the math worker pool has been shut down")
            new = _Worker(self.memory_mb)
            self._workers.add(new)
        return new

    def _run_chunk(
        self,
        idx: list[int],
        items: list[dict[str, Any]],
        out: list[Any],
        timeout: float,
        deadline: float | None = None,
    ) -> None:
        """Run ``items[idx]`` on one worker. ``deadline`` (monotonic) bounds everything:
        the wait for a free worker, its start-up and the work; past it the remaining
        items come back as timeouts (``where``: queue, start-up or work)."""

        def expire(where: str) -> None:
            for i in idx:
                if out[i] is None:
                    out[i] = {"status": "timeout", "killed": False, "where": where}

        found = self._checkout(deadline)
        if found is None:
            expire("queue")
            return
        worker = found
        retried: set[int] = set()  # items already re-sent once after a worker died under them

        def died(i: int) -> None:
            """The worker died while item ``i`` was pending: retry once, then give up."""
            nonlocal worker
            if i in retried:
                out[pending.popleft()] = {"status": "crashed"}
            retried.add(i)
            worker = self._replace(worker)

        try:
            pending = deque(idx)
            while pending:
                if not worker.ensure_ready(self.startup_timeout_s, deadline):
                    expire("start-up")
                    return
                item_s = timeout
                if deadline is not None:
                    item_s = min(timeout, deadline - time.monotonic() - self.kill_grace_s)
                    if item_s < 0.01:
                        expire("queue")
                        return
                try:
                    worker.send({"timeout": item_s, "items": [items[i] for i in pending]})
                except OSError:
                    died(pending[0])
                    continue
                while pending:
                    due = time.monotonic() + item_s + self.kill_grace_s
                    cpu = _cpu_seconds(worker.proc.pid)
                    try:
                        msg = worker.recv(due if deadline is None else min(due, deadline))
                    except EOFError:
                        died(pending[0])
                        break
                    if msg is _TIMEOUT:  # stuck where its own alarm cannot reach (C code)
                        spent = _cpu_seconds(worker.proc.pid)
                        out[pending.popleft()] = {
                            "status": "timeout", "killed": True,
                            "cpu_s": None if cpu is None or spent is None else spent - cpu}
                        self.kills += 1
                        worker = self._replace(worker)
                        break
                    out[pending.popleft()] = msg
                    if msg.get("restart"):
                        worker = self._replace(worker)
                        break
        finally:
            self._idle.put(worker)

    def run(
        self, items: list[dict[str, Any]], timeout: float, deadline: float | None = None
    ) -> list[dict[str, Any]]:
        """Evaluate ``items`` (in parallel over the workers); one result dict per item.

        ``timeout`` bounds each item's work; ``deadline`` (``time.monotonic()`` value, for
        one-item calls) bounds the whole call, waiting for a free worker included."""
        n = len(items)
        out: list[Any] = [None] * n
        if n == 0:
            return []
        per = max(1, min(32, math.ceil(n / (self.size * 4))))
        chunks = deque(list(range(i, min(i + per, n))) for i in range(0, n, per))
        if len(chunks) == 1 or self.size == 1:
            for chunk in chunks:
                self._run_chunk(chunk, items, out, timeout, deadline)
            return out
        errors: list[BaseException] = []

        def drain() -> None:
            try:
                while True:
                    try:
                        chunk = chunks.popleft()
                    except IndexError:
                        return
                    self._run_chunk(chunk, items, out, timeout, deadline)
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)

        threads = [
            threading.Thread(target=drain, name=f"math-verify-batch-{k}", daemon=True)
            for k in range(min(self.size, len(chunks)))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return out

    def close(self) -> None:
        """Stop every worker (EOF first, SIGKILL after 1 s) and reap them."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
            self._workers.clear()
        for w in workers:
            w.begin_close()
        for w in workers:
            w.finish_close()

    def abandon(self) -> None:
        self._closed = True
        for w in list(self._workers):
            w.abandon()
        self._workers.clear()


# ------------------------------------------------------------------------- process-global

_CONFIG: dict[str, Any] = {"workers": None, "memory_mb": 2048, "kill_grace_s": 0.5}
_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()
_ABANDONED: list[WorkerPool] = []


def _default_workers() -> int:
    env = os.environ.get("RLENVS_MATH_WORKERS")
    if env:
        return max(1, int(env))
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(2, cpus))


def get_pool() -> WorkerPool:
    """The process-wide pool, started on first use (and again in a forked child)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid() or _POOL._closed:
            _POOL = WorkerPool(
                _CONFIG["workers"] or _default_workers(),
                memory_mb=_CONFIG["memory_mb"],
                kill_grace_s=_CONFIG["kill_grace_s"],
            )
        return _POOL


def configure_pool(
    *,
    workers: int | None = None,
    memory_mb: int | None = None,
    kill_grace_s: float | None = None,
) -> None:
    """Set pool parameters (workers, per-worker memory cap, kill grace); restarts the pool.

    ``workers`` defaults to ``$RLENVS_MATH_WORKERS`` or min(2, usable CPUs); ``memory_mb`` to
    2048 (``RLIMIT_AS`` of each worker); ``kill_grace_s`` (default 0.5) is how long past the
    item timeout the caller waits before SIGKILLing a worker.
    """
    if workers is not None:
        _CONFIG["workers"] = int(workers)
    if memory_mb is not None:
        _CONFIG["memory_mb"] = int(memory_mb)
    if kill_grace_s is not None:
        _CONFIG["kill_grace_s"] = float(kill_grace_s)
    shutdown_pool()


def shutdown_pool() -> None:
    """Stop the process-wide pool's workers (a later call starts a fresh pool)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None and pool.pid == os.getpid():
        pool.close()


def _after_fork_in_child() -> None:
    global _POOL, _POOL_LOCK
    _POOL_LOCK = threading.Lock()
    if _POOL is not None:
        _POOL.abandon()
        _ABANDONED.append(_POOL)
        _POOL = None


atexit.register(shutdown_pool)
os.register_at_fork(after_in_child=_after_fork_in_child)
