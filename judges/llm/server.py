"""A small OpenAI-compatible HTTP server over any ``ChatModel`` (``rlenvs serve``).

Serves ``GET /v1/models`` and ``POST /v1/chat/completions`` as OpenAI's API does: ``max_tokens``
(or ``max_completion_tokens``; default the server's ``max_new_tokens``), ``n`` choices (choice
``i`` sampled with ``seed + i``), ``stop``, ``seed``, ``temperature``/``top_p``, ``usage`` token
counts, ``finish_reason`` (``"length"`` when cut at the token limit), ``"stream": true`` as
server-sent events of ``chat.completion.chunk`` objects (``stream_options.include_usage`` adds a
usage chunk; the reply is generated whole, then streamed), and ``"logprobs": true`` with
``"top_logprobs": k`` (at most 20) when the model provides them (the local transformers backend
does; otherwise such a request is answered 400). Token counts and finish reasons come from models
with ``generate_completions`` (the local backend); for other models ``usage`` is ``null``.
A request's ``model`` must be the served model's name (``GET /v1/models``), ``"default"`` or
absent; another name is answered 404 ``model_not_found`` naming the served one, as OpenAI's API
and vLLM answer it (a client that thinks it talks to another model should hear so). Bad
fields are answered 400 naming the field as the client wrote it (``max_tokens``, ``n``, ...).
Meant for local use and tests on loopback; use ``vllm serve`` for production throughput.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from judges.llm.base import ChatModel, Completion, SamplingParams

__all__ = ["ChatServer", "stream_chunks"]

_MAX_BODY = 16 * 1024 * 1024
_MAX_CHOICES = 16


class UnknownModel(LookupError):
    """A request names a model this server does not serve (HTTP 404, ``model_not_found``)."""


def _max_tokens(body: dict[str, Any]) -> int | None:
    """The request's token limit (``max_completion_tokens``, else ``max_tokens``), checked and
    named as the client wrote it; ``None`` when neither is given."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
        return value
    return None


class ChatServer:
    """Serve ``model`` at ``http://host:port/v1``; ``port=0`` picks a free port."""

    def __init__(self, model: ChatModel, host: str = "127.0.0.1", port: int = 0,
                 max_new_tokens: int = 256):
        self.model = model
        self.max_new_tokens = max_new_tokens  # a request without max_tokens gets this many
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
                except UnknownModel as e:  # OpenAI's answer to a model it does not serve
                    self._send(404, {"error": {"message": str(e), "type": "invalid_request_error",
                                               "param": "model", "code": "model_not_found"}})
                    return
                except (ValueError, KeyError, TypeError) as e:
                    self._send(400, {"error": {"message": f"bad request: {e}"}})
                    return
                except Exception as e:  # noqa: BLE001 - report, keep serving
                    self._send(500, {"error": {"message": f"{type(e).__name__}: {e}"}})
                    return
                if body.get("stream"):
                    self._stream(reply, body)
                else:
                    self._send(200, reply)

            def _stream(self, reply: dict[str, Any], body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                options = body.get("stream_options") or {}
                for chunk in stream_chunks(reply, bool(options.get("include_usage"))):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def _check_model(self, requested: Any) -> None:
        """A request names the served model (or ``"default"``, or none: rlenvs' own clients);
        any other name is refused, as OpenAI's API and vLLM refuse it, naming what is served."""
        if requested in (None, "", "default", self.model.name):
            return
        raise UnknownModel(f"The model {requested!r} does not exist on this server; it serves "
                           f"{self.model.name!r} (GET /v1/models)")

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """Answer one chat-completion request body (a ``chat.completion`` object)."""
        messages = body["messages"]
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages
        ):
            raise ValueError("messages must be a list of {role, content} objects")
        n = int(body.get("n") or 1)
        if not 1 <= n <= _MAX_CHOICES:
            raise ValueError(f"n must be between 1 and {_MAX_CHOICES}")
        self._check_model(body.get("model"))
        stop = body.get("stop") or ()
        limit = _max_tokens(body)
        temperature = body.get("temperature")
        top_p = body.get("top_p")
        sampling = SamplingParams(
            temperature=1.0 if temperature is None else float(temperature),
            top_p=1.0 if top_p is None else float(top_p),
            max_new_tokens=self.max_new_tokens if limit is None else limit,
            seed=None if body.get("seed") is None else int(body["seed"]),
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
        )
        top = None
        if body.get("logprobs"):
            top = int(body.get("top_logprobs") or 0)
            if not 0 <= top <= 20:
                raise ValueError("top_logprobs must be between 0 and 20")
            if not hasattr(self.model, "generate_with_logprobs"):
                raise ValueError(f"model {self.model.name!r} does not provide logprobs")
        with self._lock:
            done = self._generate([messages] * n, sampling, top)
            self.requests_served += 1
        usage = None
        if all(c.prompt_tokens >= 0 for c in done):
            completion = sum(c.completion_tokens for c in done)
            usage = {"prompt_tokens": done[0].prompt_tokens, "completion_tokens": completion,
                     "total_tokens": done[0].prompt_tokens + completion}
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model.name,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": c.text},
                    "logprobs": None if top is None else {"content": c.logprobs or []},
                    "finish_reason": c.finish_reason,
                }
                for i, c in enumerate(done)
            ],
            "usage": usage,
        }

    def _generate(self, conversations: list[Any], sampling: SamplingParams,
                  top: int | None) -> list[Completion]:
        detailed = getattr(self.model, "generate_completions", None)
        if detailed is not None:
            return detailed(conversations, sampling, top_logprobs=top)
        if top is not None:  # a model that only proxies log-probs (e.g. another HTTP server)
            pairs = self.model.generate_with_logprobs(conversations, sampling, top_logprobs=top)
            return [Completion(text, "stop", -1, len(entries), entries) for text, entries in pairs]
        return [Completion(text, "stop", -1, -1)
                for text in self.model.generate(conversations, sampling)]

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


def stream_chunks(reply: dict[str, Any], include_usage: bool = False) -> list[dict[str, Any]]:
    """A ``chat.completion`` as the ``chat.completion.chunk`` objects OpenAI streams: per choice a
    role delta, content deltas (one per token where log-probs are known, else per word) and a
    finish delta; then, when asked, a usage chunk with no choices."""
    head = {k: reply[k] for k in ("id", "created", "model")}
    head["object"] = "chat.completion.chunk"

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None,
              logprobs: Any = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": index, "delta": delta, "logprobs": logprobs,
                                     "finish_reason": finish}]}

    chunks = []
    for choice in reply["choices"]:
        i, text = choice["index"], choice["message"]["content"]
        chunks.append(chunk(i, {"role": "assistant", "content": ""}))
        entries = (choice.get("logprobs") or {}).get("content")
        if entries and "".join(e["token"] for e in entries) == text:
            for e in entries:
                chunks.append(chunk(i, {"content": e["token"]}, logprobs={"content": [e]}))
        else:
            for piece in re.findall(r"\s*\S+|\s+", text):
                chunks.append(chunk(i, {"content": piece}))
        chunks.append(chunk(i, {}, choice["finish_reason"]))
    if include_usage:
        chunks.append({**head, "choices": [], "usage": reply["usage"]})
    return chunks
