"""Parent-side connection to the sandbox fork server (``_zygote.py``).

One zygote per (process, mode): started lazily as ``python -I -S _zygote.py`` with an empty
environment in its own session. Jobs are submitted over a Unix socket together with their five
pipes (input, stdout, stderr, results, status); each job reports its end on its own status pipe,
so concurrent callers never wait on each other.

*Warm pool*: for each distinct limits configuration the client keeps a few jobs already forked
and fully sandboxed (namespaces, mounts, uid, rlimits), each blocked reading its input pipe. A
call takes one and writes its payload, so sandbox setup happens off the critical path. A warm
sandbox is single-use and holds no data until its payload arrives. Size: ``RLENVS_SANDBOX_WARM``
(default 3 per configuration, 0 disables).

Fork safety: after ``os.fork`` (e.g. a multiprocessing worker) the child forgets the parent's
zygote and closes every pipe end of jobs the parent had in flight, then starts its own zygote.
"""

from __future__ import annotations

import atexit
import fcntl
import marshal
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

_ZYGOTE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_zygote.py")
MODES = ("namespaces", "setuid", "userns", "rlimits")
WARM_IDLE_S = 300.0  # warm jobs older than this are discarded (the zygote allows a bit more)
MAX_WARM_TOTAL = 8
F_SETPIPE_SZ = 1031


class SandboxUnavailable(RuntimeError):
    """The sandbox server could not be started (or the requested mode is not available)."""


class Job:
    """Parent-side ends of one job's pipes."""

    __slots__ = ("id", "in_w", "out_r", "err_r", "res_r", "st_r", "born")

    def __init__(self, job_id: int, fds: list[int]) -> None:
        self.id = job_id
        self.in_w, self.out_r, self.err_r, self.res_r, self.st_r = fds
        self.born = time.monotonic()

    def fds(self) -> list[int]:
        return [fd for fd in (self.in_w, self.out_r, self.err_r, self.res_r, self.st_r)
                if fd >= 0]

    def close(self) -> None:
        for fd in self.fds():
            _untrack(fd)
            os.close(fd)
        self.in_w = self.out_r = self.err_r = self.res_r = self.st_r = -1


_open_fds: set[int] = set()  # parent-side job fds, closed in forked children
_fds_lock = threading.Lock()


def _track(fds: list[int]) -> None:
    with _fds_lock:
        _open_fds.update(fds)


def _untrack(fd: int) -> None:
    with _fds_lock:
        _open_fds.discard(fd)


class Client:
    """Connection to one zygote process."""

    def __init__(self, mode: str) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", _ZYGOTE, str(child.fileno()), mode],
                pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                env={}, start_new_session=True, close_fds=True)
        finally:
            child.close()
        parent.settimeout(60)
        try:
            data = parent.recv(1 << 16)
        except OSError as exc:
            raise SandboxUnavailable(f"sandbox server did not start: {exc}") from exc
        msg = marshal.loads(data) if data else ("fatal", "sandbox server exited at start")
        if msg[0] != "hello":
            raise SandboxUnavailable(str(msg[1]))
        parent.settimeout(None)
        self.sock, self.info = parent, dict(msg[1])
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(40)
        self.next_id = 0
        self.dead = False
        self.warm: dict[bytes, list[Job]] = {}
        self.warm_size = max(0, int(os.environ.get("RLENVS_SANDBOX_WARM", "3") or 0))

    def _spawn(self, cfg: dict[str, Any]) -> Job:
        """Ask the zygote for a new sandboxed child; returns the parent ends of its pipes."""
        pipes = [os.pipe() for _ in range(5)]
        child_ends = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1], pipes[4][1]]
        mine = [pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0], pipes[4][0]]
        _track(mine)
        try:
            fcntl.fcntl(pipes[3][0], F_SETPIPE_SZ, 1 << 20)  # room for the records (see sandbox)
        except OSError:
            pass
        try:
            with self.lock:
                self.next_id += 1
                job_id = self.next_id
                try:
                    socket.send_fds(self.sock, [marshal.dumps(("run", job_id, cfg))], child_ends)
                except OSError:
                    self.dead = True
                    raise
        except BaseException:
            for fd in mine:
                _untrack(fd)
                os.close(fd)
            raise
        finally:
            for fd in child_ends:
                os.close(fd)
        return Job(job_id, mine)

    def acquire(self, cfg: dict[str, Any]) -> Job:
        """A job for ``cfg``: a warm one when available, else a fresh one; refills the pool."""
        key = marshal.dumps(sorted(cfg.items()))
        job = None
        with self.lock:
            pool = self.warm.setdefault(key, [])
            while pool and job is None:
                candidate = pool.pop(0)
                if time.monotonic() - candidate.born < WARM_IDLE_S:
                    job = candidate
                else:
                    self._discard(candidate)
            missing = self.warm_size - len(pool)
            missing = min(missing, MAX_WARM_TOTAL - sum(len(p) for p in self.warm.values()))
        if job is None:
            job = self._spawn(cfg)
        if missing > 0:
            warm_cfg = {**cfg, "idle_s": WARM_IDLE_S + 60.0}
            for _ in range(missing):
                try:
                    fresh = self._spawn(warm_cfg)
                except OSError:
                    break
                with self.lock:
                    self.warm[key].append(fresh)
        return job

    def _discard(self, job: Job) -> None:
        try:
            self.sock.send(marshal.dumps(("kill", job.id, "discarded")))
        except OSError:
            self.dead = True
        job.close()

    def kill(self, job_id: int, why: str) -> None:
        with self.lock:
            try:
                self.sock.send(marshal.dumps(("kill", job_id, why)))
            except OSError:
                self.dead = True

    def close(self) -> None:
        """Drop the connection (the zygote then kills its jobs and exits)."""
        for pool in self.warm.values():
            for job in pool:
                job.close()
        self.warm.clear()
        try:
            self.sock.close()
        except OSError:
            pass


_clients: dict[str, Client] = {}
_clients_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _clients_lock, _fds_lock
    _clients_lock, _fds_lock = threading.Lock(), threading.Lock()
    for fd in list(_open_fds):
        try:
            os.close(fd)
        except OSError:
            pass
    _open_fds.clear()
    for client in _clients.values():
        client.warm.clear()
        try:
            client.sock.close()
        except OSError:
            pass
    _clients.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(lambda: [c.close() for c in list(_clients.values())])


def get_client(mode: str | None, fresh: bool = False) -> Client:
    """The zygote connection for ``mode`` (``None``: ``RLENVS_SANDBOX_MODE`` or auto)."""
    mode = mode or os.environ.get("RLENVS_SANDBOX_MODE") or "auto"
    if mode != "auto" and mode not in MODES:
        raise ValueError(f"unknown sandbox mode {mode!r}; use one of {MODES} or None")
    with _clients_lock:
        client = _clients.get(mode)
        if client is None or client.dead or fresh:
            if client is not None:
                client.close()
            client = _clients[mode] = Client(mode)
        return client
