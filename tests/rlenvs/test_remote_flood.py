"""``rlenvs serve-env`` under a flooding client (issue 26): sessions and connections that are never
closed, oversized payloads, malformed frames. The server must bound what it holds, refuse
clearly, expire what is idle and keep serving the other clients."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from rlenvs.serving import EnvServer, RemoteEnv

ENV = "rlenvs/Arithmetic-v0"


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _ws(base: str) -> Any:
    return connect(f"ws://{base.removeprefix('http://')}/ws", open_timeout=10, max_size=None)


def _call(ws: Any, frame: Any) -> dict[str, Any]:
    ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))
    return json.loads(ws.recv(timeout=30))


def _plays(base: str) -> bool:
    """Another client can still play a whole episode."""
    env = RemoteEnv(base, timeout_s=30)
    try:
        _, info = env.reset(seed=3)
        gold = eval(info["task"]["question"])  # noqa: S307 - our own arithmetic (+ - *)
        return env.step(f"\\boxed{{{gold}}}")[1] == 1.0
    finally:
        env.close()


def _wait(predicate: Any, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_sessions_never_closed_are_bounded_refused_clearly_and_expire():
    with EnvServer([ENV], max_sessions=3, idle_timeout_s=0.8).background() as base, \
            contextlib.ExitStack() as stack:
        held = [stack.enter_context(_ws(base)) for _ in range(3)]  # used once, never closed
        for ws in held:
            assert _call(ws, {"type": "reset", "data": {"seed": 0}})["type"] == "observation"
        with _ws(base) as extra:
            refused = json.loads(extra.recv(timeout=10))
        assert refused["data"]["code"] == "CAPACITY_REACHED"
        assert "3 of 3 sessions" in refused["data"]["message"]
        req = urllib.request.Request(f"{base}/reset", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 503 and b"CAPACITY_REACHED" in err.value.read()
        assert _get(f"{base}/health") == {"status": "healthy"}  # the server still answers
        assert _wait(lambda: _get(f"{base}/sessions")["active_sessions"] == 0)
        for ws in held:  # each idle client is told why its session ended
            assert json.loads(ws.recv(timeout=10))["data"]["code"] == "SESSION_EXPIRED"
        assert _plays(base)


def test_connections_that_never_send_a_request_are_closed():
    with EnvServer([ENV], head_timeout_s=0.5).background() as base:
        host, port = base.removeprefix("http://").split(":")
        silent = [socket.create_connection((host, int(port))) for _ in range(20)]
        trickle = socket.create_connection((host, int(port)))
        trickle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
        with _ws(base) as ws:  # a WebSocket session outlives the head deadline
            assert _call(ws, {"type": "reset", "data": {"seed": 1}})["type"] == "observation"
            time.sleep(1.2)
            for sock in [*silent, trickle]:
                sock.settimeout(5)
                assert sock.recv(100) == b""  # closed by the server
                sock.close()
            assert _call(ws, {"type": "state"})["type"] == "state"
        assert _plays(base)


def test_oversized_and_slow_payloads_are_refused_and_the_server_keeps_serving():
    limit = 64 * 1024
    with EnvServer([ENV], max_message_bytes=limit, head_timeout_s=1.0).background() as base:
        with _ws(base) as ws:
            with pytest.raises(Exception, match="1009|too big"):
                _call(ws, {"type": "step", "data": {"message": "x" * (limit + 1)}})
        for body, headers in [(b"{" + b" " * limit + b"}", {}),  # declared too large
                              (iter([b"{", b" " * limit, b"}"]), {"Transfer-Encoding": "chunked"})]:
            req = urllib.request.Request(f"{base}/reset", data=body, method="POST",
                                         headers=headers)
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=10)
            assert err.value.code == 413
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as slow:  # a body that never comes
            slow.sendall(b"POST /reset HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            slow.settimeout(10)
            assert b" 408 " in slow.recv(1000)
        assert _get(f"{base}/sessions")["active_sessions"] == 0
        assert _plays(base)


# ------------------------------------------------------------------ malformed frames, generated

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
KINDS = st.sampled_from(["reset", "step", "state", "fork", "bogus", "", None, 3])
DATA = JSON | st.fixed_dictionaries({}, optional={
    "seed": JSON, "options": JSON, "task": JSON, "episode_id": JSON, "message": JSON,
    "timeout_s": JSON, "metadata": JSON})
FRAMES = (st.text(max_size=200) | st.binary(max_size=200)
          | st.builds(lambda k, d: json.dumps({"type": k, "data": d}), KINDS, DATA)
          | st.integers(1, 5000).map(lambda n: "[" * n + "]" * (n % 3)))


@pytest.fixture(scope="module")
def flood_server():
    with EnvServer([ENV], max_sessions=128, idle_timeout_s=60).background() as base:
        yield base


@pytest.fixture(scope="module")
def session(flood_server):
    with _ws(flood_server) as ws:
        yield ws


@settings(max_examples=60)
@given(frame=FRAMES)
def test_a_malformed_frame_gets_an_answer_and_the_session_lives_on(session, frame):
    reply = _call(session, frame)
    assert reply["type"] in ("error", "observation", "state", "fork")
    if reply["type"] == "error":
        assert reply["data"]["code"] and reply["data"]["message"]
    assert _call(session, {"type": "reset", "data": {"seed": 2}})["type"] == "observation"


def test_the_server_still_serves_after_the_malformed_frames(flood_server):
    assert _plays(flood_server)
