"""Red team, LLM judges over HTTP: a judge server that stalls, drips, throttles or fails must
not hold a judge call past its deadline, and must not turn into a passing verdict
(issue 13 items 11 and 12). Real ``http.server`` servers on loopback, the real client."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from judges.llm import BackendError
from judges.llm.openai_backend import OpenAIChat
from judges.llmjudge import PointwiseJudge

TASK = {"prompt": "2+2?"}
REPLY = json.dumps({"choices": [{"message": {"content": "Score: 9/10"}}]}).encode()


class _Server:
    """A ``ThreadingHTTPServer`` on loopback running ``handler``; records request times."""

    def __init__(self, handler):
        self.times: list[float] = []
        self.stop = threading.Event()
        owner = self

        class Handler(handler):
            server_owner = owner

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class _Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _arrived(self):
        self.server_owner.times.append(time.monotonic())
        self.rfile.read(int(self.headers["Content-Length"]))

    def _drip(self, data: bytes) -> None:
        """Write ``data`` one byte every 0.2 s until done, stopped or disconnected."""
        try:
            for byte in data:
                if self.server_owner.stop.is_set():
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            return


class _Drip(_Base):
    """Headers at once, then the body one byte every 0.2 s (a 40 s answer)."""

    def do_POST(self):  # noqa: N802
        self._arrived()
        body = b" " * 200 + REPLY
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._drip(body)


class _DripHeaders(_Base):
    """The status line and headers themselves, one byte every 0.2 s."""

    def do_POST(self):  # noqa: N802
        self._arrived()
        self._drip(b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 200 + b"\r\n")


class _Throttle(_Base):
    """429 with ``Retry-After: <retry_after>`` on the first request, then an answer."""

    retry_after = "1"

    def do_POST(self):  # noqa: N802
        self._arrived()
        if len(self.server_owner.times) == 1:
            body = b'{"error": "slow down"}'
            self.send_response(429)
            self.send_header("Retry-After", self.retry_after)
        else:
            body = REPLY
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Throttle30(_Throttle):
    retry_after = "30"


class _Broken(_Base):
    def do_POST(self):  # noqa: N802
        self._arrived()
        body = b'{"error": "internal"}'
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("handler", [_Drip, _DripHeaders])
def test_a_dripping_server_cannot_hold_a_call_past_its_deadline(handler):
    # issue 13 item 11: timeout_s=2 was held for 84 s by one byte every 0.5 s
    with _Server(handler) as server:
        client = OpenAIChat(server.url, timeout_s=1.0, max_retries=3, backoff_s=0.05)
        start = time.monotonic()
        with pytest.raises(BackendError, match="timed out"):
            client.generate([[{"role": "user", "content": "hi"}]])
        elapsed = time.monotonic() - start
        # the drip would take 40+ s; the deadline bounds the whole call, retries included
        assert elapsed < 10, elapsed
        assert len(server.times) == 1, "no retry starts after the deadline"
        verdict = PointwiseJudge(client)("4", TASK)
        assert not verdict.passed and "timed out" in verdict.reason


def test_retry_after_is_honoured_within_the_deadline():
    with _Server(_Throttle) as server:
        client = OpenAIChat(server.url, timeout_s=20, max_retries=2, backoff_s=0.01)
        assert client.generate([[{"role": "user", "content": "hi"}]]) == ["Score: 9/10"]
        assert len(server.times) == 2
        assert server.times[1] - server.times[0] >= 0.95  # waited as asked, not 0.01 s


def test_retry_after_past_the_deadline_gives_up_at_once():
    with _Server(_Throttle30) as server:
        client = OpenAIChat(server.url, timeout_s=2, max_retries=3, backoff_s=0.01)
        start = time.monotonic()
        with pytest.raises(BackendError, match="retry after 30 s, past the deadline"):
            client.generate([[{"role": "user", "content": "hi"}]])
        assert time.monotonic() - start < 10 and len(server.times) == 1


def test_a_failing_judge_server_is_a_failing_verdict_with_the_reason():
    # issue 13 item 12
    with _Server(_Broken) as server:
        client = OpenAIChat(server.url, timeout_s=5, max_retries=1, backoff_s=0.01)
        verdict = PointwiseJudge(client)("4", TASK)
        assert not verdict.passed and verdict.score == 0.0
        assert "HTTP 500" in verdict.reason and verdict.details["backend_error"]
        with pytest.raises(BackendError, match="HTTP 500"):
            PointwiseJudge(client, raise_on_error=True)("4", TASK)
