"""LLM backends for judges: log-probabilities (local and over HTTP), the disk cache, faults."""

from __future__ import annotations

import http.server
import json
import math
import threading
import time

import pytest

from judges.llm import BackendError, SamplingParams
from judges.llm.cache import CachedChat
from judges.llm.openai_backend import OpenAIChat
from judges.llm.server import ChatServer
from rlenvs.policies import FunctionPolicy

QUESTION = [{"role": "user", "content": "Is Paris the capital of France? Answer Yes or No."}]
OTHER = [{"role": "user", "content": "Is the sun cold? Answer Yes or No."}]


def test_local_choice_logprobs_are_normalised_log_probabilities(smollm2):
    rows = smollm2.choice_logprobs([QUESTION, OTHER], ["Yes", "No"])
    assert len(rows) == 2
    for row in rows:
        assert set(row) == {"Yes", "No"}
        total = math.exp(row["Yes"]) + math.exp(row["No"])
        assert 0.0 < total <= 1.0 + 1e-6
    # batching does not change the numbers beyond bf16 noise (left padding is handled)
    alone = smollm2.choice_logprobs([OTHER], ["Yes", "No"])[0]
    assert alone["Yes"] == pytest.approx(rows[1]["Yes"], abs=0.15)


def test_http_logprobs_match_the_local_model(smollm2):
    params = SamplingParams(temperature=0.0, max_new_tokens=6)
    with ChatServer(smollm2) as server:
        client = OpenAIChat(server.base_url, model=smollm2.name, timeout_s=60)
        remote = client.choice_logprobs([QUESTION], ["Yes", "No"])[0]
        local = smollm2.choice_logprobs([QUESTION], ["Yes", "No"])[0]
        for choice in ("Yes", "No"):  # both are among the top 20 for this prompt
            assert remote[choice] == pytest.approx(local[choice], abs=0.05)
        text, entries = client.generate_with_logprobs([QUESTION], params, top_logprobs=3)[0]
        assert text == smollm2.generate([QUESTION], params)[0]
        assert 1 <= len(entries) <= 6
        first = entries[0]
        assert len(first["top_logprobs"]) == 3
        tops = [t["logprob"] for t in first["top_logprobs"]]
        assert tops == sorted(tops, reverse=True) and first["logprob"] <= tops[0] + 1e-6
        assert first["logprob"] == pytest.approx(tops[0], abs=1e-3)  # greedy picks the top token
        with pytest.raises(BackendError, match="HTTP 400"):
            client.request("/chat/completions",
                           {"messages": QUESTION, "logprobs": True, "top_logprobs": 99})


def test_server_refuses_logprobs_for_a_model_without_them():
    with ChatServer(FunctionPolicy(lambda m: "Yes")) as server:
        client = OpenAIChat(server.base_url, max_retries=0)
        assert client.generate([QUESTION]) == ["Yes"]
        with pytest.raises(BackendError, match="does not provide logprobs"):
            client.choice_logprobs([QUESTION], ["Yes", "No"])


def test_cache_serves_rescoring_without_the_server(smollm2, tmp_path):
    path = tmp_path / "cache.sqlite"
    params = SamplingParams(temperature=0.0, max_new_tokens=8)
    server = ChatServer(smollm2).start()
    client = OpenAIChat(server.base_url, model=smollm2.name, timeout_s=60, max_retries=0)
    cached = CachedChat(client, path=path)
    first = cached.generate([QUESTION, OTHER], params)
    probs = cached.choice_logprobs([QUESTION], ["Yes", "No"])
    assert server.requests_served == 3 and cached.misses == 3
    server.stop()  # from now on any backend call would fail
    again = CachedChat(client, path=path)  # a new process would see the same file
    assert again.generate([QUESTION, OTHER], params) == first
    assert again.choice_logprobs([QUESTION], ["Yes", "No"]) == probs
    assert again.hits == 3 and again.misses == 0
    with pytest.raises(BackendError):  # a different sampling is a different key
        again.generate([QUESTION], SamplingParams(temperature=0.0, max_new_tokens=9))


class _Counting:
    name = "counting"

    def __init__(self):
        self.calls: list[int] = []

    def generate(self, conversations, sampling=None):
        self.calls.append(len(conversations))
        seed = (sampling.seed or 0) if sampling else 0
        return [f"{c[-1]['content']}|{seed + i}" for i, c in enumerate(conversations)]


def test_cache_sends_only_misses_and_keeps_seeded_batches_exact():
    inner = _Counting()
    cached = CachedChat(inner, path=":memory:")
    a, b = [{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]
    greedy = SamplingParams(max_new_tokens=4)
    cached.generate([a], greedy)
    assert cached.generate([a, b], greedy) == ["a|0", "b|0"] and inner.calls == [1, 1]
    seeded = SamplingParams(temperature=1.0, seed=10, max_new_tokens=4)
    direct = inner.generate([a, b], seeded)
    assert cached.generate([a, b], seeded) == direct
    assert cached.generate([a, b], seeded) == direct  # served from the cache
    assert inner.calls == [1, 1, 2, 2]


class _Flaky(http.server.BaseHTTPRequestHandler):
    failures_left = 2
    calls = 0

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        type(self).calls += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            code, body = 503, b'{"error": "busy"}'
        else:
            answer = {"choices": [{"message": {"content": "Yes"}, "logprobs": {"content": [
                {"token": "Yes", "logprob": -0.1,
                 "top_logprobs": [{"token": "Yes", "logprob": -0.1},
                                  {"token": " No", "logprob": -2.5}]}]}}]}
            code, body = 200, json.dumps(answer).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_5xx_is_retried_with_backoff_then_logprobs_are_read():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = OpenAIChat(f"http://127.0.0.1:{server.server_port}/v1", max_retries=3,
                            backoff_s=0.01, timeout_s=5)
        row = client.choice_logprobs([QUESTION], ["Yes", "No", "Maybe"])[0]
        assert row["Yes"] == pytest.approx(-0.1) and row["No"] == pytest.approx(-2.5)
        assert row["Maybe"] == -math.inf
        assert _Flaky.calls == 3
    finally:
        server.shutdown()
        server.server_close()


def test_server_killed_mid_batch_fails_cleanly_and_keeps_nothing_half_done(tmp_path):
    def slow(messages):
        time.sleep(0.15)
        return "reply to " + messages[-1]["content"]

    server = ChatServer(FunctionPolicy(slow)).start()
    client = OpenAIChat(server.base_url, timeout_s=2, max_retries=1, backoff_s=0.05,
                        max_concurrency=2)
    cached = CachedChat(client, path=tmp_path / "c.sqlite")
    batch = [[{"role": "user", "content": str(i)}] for i in range(12)]
    threading.Timer(0.3, server.stop).start()
    start = time.perf_counter()
    with pytest.raises(BackendError, match="gave up after 2 attempts"):
        cached.generate(batch)
    assert time.perf_counter() - start < 10
    assert cached.hits == 0 and len(cached._get([cached._key("generate", c, SamplingParams()
                                                               .to_dict(), None)
                                                  for c in batch])) == 0


class _NoLogprobs(_Flaky):
    failures_left = 0

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"choices": [{"message": {"content": "Yes"}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_an_answer_without_logprobs_is_a_clear_backend_error():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoLogprobs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = OpenAIChat(f"http://127.0.0.1:{server.server_port}/v1", max_retries=0)
        with pytest.raises(BackendError, match="no logprobs"):
            client.choice_logprobs([QUESTION], ["Yes", "No"])
    finally:
        server.shutdown()
        server.server_close()


def test_vllm_backend_gives_every_request_its_own_seed(monkeypatch):
    # vLLM is GPU-only and not installed here: a stand-in module records what the backend asks
    # of vllm.LLM.chat (its documented contract: one SamplingParams per prompt, or one for all)
    import sys
    import types

    asked = []

    class FakeParams:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    class FakeLLM:
        def __init__(self, model, **kwargs):
            pass

        def chat(self, conversations, params, use_tqdm=False):
            asked.append(params)
            out = types.SimpleNamespace(text="ok")
            return [types.SimpleNamespace(outputs=[out]) for _ in conversations]

    gpu = types.SimpleNamespace(current_platform=types.SimpleNamespace(is_cpu=lambda: False))
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=FakeLLM,
                                                                   SamplingParams=FakeParams))
    monkeypatch.setitem(sys.modules, "vllm.platforms", gpu)
    from judges.llm.vllm_backend import VLLMChat

    chat = VLLMChat("some-model")
    assert chat.generate([QUESTION] * 4, SamplingParams(temperature=0.8, seed=7)) == ["ok"] * 4
    assert [p.seed for p in asked[-1]] == [7, 8, 9, 10]  # n copies of a prefix: n draws
    chat.generate([QUESTION] * 2, SamplingParams(temperature=0.8))
    assert asked[-1].seed is None  # unseeded: vLLM draws fresh randomness per request
