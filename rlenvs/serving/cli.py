"""``rlenvs serve-env``: serve environments over OpenEnv's protocol (an ``rlenvs.commands`` entry).

    rlenvs serve-env rlenvs/ToolMath-v0 rlenvs/Arithmetic-v0 --port 8000 --max-sessions 64
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

__all__ = ["add_serve_env_parser", "serve_env"]


def _env_kwargs(pairs: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        target, sep, value = pair.partition("=")
        env_id, dot, key = target.rpartition(":")
        if not sep or not key:
            raise SystemExit(f"--env-kwarg expects [ENV-ID:]KEY=VALUE, got {pair!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out.setdefault(env_id if dot else "*", {})[key] = parsed
    return out


def serve_env(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    for spec in args.imports:
        module, _, fn = spec.partition(":")
        loaded = importlib.import_module(module)
        if fn:
            getattr(loaded, fn)()
    from rlenvs.serving.server import EnvServer

    kwargs = _env_kwargs(args.env_kwarg)
    shared = kwargs.pop("*", {})
    per_env = {i: {**shared, **kwargs.get(i, {})} for i in args.env_ids}
    server = EnvServer(args.env_ids, env_kwargs=per_env, max_sessions=args.max_sessions,
                       idle_timeout_s=args.idle_timeout_s or None,
                       call_timeout_s=args.call_timeout_s,
                       allow_client_tasks=args.allow_client_tasks,
                       reveal_private=args.reveal_private,
                       max_message_bytes=args.max_message_bytes,
                       head_timeout_s=args.head_timeout_s)
    print(f"serving {', '.join(server.env_ids)} on http://{args.host}:{args.port} "
          f"(WebSocket /<env id>/ws; first env also at /ws)", flush=True)
    server.run(host=args.host, port=args.port, log_level=args.log_level)
    return 0


def add_serve_env_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve-env`` to an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser(
        "serve-env", help="serve environments over the network (OpenEnv protocol)",
        description="Serve rlenvs environments (registered or plugin ids) over OpenEnv's "
                    "HTTP + WebSocket protocol. Connect with rlenvs.make('http://HOST:PORT/"
                    "ENV-ID') or OpenEnv's GenericEnvClient(base_url=...).")
    p.add_argument("env_ids", nargs="+", metavar="ENV-ID", help="environments to serve")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-sessions", type=int, default=64,
                   help="live sessions allowed; more are refused with CAPACITY_REACHED")
    p.add_argument("--idle-timeout-s", type=float, default=300.0,
                   help="close sessions idle this long (0: never)")
    p.add_argument("--call-timeout-s", type=float, default=60.0,
                   help="deadline of each reset/step/fork call")
    p.add_argument("--allow-client-tasks", action="store_true",
                   help="accept tasks chosen by the client (reset 'task'); off by default: a "
                        "client that picks the task picks its answer")
    p.add_argument("--reveal-private", action="store_true",
                   help="send tasks' private fields (answers, tests...), whole info and "
                        "verdict details to clients; for trusted evaluation clients only")
    p.add_argument("--max-message-bytes", type=int, default=1 << 20,
                   help="largest WebSocket frame / HTTP body accepted (default 1 MiB)")
    p.add_argument("--head-timeout-s", type=float, default=10.0,
                   help="close a connection whose request head, WebSocket handshake or HTTP "
                        "body has not arrived within this")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="[ENV-ID:]KEY=VALUE",
                   help="keyword argument for the environments (JSON value), repeatable")
    p.add_argument("--import", dest="imports", action="append", default=[],
                   metavar="MODULE[:FUNCTION]",
                   help="import a module (and call a function) that registers environments")
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=serve_env)
    return p
