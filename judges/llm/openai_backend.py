"""Client for any OpenAI-compatible ``/v1/chat/completions`` server (``vllm serve``, ...).

Uses only the standard library. Every request has one **total deadline**, ``timeout_s``: connect,
sending, every byte of the answer, every retry and every wait between retries fall inside it (a
watchdog shuts the socket down at the deadline, so a server that drips one byte at a time cannot
hold a call past it). Connection errors, 5xx and 429 answers and malformed JSON are retried a
bounded number of times with exponential backoff -- or after the server's ``Retry-After`` when
it asks for longer -- then raised as ``BackendError`` naming the server and the last problem. A
``Retry-After`` that would end past the deadline stops the retries at once. 4xx answers are not
retried. Proxy environment variables are not used (the client talks to the server directly).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from judges.llm.base import BackendError, Messages, SamplingParams

__all__ = ["OpenAIChat"]


def _logsumexp(values: list[float]) -> float:
    if not values:
        return -math.inf
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


class OpenAIChat:
    """Chat completions over HTTP.

    Args:
        base_url: server root including ``/v1``, e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name the server expects.
        api_key: sent as a bearer token when given.
        timeout_s: total deadline of one request, retries and waits included.
        max_retries: retries after the first attempt (so ``max_retries + 1`` tries in all).
        backoff_s: first backoff; doubles each retry.
        max_concurrency: requests in flight at once.
    """

    def __init__(
        self,
        base_url: str,
        model: str = "default",
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_concurrency: int = 8,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_concurrency = max(1, max_concurrency)

    def generate(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None
    ) -> list[str]:
        sampling = sampling or SamplingParams()
        jobs = [
            (conv, None if sampling.seed is None else sampling.seed + i)
            for i, conv in enumerate(conversations)
        ]
        if len(jobs) <= 1 or self.max_concurrency == 1:
            return [self._complete(conv, sampling, seed) for conv, seed in jobs]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(jobs))) as pool:
            return list(pool.map(lambda job: self._complete(job[0], sampling, job[1]), jobs))

    def choice_logprobs(
        self, conversations: Sequence[Messages], choices: Sequence[str], top_logprobs: int = 20
    ) -> list[dict[str, float]]:
        """Per conversation, ``{choice: log P(first reply token reads as choice)}``.

        Asks for one token with ``logprobs: true, top_logprobs: k``; a choice's value sums the
        alternatives whose text equals it once whitespace is stripped (``"Yes"``, ``" Yes"``) and
        is ``-inf`` when none is among the server's top ``k``.
        """
        if not choices:
            raise ValueError("choice_logprobs needs at least one choice")
        sampling = SamplingParams(temperature=0.0, max_new_tokens=1)

        def one(conv: Messages) -> dict[str, float]:
            content = self._complete_logprobs(conv, sampling, None, top_logprobs)[1]
            if not content:
                raise BackendError(f"{self.base_url}: answer has no logprobs.content")
            alternatives = content[0].get("top_logprobs") or [content[0]]
            out = {}
            for choice in choices:
                values = [float(a["logprob"]) for a in alternatives
                          if isinstance(a, dict) and str(a.get("token", "")).strip() == choice.strip()]
                out[choice] = _logsumexp(values)
            return out

        return self._map(one, list(conversations))

    def generate_with_logprobs(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None,
        top_logprobs: int = 0,
    ) -> list[tuple[str, list[dict[str, Any]]]]:
        """Replies plus the server's ``logprobs.content`` (per-token log-probabilities)."""
        sampling = sampling or SamplingParams()
        jobs = [(conv, None if sampling.seed is None else sampling.seed + i)
                for i, conv in enumerate(conversations)]
        return self._map(lambda job: self._complete_logprobs(job[0], sampling, job[1], top_logprobs),
                         jobs)

    def _map(self, fn: Any, jobs: list[Any]) -> list[Any]:
        if len(jobs) <= 1 or self.max_concurrency == 1:
            return [fn(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(jobs))) as pool:
            return list(pool.map(fn, jobs))

    def _complete_logprobs(
        self, conv: Messages, sampling: SamplingParams, seed: int | None, top: int
    ) -> tuple[str, list[dict[str, Any]]]:
        body = self._body(conv, sampling, seed)
        body["logprobs"] = True
        if top:
            body["top_logprobs"] = top
        data = self.request("/chat/completions", body)
        try:
            choice = data["choices"][0]
            content = choice["message"]["content"]
            entries = (choice.get("logprobs") or {}).get("content") or []
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BackendError(
                f"{self.base_url}: answer has no choices[0].message/logprobs: {str(data)[:200]}"
            ) from None
        if not isinstance(entries, list):
            raise BackendError(f"{self.base_url}: logprobs.content is not a list")
        return (content if isinstance(content, str) else ""), entries

    def _body(self, conv: Messages, sampling: SamplingParams, seed: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in conv],
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
            "n": 1,
        }
        if seed is not None:
            body["seed"] = seed
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        return body

    def _complete(self, conv: Messages, sampling: SamplingParams, seed: int | None) -> str:
        data = self.request("/chat/completions", self._body(conv, sampling, seed))
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise BackendError(
                f"{self.base_url}: answer has no choices[0].message.content: {str(data)[:200]}"
            ) from None
        return content if isinstance(content, str) else ""

    def request(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST ``body`` (or GET when ``body`` is None) with retries, all within ``timeout_s``;
        returns the JSON object."""
        url = self.base_url + path
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        payload = None if body is None else json.dumps(body).encode()
        deadline = time.monotonic() + self.timeout_s
        last, attempts, retry_after = "no attempt made", 0, None
        for attempt in range(self.max_retries + 1):
            if attempt:
                wait = self.backoff_s * 2 ** (attempt - 1)
                if retry_after is not None:
                    wait = max(wait, retry_after)
                if time.monotonic() + wait >= deadline:
                    if retry_after is not None:
                        last += f" (server asked to retry after {retry_after:g} s, past the deadline)"
                    break
                time.sleep(wait)
            if time.monotonic() >= deadline:
                break
            attempts += 1
            retry_after = None
            try:
                status, answer_headers, raw = _exchange(url, payload, headers, deadline)
            except (TimeoutError, OSError, http.client.HTTPException) as e:
                last = f"{type(e).__name__}: {e}"
                continue
            if status >= 400:
                last = f"HTTP {status}: {raw[:500].decode(errors='replace')}"
                if status < 500 and status != 429:
                    raise BackendError(f"{url}: {last}")
                retry_after = _retry_after_s(answer_headers.get("Retry-After"))
                continue
            try:
                data = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                last = f"malformed JSON answer: {raw[:200]!r}"
                continue
            if not isinstance(data, dict):
                last = f"answer is not a JSON object: {raw[:200]!r}"
                continue
            return data
        raise BackendError(f"{url}: gave up after {attempts} attempts within the "
                           f"{self.timeout_s:g} s deadline; last error: {last}")


_MAX_ANSWER = 64 * 1024 * 1024


def _retry_after_s(value: str | None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _exchange(
    url: str, payload: bytes | None, headers: dict[str, str], deadline: float
) -> tuple[int, Any, bytes]:
    """One HTTP exchange that ends by ``deadline`` whatever the server does."""
    parts = urllib.parse.urlsplit(url)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("timed out: the deadline passed")
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=remaining,
            context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=remaining)
    fired = threading.Event()

    def cut() -> None:  # the watchdog: wakes any blocked read or write at the deadline
        fired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(remaining, cut)
    watchdog.daemon = True
    watchdog.start()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("GET" if payload is None else "POST", target, body=payload, headers=headers)
        answer = conn.getresponse()
        chunks, size = [], 0
        while chunk := answer.read(65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > _MAX_ANSWER:
                raise http.client.HTTPException(f"answer larger than {_MAX_ANSWER} bytes")
        if fired.is_set():
            raise TimeoutError("timed out: the deadline passed while reading the answer")
        return answer.status, answer.headers, b"".join(chunks)
    except (OSError, http.client.HTTPException) as e:
        if fired.is_set():
            raise TimeoutError("timed out: the deadline passed while waiting for the answer"
                               ) from e
        raise
    finally:
        watchdog.cancel()
        conn.close()
