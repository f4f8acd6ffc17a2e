"""``EnvServer``: rlenvs environments over the network, speaking OpenEnv's protocol.

Several environments per server; each is served under its id and the first one also at the root:

* ``ws://HOST:PORT/<env id>/ws`` (and ``/ws`` for the first env): a session per connection,
  the frames of :mod:`rlenvs.serving.protocol`; ``?session_id=ID`` attaches to a forked session;
* ``GET /health``, ``/metadata``, ``/schema`` (per env too), ``GET /envs`` (the ids),
  ``GET /sessions`` (capacity), ``POST /reset`` (stateless: the first observation, as OpenEnv's
  simulation-mode HTTP endpoint); ``POST /step`` answers 409 (an episode needs a session).

So OpenEnv's ``GenericEnvClient(base_url="http://HOST:PORT/rlenvs/ToolMath-v0")`` and
``rlenvs.make("http://HOST:PORT/rlenvs/ToolMath-v0")`` both work.

What leaves the server is the public view of each episode (:mod:`rlenvs.serving.public`): no
task's private field (answer, solution, tests, reference) is ever sent unless the server is
started with ``reveal_private=True``. A client may not choose the task (``options.task``)
unless the server is started with ``allow_client_tasks=True``: a client that picks its own
task and answer would collect a reward for nothing. Frames and request bodies are bounded by
``max_message_bytes``; sessions by ``max_sessions`` and ``idle_timeout_s``.

>>> server = EnvServer(["rlenvs/Arithmetic-v0", "rlenvs/ToolMath-v0"], max_sessions=32)
>>> server.run(host="127.0.0.1", port=8000)          # blocking; or: with server.background(): ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from rlenvs.serving.limits import BodyTooLarge, BodyTooSlow, bounded_config, read_body
from rlenvs.serving.protocol import (
    ACTION_KEY,
    RESET_KEYS,
    ErrorCode,
    error_frame,
    step_payload,
    to_jsonable,
)
from rlenvs.serving.public import PublicView
from rlenvs.serving.sessions import (
    CapacityError,
    DeadlineExceeded,
    Session,
    SessionManager,
    UnknownSession,
)

__all__ = ["EnvServer", "RequestError"]


class RequestError(ValueError):
    """A request the server refuses (bad fields); becomes a ``VALIDATION_ERROR`` frame."""


CLIENT_TASKS_OFF = ("this server does not take client-chosen tasks (reset 'task' / "
                    "options['task']): it draws its own (send a 'seed' to pick one "
                    "reproducibly); start it with --allow-client-tasks to allow them")


def _reset_call(data: dict[str, Any], allow_client_tasks: bool = False,
                ) -> tuple[dict[str, Any], str | None]:
    unknown = set(data) - RESET_KEYS
    if unknown:
        raise RequestError(f"unknown reset field(s) {sorted(unknown)}; allowed: "
                           f"{sorted(RESET_KEYS)}")
    seed, options = data.get("seed"), data.get("options")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise RequestError("seed must be a non-negative integer")
    if options is not None and not isinstance(options, dict):
        raise RequestError("options must be an object")
    options = dict(options or {})
    if "task" in data:
        options["task"] = data["task"]
    if "task" in options and not allow_client_tasks:
        raise RequestError(CLIENT_TASKS_OFF)
    episode_id = data.get("episode_id")
    if episode_id is not None and not isinstance(episode_id, str):
        raise RequestError("episode_id must be a string")
    return {"seed": seed, "options": options or None}, episode_id


def _action_text(data: Any) -> str:
    if not isinstance(data, dict) or not isinstance(data.get(ACTION_KEY), str):
        raise RequestError(f'a step action is {{"{ACTION_KEY}": "<reply text>"}} (optionally '
                           '"timeout_s" and "metadata")')
    unknown = set(data) - {ACTION_KEY, "timeout_s", "metadata"}
    if unknown:
        raise RequestError(f"unknown action field(s) {sorted(unknown)}")
    return data[ACTION_KEY]


class EnvServer:
    """Serve ``env_ids`` (registered or plugin ids) with bounded, reaped, deadlined sessions.

    Args:
        env_ids: the environments; the first is also served at the root path.
        env_kwargs: keyword arguments per env id (``{id: {...}}``) for ``rlenvs.make``.
        max_sessions: live sessions allowed across all envs (more are refused).
        idle_timeout_s: sessions idle this long are closed (``None``: never).
        call_timeout_s: deadline of every environment call (reset, step, fork).
        allow_client_tasks: accept a task chosen by the client (``options["task"]``); off by
            default (a client choosing the task chooses its answer).
        reveal_private: send tasks' private fields, whole ``info`` and verdicts (trusted
            clients only); off by default.
        max_message_bytes: the largest WebSocket frame or HTTP request body accepted.
        state_key_secret: the key of the wire ``state_key`` (servers of one farm share it so
            equal states get equal keys across them); default: ``$RLENVS_STATE_KEY_SECRET``,
            else random per server.
        head_timeout_s: a connection's request head (or WebSocket handshake) and an HTTP
            body must arrive within this, else the connection is closed
            (:mod:`rlenvs.serving.limits`).
    """

    def __init__(self, env_ids: Sequence[str], env_kwargs: dict[str, dict[str, Any]] | None = None,
                 max_sessions: int = 64, idle_timeout_s: float | None = 300.0,
                 call_timeout_s: float = 60.0, allow_client_tasks: bool = False,
                 reveal_private: bool = False, max_message_bytes: int = 1 << 20,
                 head_timeout_s: float = 10.0, state_key_secret: str | None = None) -> None:
        import rlenvs
        from rlenvs.registration import resolve_id

        if not env_ids:
            raise ValueError("serve at least one environment id")
        self.env_ids = [resolve_id(i) for i in env_ids]
        self.env_kwargs = {resolve_id(k): v for k, v in (env_kwargs or {}).items()}
        self._make = rlenvs.make
        self.allow_client_tasks = allow_client_tasks
        secret = state_key_secret or os.environ.get("RLENVS_STATE_KEY_SECRET")
        self.view = PublicView(reveal_private=reveal_private,
                               secret=secret.encode() if secret else None)
        self.max_message_bytes = max_message_bytes
        self.head_timeout_s = head_timeout_s
        self.sessions = SessionManager(self._make_env, max_sessions=max_sessions,
                                       idle_timeout_s=idle_timeout_s,
                                       call_timeout_s=call_timeout_s)
        self.app = self._build_app()

    def _make_env(self, env_id: str) -> Any:
        return self._make(env_id, **self.env_kwargs.get(env_id, {}))

    # ------------------------------------------------------------------ app
    def _build_app(self) -> Starlette:
        routes: list[Any] = [
            Route("/envs", self._envs),
            Route("/sessions", self._capacity),
        ]
        for prefix, env_id in [("", self.env_ids[0])] + [(f"/{i}", i) for i in self.env_ids]:
            routes += [
                Route(f"{prefix}/health", self._health),
                Route(f"{prefix}/metadata", self._metadata(env_id)),
                Route(f"{prefix}/schema", self._schema),
                Route(f"{prefix}/reset", self._http_reset(env_id), methods=["POST"]),
                Route(f"{prefix}/step", self._http_step, methods=["POST"]),
                WebSocketRoute(f"{prefix}/ws", self._ws(env_id)),
            ]
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> Any:
            self.sessions.start()
            try:
                yield
            finally:
                await self.sessions.stop()

        return Starlette(routes=routes, lifespan=lifespan)

    async def _envs(self, request: Request) -> JSONResponse:
        return JSONResponse({"envs": self.env_ids, "default": self.env_ids[0]})

    async def _capacity(self, request: Request) -> JSONResponse:
        return JSONResponse({**self.sessions.capacity(), "reaped": self.sessions.reaped})

    async def _health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "healthy"})

    def _metadata(self, env_id: str) -> Any:
        async def metadata(request: Request) -> JSONResponse:
            return JSONResponse({"name": env_id, "description": f"rlenvs environment {env_id}: "
                                 "chat observations, text actions", "version": None})
        return metadata

    async def _schema(self, request: Request) -> JSONResponse:
        text = {"type": "string"}
        messages = {"type": "array", "items": {"type": "object", "properties": {
            "role": text, "content": text}}}
        return JSONResponse({
            "action": {"type": "object", "properties": {ACTION_KEY: text, "timeout_s": {
                "type": "number"}}, "required": [ACTION_KEY]},
            "observation": {"type": "object", "properties": {"messages": messages,
                                                             "metadata": {"type": "object"}}},
            "state": {"type": "object", "properties": {"episode_id": text, "step_count": {
                "type": "integer"}, "session_id": text, "env_id": text}},
        })

    def _http_reset(self, env_id: str) -> Any:
        async def reset(request: Request) -> JSONResponse:
            try:
                raw = await read_body(request.stream(), self.max_message_bytes,
                                      self.head_timeout_s, request.headers.get("content-length", ""))
                body = json.loads(raw) if raw.strip() else {}
                kwargs, _ = _reset_call(body if isinstance(body, dict) else {},
                                        self.allow_client_tasks)
                session = await self.sessions.open(env_id)
            except BodyTooLarge as e:
                return JSONResponse(error_frame(ErrorCode.VALIDATION_ERROR, str(e))["data"], 413)
            except BodyTooSlow as e:
                return JSONResponse(error_frame(ErrorCode.VALIDATION_ERROR, str(e))["data"], 408)
            except (RequestError, ValueError, RecursionError) as e:
                return JSONResponse(error_frame(ErrorCode.VALIDATION_ERROR, str(e))["data"], 422)
            except CapacityError as e:
                return JSONResponse(error_frame(ErrorCode.CAPACITY_REACHED, str(e),
                                                **self.sessions.capacity())["data"], 503)
            try:
                obs, info = await self.sessions.call(session, lambda env: env.reset(**kwargs),
                                                     count_step=False)
                return JSONResponse(step_payload(obs, None, False, False,
                                                 self.view.info(session.env, info)))
            except Exception as e:  # noqa: BLE001 - reported, never a 500 page
                return JSONResponse(error_frame(ErrorCode.EXECUTION_ERROR, self.view.text(
                    session.env, str(e)))["data"], 500)
            finally:
                await self.sessions.close(session)
        return reset

    async def _http_step(self, request: Request) -> JSONResponse:
        return JSONResponse(error_frame(ErrorCode.SESSION_ERROR, "an episode needs a session: "
                                        "open the WebSocket <base>/ws (HTTP /step is stateless)")
                            ["data"], 409)

    # ------------------------------------------------------------------ websocket sessions
    def _ws(self, env_id: str) -> Any:
        async def endpoint(websocket: WebSocket) -> None:
            await websocket.accept()
            send_lock = asyncio.Lock()  # the reaper may send while the handler does

            async def send(frame: dict[str, Any]) -> None:
                async with send_lock:
                    await websocket.send_text(json.dumps(frame))

            try:
                requested = websocket.query_params.get("session_id")
                session = (self.sessions.attach(requested) if requested
                           else await self.sessions.open(env_id))
            except CapacityError as e:
                await send(error_frame(ErrorCode.CAPACITY_REACHED, str(e),
                                       active_sessions=e.active, max_sessions=e.limit))
                await websocket.close(code=1013)
                return
            except UnknownSession as e:
                await send(error_frame(ErrorCode.UNKNOWN_SESSION, str(e)))
                await websocket.close(code=1008)
                return
            except Exception as e:  # noqa: BLE001 - the env could not be made
                await send(error_frame(ErrorCode.FACTORY_ERROR, f"{type(e).__name__}: {e}",
                                       env_id=env_id))
                await websocket.close(code=1011)
                return

            async def expire(message: str) -> None:
                await send(error_frame(ErrorCode.SESSION_EXPIRED, message,
                                       session_id=session.id, step=session.step_count))
                await websocket.close(code=1001)

            session.on_expire = expire
            try:
                while True:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    raw = message.get("text")
                    if raw is None:
                        frame = error_frame(ErrorCode.INVALID_JSON, "frames are JSON text, not "
                                            "binary", session_id=session.id,
                                            step=session.step_count)
                    else:
                        frame = await self._handle(session, raw)
                    if frame is None:  # close
                        break
                    await send(frame)
                    if frame["type"] == "error" and frame["data"]["code"] in (
                            ErrorCode.DEADLINE_EXCEEDED, ErrorCode.SESSION_EXPIRED):
                        break
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                await self.sessions.close(session)
                with contextlib.suppress(Exception):
                    await websocket.close()
        return endpoint

    async def _handle(self, session: Session, raw: str) -> dict[str, Any] | None:
        where = {"session_id": session.id, "step": session.step_count}
        if len(raw) > self.max_message_bytes:  # uvicorn bounds frames too; this covers others
            return error_frame(ErrorCode.VALIDATION_ERROR, f"frame larger than the server's "
                               f"limit of {self.max_message_bytes} bytes", **where)
        try:
            message = json.loads(raw)
        except (ValueError, RecursionError) as e:  # malformed, or nested past the parser
            return error_frame(ErrorCode.INVALID_JSON, f"Invalid JSON: {e}", **where)
        if not isinstance(message, dict):
            return error_frame(ErrorCode.INVALID_JSON, "a frame must be a JSON object", **where)
        kind, data = message.get("type"), message.get("data") or {}
        try:
            if kind == "reset":
                if not isinstance(data, dict):
                    raise RequestError("reset data must be an object")
                kwargs, episode_id = _reset_call(data, self.allow_client_tasks)
                obs, info = await self.sessions.call(
                    session, lambda env: env.reset(**kwargs), count_step=False)
                session.step_count, session.episode_id = 0, episode_id
                return {"type": "observation", "data": step_payload(
                    obs, None, False, False, self.view.info(session.env, info),
                    session_id=session.id, step=0)}
            if kind == "step":
                text = _action_text(data)
                deadline = self.sessions.deadline(data.get("timeout_s"))
                obs, reward, terminated, truncated, info = await self.sessions.call(
                    session, lambda env: env.step(text), timeout_s=deadline)
                return {"type": "observation", "data": step_payload(
                    obs, reward, terminated, truncated, self.view.info(session.env, info),
                    session_id=session.id, step=session.step_count)}
            if kind == "state":
                return {"type": "state", "data": self._state(session)}
            if kind == "fork":
                child = await self.sessions.fork(session)
                return {"type": "fork", "data": {"session_id": child.id}}
            if kind == "close":
                return None
            return error_frame(ErrorCode.UNKNOWN_TYPE, f"Unknown message type: {kind}", **where)
        except RequestError as e:
            return error_frame(ErrorCode.VALIDATION_ERROR, str(e), **where)
        except CapacityError as e:
            return error_frame(ErrorCode.CAPACITY_REACHED, str(e), active_sessions=e.active,
                               max_sessions=e.limit, **where)
        except DeadlineExceeded as e:
            return error_frame(ErrorCode.DEADLINE_EXCEEDED, f"{kind} {e}; the session was "
                               "closed (its environment may be mid-step)", **where)
        except UnknownSession as e:
            return error_frame(ErrorCode.SESSION_EXPIRED, str(e), **where)
        except Exception as e:  # noqa: BLE001 - an env error is reported, the session lives on
            text = self.view.text(session.env, f"{type(e).__name__}: {e}")
            return error_frame(ErrorCode.EXECUTION_ERROR, text, error_type=type(e).__name__,
                               **where)

    def _state(self, session: Session) -> dict[str, Any]:
        env = session.env.unwrapped
        episode = getattr(env, "_episode", None)
        return to_jsonable({
            "episode_id": session.episode_id, "step_count": session.step_count,
            "session_id": session.id, "env_id": session.env_id,
            "task": self.view.task(session.env, getattr(episode, "task", None)),
            "done": getattr(episode, "done", None),
        })

    # ------------------------------------------------------------------ running
    def run(self, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning") -> None:
        """Serve until interrupted (blocking)."""
        import uvicorn

        uvicorn.Server(self._config(host, port, log_level)).run()

    def _config(self, host: str, port: int, log_level: str) -> Any:
        return bounded_config(self.app, host=host, port=port, log_level=log_level,
                              max_message_bytes=self.max_message_bytes,
                              head_timeout_s=self.head_timeout_s)

    @contextlib.contextmanager
    def background(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve in a thread of this process; yields the base URL (``port=0``: a free port)."""
        import time

        import uvicorn

        server = uvicorn.Server(self._config(host, port, "warning"))
        thread = threading.Thread(target=server.run, name="rlenvs-env-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the environment server did not start")
            time.sleep(0.02)
        bound = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://{host}:{bound}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
