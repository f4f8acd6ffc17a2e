"""Sessions of the environment server: one environment instance per session, bounded and reaped.

* ``max_sessions`` bounds live sessions across all served environments; opening one more is
  refused with ``CapacityError`` (the server answers ``CAPACITY_REACHED`` with the counts).
* An idle session (no request for ``idle_timeout_s``) is closed by the reaper, whether a client
  is still attached (half-open sockets) or nobody ever attached (an unclaimed fork), so leaked
  sessions cannot fill the server.
* Every environment call runs in a worker thread under a deadline (``call_timeout_s``, or the
  request's ``timeout_s`` if smaller). A call past its deadline poisons the session (the
  environment may be half-way through a step), so the session is closed and the caller gets
  ``DeadlineExceeded``; the worker thread finishes in the background.
* ``fork`` makes a new, unattached session holding ``clone()`` of a session's environment.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Session", "SessionManager", "CapacityError", "DeadlineExceeded", "UnknownSession"]


class CapacityError(RuntimeError):
    """The server already holds ``max_sessions`` sessions."""

    def __init__(self, active: int, limit: int) -> None:
        super().__init__(f"server at capacity: {active} of {limit} sessions in use; close a "
                         "session or retry later")
        self.active, self.limit = active, limit


class DeadlineExceeded(TimeoutError):
    """An environment call ran past its deadline (the session was closed)."""


class UnknownSession(KeyError):
    """No live session has this id (never existed, closed, or reaped)."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class Session:
    """One environment instance and its bookkeeping."""

    id: str
    env_id: str
    env: Any
    created_at: float = field(default_factory=time.monotonic)
    last_active: float = field(default_factory=time.monotonic)
    step_count: int = 0
    episode_id: str | None = None
    attached: bool = False
    busy: bool = False
    closed: bool = False
    on_expire: Callable[[str], Any] | None = None  # async callback: tell the attached client

    def touch(self) -> None:
        self.last_active = time.monotonic()


class SessionManager:
    """Creates, forks, times and reaps sessions (all methods run on the server's event loop)."""

    def __init__(self, make_env: Callable[[str], Any], max_sessions: int = 64,
                 idle_timeout_s: float | None = 300.0, call_timeout_s: float = 60.0) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        if call_timeout_s <= 0 or (idle_timeout_s is not None and idle_timeout_s <= 0):
            raise ValueError("timeouts must be positive")
        self.make_env = make_env
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.call_timeout_s = call_timeout_s
        self.sessions: dict[str, Session] = {}
        self._reserved = 0
        self._pool = ThreadPoolExecutor(max_workers=max_sessions + 4,
                                        thread_name_prefix="rlenvs-session")
        self._reaper: asyncio.Task | None = None
        self.reaped = 0

    @property
    def active(self) -> int:
        return len(self.sessions) + self._reserved

    def capacity(self) -> dict[str, int]:
        return {"active_sessions": self.active, "max_sessions": self.max_sessions}

    # ------------------------------------------------------------------ lifecycle
    def _reserve(self) -> None:
        if self.active >= self.max_sessions:
            raise CapacityError(self.active, self.max_sessions)
        self._reserved += 1

    async def open(self, env_id: str) -> Session:
        """A new session on a fresh ``env_id`` environment (``CapacityError`` when full)."""
        self._reserve()
        try:
            env = await self._run(self.make_env, env_id, timeout_s=self.call_timeout_s)
        finally:
            self._reserved -= 1
        session = Session(id=uuid.uuid4().hex, env_id=env_id, env=env, attached=True)
        self.sessions[session.id] = session
        return session

    async def fork(self, session: Session) -> Session:
        """A new unattached session with a clone of ``session``'s environment and episode."""
        self._reserve()
        try:
            twin = await self.call(session, lambda env: env.unwrapped.clone(), count_step=False)
        finally:
            self._reserved -= 1
        child = Session(id=uuid.uuid4().hex, env_id=session.env_id, env=twin,
                        step_count=session.step_count, episode_id=session.episode_id)
        self.sessions[child.id] = child
        return child

    def attach(self, session_id: str) -> Session:
        """Claim an unattached session (a fork) for a new connection."""
        session = self.sessions.get(session_id)
        if session is None:
            raise UnknownSession(f"no live session {session_id!r} (closed, reaped or never "
                                 "created)")
        if session.attached:
            raise UnknownSession(f"session {session_id!r} already has a client attached")
        session.attached = True
        session.touch()
        return session

    async def close(self, session: Session) -> None:
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.id, None)
        env = session.env
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, env.close)
        except Exception:  # noqa: BLE001 - a failing close must not keep the slot
            pass

    # ------------------------------------------------------------------ calls
    async def _run(self, fn: Callable[..., Any], *args: Any, timeout_s: float) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, fn, *args)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout=timeout_s)
        except TimeoutError:
            raise DeadlineExceeded(f"call exceeded its deadline of {timeout_s:g} s") from None

    def deadline(self, requested: Any = None) -> float:
        """The deadline of one call: the server's, or the request's ``timeout_s`` if smaller."""
        if isinstance(requested, int | float) and not isinstance(requested, bool) \
                and requested > 0:
            return min(float(requested), self.call_timeout_s)
        return self.call_timeout_s

    async def call(self, session: Session, fn: Callable[[Any], Any], *,
                   timeout_s: float | None = None, count_step: bool = True) -> Any:
        """Run ``fn(env)`` in a worker under a deadline; past it, the session is closed."""
        if session.closed:
            raise UnknownSession(f"session {session.id!r} is closed")
        session.busy = True
        session.touch()
        try:
            result = await self._run(fn, session.env, timeout_s=timeout_s or self.call_timeout_s)
        except DeadlineExceeded:
            await self.close(session)
            raise
        finally:
            session.busy = False
            session.touch()
        if count_step:
            session.step_count += 1
        return result

    # ------------------------------------------------------------------ reaper
    async def reap_once(self) -> list[str]:
        """Close every idle session now; returns their ids."""
        if self.idle_timeout_s is None:
            return []
        now = time.monotonic()
        idle = [s for s in list(self.sessions.values())
                if not s.busy and now - s.last_active > self.idle_timeout_s]
        for session in idle:
            await self.close(session)
            self.reaped += 1
            if session.on_expire is not None:
                try:
                    await session.on_expire(
                        f"session {session.id} was idle for over {self.idle_timeout_s:g} s and "
                        "was closed by the server")
                except Exception:  # noqa: BLE001 - the client may already be gone
                    pass
        return [s.id for s in idle]

    async def _reap_forever(self) -> None:
        assert self.idle_timeout_s is not None
        interval = min(max(self.idle_timeout_s / 4, 0.05), 5.0)
        while True:
            await asyncio.sleep(interval)
            await self.reap_once()

    def start(self) -> None:
        if self.idle_timeout_s is not None and self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        for session in list(self.sessions.values()):
            await self.close(session)
        self._pool.shutdown(wait=False, cancel_futures=True)
