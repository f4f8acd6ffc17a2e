"""``RemoteEnv``: an environment served over OpenEnv's protocol, used as if it were local.

>>> env = rlenvs.make("http://127.0.0.1:8000/rlenvs/ToolMath-v0")     # or RemoteEnv(url)
>>> obs, info = env.reset(seed=0)
>>> obs, reward, terminated, truncated, info = env.step("\\\\boxed{42}")
>>> twin = env.unwrapped.clone()                                     # a forked server session

A ``RemoteEnv`` is a Gymnasium env with chat observations and text actions (it passes
``check_env``), so rlenvs' trainers, ``rlenvs.evaluate`` and the vector env (through
:func:`register_remote`) use it unchanged. One WebSocket connection is one server session.

It also drives any OpenEnv server, not only ``rlenvs serve-env``: the action is sent as
``{action_key: reply}`` and an observation without a ``messages`` field becomes one user message
(its only text field, or the fields as JSON). ``clone()`` needs our server's ``fork``.

What comes back is the server's public view of the episode: ``info["task"]`` holds the task's
public fields only and the verdict its score, pass flag and a reason that names no private value
(:mod:`rlenvs.serving.public`); the answer stays on the server.

Checked at make time: ``RemoteEnv(url)`` (so ``rlenvs.make(url)``, ``gymnasium.make(url)`` and
``rlenvs eval URL``) opens its session at once, so a server that is not there fails before any
work with :class:`RemoteEnvUnreachable` (a ``ConnectionError``: the CLI's one ``error:`` line,
exit 2), and an env id the server does not serve with :class:`UnservedEnvError` listing the ids
it does serve (the server's ``GET /envs``).

Faults are not rewards. Every call has one deadline (``timeout_s``) that bounds the whole of it,
connecting and a reconnect included. A ``step`` whose server vanished mid-episode (connection
lost, no answer within the deadline, the session reaped or past the server's own call deadline)
does **not** raise by default (``on_fault="truncate"``): it returns ``truncated=True``, reward
``0.0`` as a placeholder, and ``info["reward_status"] = "unscored"`` with
``info["reward_cause"]`` ``"env"`` (``"deadline"`` when the server's per-call deadline cut the
step), an unscored ``Verdict`` and ``info["env_failure"]`` (the error code and message, naming
the URL, session and step; ``["server"]``: the server's error frame, where it sent one). Why: a trainer or an evaluation loop steps many episodes; one dead
server must end that episode, marked so that nothing learns from or scores it, and the round
goes on (as the Ray vector env does when an actor dies). ``on_fault="raise"`` raises
:class:`RemoteEnvError` instead, for callers that want to stop at the first fault. Misuse and
the environment's own errors (``VALIDATION_ERROR``, ``EXECUTION_ERROR``) always raise, as they
would locally. ``reset`` cannot return a fault (there is no episode yet): it raises
``RemoteEnvError``; it connects afresh, so a restarted server is picked up by the next episode.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import gymnasium as gym
from websockets.exceptions import ConnectionClosed

from judges.verdict import UNSCORED, Verdict
from rlenvs.serving.protocol import ACTION_KEY, info_from_json
from rlenvs.spaces import ChatMessages, UnicodeText

__all__ = ["RemoteEnv", "RemoteEnvError", "RemoteEnvUnreachable", "UnservedEnvError", "ws_url",
           "register_remote", "FAULT_CODES"]

#: error codes of a ``step`` that mean the server failed (not the policy, not the caller)
FAULT_CODES = frozenset({"CONNECTION_LOST", "CLIENT_TIMEOUT", "DEADLINE_EXCEEDED",
                         "SESSION_EXPIRED", "UNKNOWN_SESSION"})


class RemoteEnvError(RuntimeError):
    """The server refused a call, or the connection to it failed; ``code`` is the server's."""

    def __init__(self, message: str, code: str | None = None,
                 data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.data = code, data or {}


class RemoteEnvUnreachable(RemoteEnvError, ConnectionError):
    """No environment server answers at the URL (checked when the env is made)."""


class UnservedEnvError(RemoteEnvError, ValueError):
    """The server answers but does not serve the env id the URL names; the message lists the
    ids it serves."""


def ws_url(url: str, session_id: str | None = None) -> str:
    """The WebSocket URL of ``url`` (``http://h:p/ENV-ID`` -> ``ws://h:p/ENV-ID/ws``)."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"not an environment server URL: {url!r} (expected http://HOST:PORT"
                         "/ENV-ID)")
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    query = f"session_id={session_id}" if session_id else ""
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def _as_messages(observation: Any) -> list[dict[str, Any]]:
    if isinstance(observation, dict) and isinstance(observation.get("messages"), list):
        return observation["messages"]
    fields = {k: v for k, v in (observation or {}).items() if k != "metadata"}
    texts = [v for v in fields.values() if isinstance(v, str)]
    content = texts[0] if len(texts) == 1 and len(fields) == 1 else json.dumps(fields)
    return [{"role": "user", "content": content}]


class RemoteEnv(gym.Env[list, str]):
    """A session on an environment server (ours or any OpenEnv server).

    Args:
        url: ``http://HOST:PORT/ENV-ID`` (or the server root for its first env, or ``ws://``).
        timeout_s: deadline of one call (reset, step, state, clone), connecting included.
        action_key: the action field a foreign OpenEnv server expects.
        session_id: attach to an existing (forked) session instead of opening one.
        connect: open the session now (default), so an unreachable server or an unserved env id
            fails here, before any work; ``False`` waits for the first ``reset``.
        on_fault: ``"truncate"`` (default): a step whose server failed ends the episode as
            truncated and unscored (see the module docstring); ``"raise"``: it raises
            :class:`RemoteEnvError`.
    """

    metadata = {"render_modes": []}

    def __init__(self, url: str, timeout_s: float = 60.0, action_key: str = ACTION_KEY,
                 session_id: str | None = None, connect: bool = True,
                 on_fault: str = "truncate") -> None:
        if on_fault not in ("truncate", "raise"):
            raise ValueError(f"on_fault must be 'truncate' or 'raise', got {on_fault!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        self.url = url
        self.timeout_s = timeout_s
        self.action_key = action_key
        self.on_fault = on_fault
        self.observation_space = ChatMessages()
        self.action_space = UnicodeText()
        self._ws: Any = None
        self.session_id = session_id
        self._attach = session_id
        self.steps = 0
        self._done = True
        self._messages: list[dict[str, Any]] = []
        ws_url(url)  # validate now
        if connect:
            self._connect(time.monotonic() + timeout_s)

    # ------------------------------------------------------------------ transport
    def _where(self) -> str:
        return f"{self.url} (session {self.session_id or 'not opened'}, step {self.steps})"

    def _left(self, end: float) -> float:
        return max(0.001, end - time.monotonic())

    def _connect(self, end: float) -> None:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        try:
            self._ws = connect(ws_url(self.url, self._attach), open_timeout=self._left(end),
                               close_timeout=min(2.0, self.timeout_s), max_size=2**26,
                               proxy=None, legacy=True)
        except InvalidStatus as e:
            self._ws = None
            status = e.response.status_code
            if status in (403, 404) and not self._attach:
                raise UnservedEnvError(self._unserved(status, end)) from None
            raise RemoteEnvError(f"{self.url}: the server refused the connection (HTTP "
                                 f"{status})", code=f"HTTP_{status}") from None
        except Exception as e:  # noqa: BLE001 - every transport failure reads the same
            self._ws = None
            reason = " ".join(f"{type(e).__name__}: {e}".split())
            where = self._where() if self.session_id else self.url
            raise RemoteEnvUnreachable(f"cannot connect to {where}: {reason} (is "
                                       "`rlenvs serve-env` running there?)",
                                       code="UNREACHABLE") from None
        self._attach = None

    def _unserved(self, status: int, end: float) -> str:
        """One line: the env id is not served here, and what is (the server's ``GET /envs``)."""
        parts = urlsplit(self.url)
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        root = urlunsplit((scheme, parts.netloc, "", "", ""))
        wanted = parts.path.strip("/").removesuffix("/ws").strip("/")
        served: list[str] = []
        try:
            with urllib.request.urlopen(f"{root}/envs", timeout=self._left(end)) as r:  # noqa: S310
                served = [str(i) for i in json.loads(r.read()).get("envs", [])]
        except Exception:  # noqa: BLE001 - a foreign server may have no /envs
            pass
        text = f"{root} does not serve {wanted!r} (HTTP {status})"
        if served:
            text += f"; it serves: {', '.join(served)} (connect to {root}/{served[0]})"
        return text

    def _drop(self, graceful: bool = False) -> None:
        """Forget the connection; without ``graceful``, no closing handshake (the peer may be
        gone or stopped, and the handshake would wait for it)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                close = ws.close if graceful else getattr(ws, "close_socket", ws.close)
                close()
            except Exception:  # noqa: BLE001
                pass

    def _call(self, kind: str, data: dict[str, Any] | None = None,
              end: float | None = None) -> dict[str, Any]:
        if self._ws is None:
            raise RemoteEnvError(f"no connection to {self._where()}; call reset()")
        end = time.monotonic() + self.timeout_s if end is None else end
        frame = {"type": kind} if data is None else {"type": kind, "data": data}
        try:
            try:
                self._ws.send(json.dumps(frame))
            except ConnectionClosed:
                pass  # a refused session sends its error frame, then closes: read that frame
            reply = json.loads(self._ws.recv(timeout=self._left(end)))
        except TimeoutError as e:
            self._drop()
            raise RemoteEnvError(f"{kind} timed out after {self.timeout_s:g} s at "
                                 f"{self._where()}", code="CLIENT_TIMEOUT") from e
        except Exception as e:  # noqa: BLE001 - connection closed, reset, refused...
            self._drop()
            raise RemoteEnvError(f"connection lost during {kind} at {self._where()}: the server "
                                 f"closed or died ({type(e).__name__}: {e})",
                                 code="CONNECTION_LOST") from e
        if reply.get("type") == "error":
            data = reply.get("data") or {}
            fatal = data.get("code") in ("CAPACITY_REACHED", "DEADLINE_EXCEEDED",
                                         "SESSION_EXPIRED", "UNKNOWN_SESSION", "FACTORY_ERROR")
            if fatal:
                self._drop()
            raise RemoteEnvError(f"server error {data.get('code')} during {kind} at "
                                 f"{self._where()}: {data.get('message')}", code=data.get("code"),
                                 data=data)
        return reply

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[list, dict[str, Any]]:
        super().reset(seed=seed)
        end = time.monotonic() + self.timeout_s
        if self._ws is None:
            self._connect(end)
        data: dict[str, Any] = {}
        if seed is not None:
            data["seed"] = seed
        if options:
            data["options"] = options
        try:
            reply = self._call("reset", data, end)
        except RemoteEnvError as e:
            if e.code not in ("CONNECTION_LOST", "SESSION_EXPIRED"):
                raise
            self._connect(end)  # a stale connection (server restarted, session reaped): retry
            reply = self._call("reset", data, end)  # once, within the same deadline
        payload = reply.get("data") or {}
        meta = payload.get("metadata") or {}
        self.session_id = meta.get("session_id", self.session_id)
        self.steps, self._done = 0, False
        info = info_from_json(meta.get("info", {}))
        self._messages = _as_messages(payload.get("observation"))
        return list(self._messages), info

    def step(self, action: str) -> tuple[list, float, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError(f"action must be the reply text (str), got {type(action).__name__}")
        if self._done and self._ws is None and self.steps:
            raise RemoteEnvError(f"the episode at {self._where()} has ended; call reset()")
        self.steps += 1
        try:
            reply = self._call("step", {self.action_key: action})
        except RemoteEnvError as e:
            if self.on_fault == "raise" or e.code not in FAULT_CODES:
                raise
            return self._fault(action, e)
        payload = reply.get("data") or {}
        meta = payload.get("metadata") or {}
        done = bool(payload.get("done", False))
        terminated = bool(meta.get("terminated", done))
        truncated = bool(meta.get("truncated", False))
        info = info_from_json(meta.get("info", meta))
        reward = payload.get("reward")
        self._done = done
        self._messages = _as_messages(payload.get("observation"))
        return list(self._messages), float(reward or 0.0), terminated, truncated, info

    def _fault(self, action: str, error: RemoteEnvError) -> tuple[list, float, bool, bool,
                                                                    dict[str, Any]]:
        """The step result of a server that failed mid-step: truncated, unscored."""
        cause = "deadline" if error.code == "DEADLINE_EXCEEDED" else "env"
        self._drop()
        self._done = True
        verdict = Verdict.unscored(f"unscored: the environment server failed mid-episode "
                                   f"({error})", cause, code=error.code)
        info = {"verdict": verdict, "reward_status": UNSCORED, "reward_cause": cause,
                "reward_components": {}, "truncated_reason": "environment server failed",
                "env_failure": {"code": error.code, "error": str(error), "url": self.url,
                                "session_id": self.session_id, "step": self.steps,
                                "server": error.data}}
        obs = [*self._messages, {"role": "assistant", "content": action}]
        return obs, 0.0, False, True, info

    def state(self) -> dict[str, Any]:
        """The server's view of this session (``episode_id``, ``step_count``, ...)."""
        return self._call("state").get("data") or {}

    def clone(self) -> RemoteEnv:
        """A new session on the server holding a copy of this episode (``fork``)."""
        end = time.monotonic() + self.timeout_s
        reply = self._call("fork", None, end)
        twin = RemoteEnv(self.url, timeout_s=self.timeout_s, action_key=self.action_key,
                         session_id=reply["data"]["session_id"], connect=False,
                         on_fault=self.on_fault)
        twin._connect(end)
        twin.steps, twin._done = self.steps, self._done
        twin._messages = list(self._messages)
        return twin

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.send(json.dumps({"type": "close"}))
            except Exception:  # noqa: BLE001 - closing a dead connection is fine
                pass
            self._drop(graceful=True)

    def __del__(self) -> None:
        try:
            if sys.is_finalizing():  # websockets' close joins its reader thread, which the
                return  # exiting interpreter has stopped: it would hang (the OS closes the socket)
            self._drop()
        except Exception:  # noqa: BLE001
            pass


def register_remote(url: str, env_id: str | None = None, **kwargs: Any) -> str:
    """Register ``url`` in Gymnasium's registry and return its id (for ``TextVectorEnv``).

    The id defaults to ``remote/<host>-<port>/<ENV-ID>``; worker processes rebuild the env from
    the spec, so nothing else needs registering there.
    """
    import gymnasium

    parts = urlsplit(url)
    name = (parts.path.strip("/").split("/")[-1] or "default").replace(".", "_")
    env_id = env_id or f"remote/{parts.netloc.replace(':', '-').replace('.', '_')}-{name}"
    if "-v" not in env_id.split("/")[-1]:
        env_id += "-v0"
    # gymnasium's registry directly (not rlenvs.registration, which imports this module): a
    # remote id is not one of our environments, so `rlenvs list` does not show it
    spec_kwargs = {"url": url, **kwargs}
    existing = gymnasium.registry.get(env_id)
    if existing is None or existing.kwargs != spec_kwargs:
        gymnasium.register(env_id, entry_point="rlenvs.serving.client:RemoteEnv",
                           kwargs=spec_kwargs, disable_env_checker=True)
    return env_id
