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

Faults: a dead server or dropped connection raises ``RemoteEnvError`` naming the URL, the server
session and the step; the next ``reset()`` connects afresh, so a restarted server is picked up by
the next episode. Every call has a deadline (``timeout_s``); the server's own per-call deadline
and session limit come back as ``RemoteEnvError`` with the server's error code.
"""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import gymnasium as gym
from websockets.exceptions import ConnectionClosed

from rlenvs.serving.protocol import ACTION_KEY, info_from_json
from rlenvs.spaces import ChatMessages, UnicodeText

__all__ = ["RemoteEnv", "RemoteEnvError", "ws_url", "register_remote"]


class RemoteEnvError(RuntimeError):
    """The server refused a call, or the connection to it failed; ``code`` is the server's."""

    def __init__(self, message: str, code: str | None = None,
                 data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.data = code, data or {}


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
        timeout_s: deadline of one call, connection included.
        action_key: the action field a foreign OpenEnv server expects.
        session_id: attach to an existing (forked) session instead of opening one.
    """

    metadata = {"render_modes": []}

    def __init__(self, url: str, timeout_s: float = 60.0, action_key: str = ACTION_KEY,
                 session_id: str | None = None) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.action_key = action_key
        self.observation_space = ChatMessages()
        self.action_space = UnicodeText()
        self._ws: Any = None
        self.session_id = session_id
        self._attach = session_id
        self.steps = 0
        self._done = True
        ws_url(url)  # validate now

    # ------------------------------------------------------------------ transport
    def _where(self) -> str:
        return f"{self.url} (session {self.session_id or 'not opened'}, step {self.steps})"

    def _connect(self) -> None:
        from websockets.sync.client import connect

        try:
            self._ws = connect(ws_url(self.url, self._attach), open_timeout=self.timeout_s,
                               max_size=2**26, proxy=None, legacy=True)
        except Exception as e:  # noqa: BLE001 - every transport failure reads the same
            self._ws = None
            raise RemoteEnvError(f"cannot connect to {self._where()}: {type(e).__name__}: "
                                 f"{e}") from e
        self._attach = None

    def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close()
            except Exception:  # noqa: BLE001
                pass

    def _call(self, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._ws is None:
            raise RemoteEnvError(f"no connection to {self._where()}; call reset()")
        frame = {"type": kind} if data is None else {"type": kind, "data": data}
        try:
            try:
                self._ws.send(json.dumps(frame))
            except ConnectionClosed:
                pass  # a refused session sends its error frame, then closes: read that frame
            reply = json.loads(self._ws.recv(timeout=self.timeout_s))
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
        if self._ws is None:
            self._connect()
        data: dict[str, Any] = {}
        if seed is not None:
            data["seed"] = seed
        if options:
            data["options"] = options
        try:
            reply = self._call("reset", data)
        except RemoteEnvError as e:
            if e.code != "CONNECTION_LOST":
                raise
            self._connect()  # a stale connection (server restarted): one fresh try
            reply = self._call("reset", data)
        payload = reply.get("data") or {}
        meta = payload.get("metadata") or {}
        self.session_id = meta.get("session_id", self.session_id)
        self.steps, self._done = 0, False
        info = info_from_json(meta.get("info", {}))
        return _as_messages(payload.get("observation")), info

    def step(self, action: str) -> tuple[list, float, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError(f"action must be the reply text (str), got {type(action).__name__}")
        self.steps += 1
        reply = self._call("step", {self.action_key: action})
        payload = reply.get("data") or {}
        meta = payload.get("metadata") or {}
        done = bool(payload.get("done", False))
        terminated = bool(meta.get("terminated", done))
        truncated = bool(meta.get("truncated", False))
        info = info_from_json(meta.get("info", meta))
        reward = payload.get("reward")
        self._done = done
        return (_as_messages(payload.get("observation")), float(reward or 0.0), terminated,
                truncated, info)

    def state(self) -> dict[str, Any]:
        """The server's view of this session (``episode_id``, ``step_count``, ...)."""
        return self._call("state").get("data") or {}

    def clone(self) -> RemoteEnv:
        """A new session on the server holding a copy of this episode (``fork``)."""
        reply = self._call("fork")
        twin = RemoteEnv(self.url, timeout_s=self.timeout_s, action_key=self.action_key,
                         session_id=reply["data"]["session_id"])
        twin._connect()
        twin.steps, twin._done = self.steps, self._done
        return twin

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.send(json.dumps({"type": "close"}))
            except Exception:  # noqa: BLE001 - closing a dead connection is fine
                pass
            self._drop()

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
