"""A small OpenAI-compatible HTTP server over any ``ChatModel`` (``rlenvs serve``).

Serves ``GET /v1/models`` and ``POST /v1/chat/completions`` (non-streaming). With
``"logprobs": true`` (and optionally ``"top_logprobs": k``, at most 20) the answer carries
``choices[0].logprobs.content`` like OpenAI's, when the model has ``generate_with_logprobs``
(the local transformers backend does); otherwise such a request is answered 400. Meant for local
use and tests on loopback; use ``vllm serve`` for production throughput.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from judges.llm.base import ChatModel, SamplingParams

__all__ = ["ChatServer"]

_MAX_BODY = 16 * 1024 * 1024


class ChatServer:
    """Serve ``model`` at ``http://host:port/v1``; ``port=0`` picks a free port."""

    def __init__(self, model: ChatModel, host: str = "127.0.0.1", port: int = 0):
        self.model = model
        self.requests_served = 0  # completed chat completions (tests count backend calls)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet by default
                pass

            def _send(self, code: int, obj: dict[str, Any]) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": model.name, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:  # noqa: N802
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length <= 0 or length > _MAX_BODY:
                    self._send(400, {"error": {"message": "missing or oversized body"}})
                    return
                try:
                    body = json.loads(self.rfile.read(length))
                    reply = server.complete(body)
                except (ValueError, KeyError, TypeError) as e:
                    self._send(400, {"error": {"message": f"bad request: {e}"}})
                    return
                except Exception as e:  # noqa: BLE001 - report, keep serving
                    self._send(500, {"error": {"message": f"{type(e).__name__}: {e}"}})
                    return
                self._send(200, reply)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages
        ):
            raise ValueError("messages must be a list of {role, content} objects")
        stop = body.get("stop") or ()
        sampling = SamplingParams(
            temperature=float(body.get("temperature", 1.0)),
            top_p=float(body.get("top_p", 1.0)),
            max_new_tokens=int(body.get("max_tokens") or 256),
            seed=body.get("seed"),
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
        )
        logprobs = None
        if body.get("logprobs"):
            top = int(body.get("top_logprobs") or 0)
            if not 0 <= top <= 20:
                raise ValueError("top_logprobs must be between 0 and 20")
            scorer = getattr(self.model, "generate_with_logprobs", None)
            if scorer is None:
                raise ValueError(f"model {self.model.name!r} does not provide logprobs")
            with self._lock:
                text, content = scorer([messages], sampling, top_logprobs=top)[0]
                self.requests_served += 1
            logprobs = {"content": content}
        else:
            with self._lock:
                text = self.model.generate([messages], sampling)[0]
                self.requests_served += 1
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model.name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": logprobs,
                    "finish_reason": "stop",
                }
            ],
        }

    def start(self) -> ChatServer:
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
