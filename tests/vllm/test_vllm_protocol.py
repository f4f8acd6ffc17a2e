"""The vLLM wrappers' own logic without an engine (runs in the main venv, ~3 s): the server
client against a stand-in HTTP server (what it sends, what it refuses, the weight push), and
the colocated sleep-mode sequence against a recording stand-in for ``vllm.LLM``. The real
engine and server: tests/vllm/test_engine_*.py (in .venv-vllm)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from judges.llm.sampler import SamplingConfig
from judges.llm.vllm_backend import VLLMSampler, VLLMServerSampler


class FakeServer:
    """An HTTP server that answers like ``vllm serve`` and records what it was sent."""

    def __init__(self, dev_mode: bool = True, logprobs_mode: str = "processed_logprobs",
                 reply: Any = None) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.dev_mode, self.logprobs_mode, self.reply = dev_mode, logprobs_mode, reply
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append((self.path, None))
                if self.path == "/health":
                    self._send(200)
                elif self.path == "/v1/models":
                    self._send(200, {"data": [{"id": "served"}]})
                elif self.path.startswith("/server_info") and fake.dev_mode:
                    self._send(200, {"vllm_config": {"model_config": {
                        "logprobs_mode": fake.logprobs_mode}}})
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(size) or b"null")
                fake.requests.append((self.path, body))
                if self.path == "/v1/completions":
                    self._send(200, fake.reply(body) if callable(fake.reply) else fake.reply)
                elif self.path in ("/collective_rpc", "/reset_prefix_cache") and fake.dev_mode:
                    self._send(200)
                else:
                    self._send(404, {"detail": "Not Found"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(body: dict[str, Any]) -> dict[str, Any]:
    """A reply in vLLM's format: two tokens derived from the prompt, their log-probs."""
    ids = [body["prompt"][-1] + 1, 2]
    return {"choices": [{"token_ids": ids, "finish_reason": "stop", "prompt_token_ids":
                         body["prompt"], "logprobs": {
                             "tokens": [f"token_id:{i}" for i in ids],
                             "token_logprobs": [-0.5, None],
                             "top_logprobs": [{f"token_id:{ids[0]}": -0.5, "token_id:9": -1.5},
                                              {"token_id:2": -0.1}]}}]}


@pytest.fixture
def fake():
    servers: list[FakeServer] = []

    def start(**kwargs: Any) -> FakeServer:
        servers.append(FakeServer(**kwargs))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_generation_request_and_reply(fake):
    server = fake(reply=completion)
    sampler = VLLMServerSampler(server.url, stop_token_ids=[2], timeout=5, max_concurrency=2)
    assert sampler.model_name == "served"
    config = SamplingConfig(max_new_tokens=7, temperature=0.5, top_p=0.9, top_k=0)
    gens = sampler.generate([[5, 6], [7], [8, 9, 10]], config, seed=40, top_logprobs=2)
    sent = sorted((b for p, b in server.requests if p == "/v1/completions"),
                  key=lambda b: b["seed"])
    assert [b["prompt"] for b in sent] == [[5, 6], [7], [8, 9, 10]]  # ids, one request each
    assert [b["seed"] for b in sent] == [40, 41, 42]
    for b in sent:
        assert (b["max_tokens"], b["temperature"], b["top_p"], b["top_k"]) == (7, 0.5, 0.9, -1)
        assert b["return_token_ids"] and b["return_tokens_as_token_ids"]
        assert b["stop_token_ids"] == [2] and b["model"] == "served" and b["logprobs"] == 2
    assert [g.token_ids for g in gens] == [[7, 2], [8, 2], [11, 2]]
    assert gens[0].logprobs[0] == -0.5 and gens[0].logprobs[1] != gens[0].logprobs[1]  # NaN
    assert gens[0].finished and gens[0].top_logprobs == [[-0.5, -1.5], [-0.1]]
    with pytest.raises(ValueError, match="seed .* or seeds"):
        sampler.generate([[1]], config, seed=1, seeds=[2])
    with pytest.raises(ValueError, match="at least one token"):
        sampler.generate([[]], config)


@pytest.mark.parametrize(("broken", "message"), [
    (lambda r: r["choices"][0].pop("token_ids"), "no token_ids"),
    (lambda r: r["choices"][0]["logprobs"]["tokens"].reverse(), "not for its sampled token"),
    (lambda r: r["choices"][0]["logprobs"]["token_logprobs"].pop(), "log-probs for 2 tokens"),
    (lambda r: r["choices"].append(r["choices"][0]), "2 choices"),
])
def test_replies_that_are_not_token_out_are_refused(fake, broken, message):
    def reply(body: dict[str, Any]) -> dict[str, Any]:
        out = completion(body)
        broken(out)
        return out

    sampler = VLLMServerSampler(fake(reply=reply).url, timeout=5)
    with pytest.raises(RuntimeError, match=message):
        sampler.generate([[3]], SamplingConfig(max_new_tokens=2))


def test_servers_it_cannot_train_with_are_refused(fake):
    with pytest.raises(RuntimeError, match="VLLM_SERVER_DEV_MODE=1"):
        VLLMServerSampler(fake(dev_mode=False).url, timeout=5)
    with pytest.raises(RuntimeError, match="--logprobs-mode processed_logprobs"):
        VLLMServerSampler(fake(logprobs_mode="raw_logprobs").url, timeout=5)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match="no vLLM server answered .* within 1 s"):
        VLLMServerSampler(f"http://127.0.0.1:{port}", timeout=1)
    with pytest.raises(ValueError, match="http://host:port"):
        VLLMServerSampler("127.0.0.1:8000")


def test_weight_push_writes_the_merged_model_then_reloads(fake, tmp_path):
    from safetensors.torch import load_file

    from tests.agents.toy_envs import tiny_policy

    server = fake(reply=completion)
    sampler = VLLMServerSampler(server.url, timeout=5, weights_dir=tmp_path / "w")
    model = tiny_policy().model  # tied embeddings: lm_head shares embed_tokens' storage
    sampler.sync_weights(model)
    written = load_file(str(tmp_path / "w" / "model.safetensors"))
    state = model.state_dict()
    # every name, the tied head too (vLLM's reload would keep a stale head otherwise)
    assert set(written) == set(state) and "lm_head.weight" in written
    for name, tensor in written.items():
        assert torch.equal(tensor, state[name])
    posts = [(p, b) for p, b in server.requests if p in ("/collective_rpc", "/reset_prefix_cache")]
    assert posts == [("/collective_rpc", {"method": "reload_weights", "kwargs": {
        "weights_path": str((tmp_path / "w").resolve())}}), ("/reset_prefix_cache", None)]


class RecordingLLM:
    """Stands in for ``vllm.LLM``: records the calls the sampler makes."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def sleep(self, level: int) -> None:
        self.calls.append(("sleep", level))

    def wake_up(self, tags: list[str]) -> None:
        self.calls.append(("wake_up", tuple(tags)))

    def collective_rpc(self, method: str, kwargs: dict[str, Any]) -> None:
        self.calls.append(method)

    def reset_prefix_cache(self) -> None:
        self.calls.append("reset_prefix_cache")

    def generate(self, requests: list[Any], params: Any, use_tqdm: bool) -> list[Any]:
        self.calls.append("generate")
        step = {3: SimpleNamespace(logprob=-0.25)}
        return [SimpleNamespace(outputs=[SimpleNamespace(token_ids=[3], logprobs=[step],
                                                         finish_reason="length")])
                for _ in requests]


def _colocated(enable_sleep_mode: bool) -> VLLMSampler:
    sampler = object.__new__(VLLMSampler)
    sampler.__dict__.update(
        _vllm=SimpleNamespace(SamplingParams=lambda **kw: kw), llm=RecordingLLM(),
        enable_sleep_mode=enable_sleep_mode, _asleep=set(), _weights_from=None,
        stop_token_ids=None)
    return sampler


def test_sleep_mode_sequence_is_trls():
    """TRL 1.16's colocate sleep mode: sleep(level=2) while training; before sampling again the
    weights are mapped and re-pushed, then the KV cache is mapped."""
    model = torch.nn.Linear(2, 2)
    sampler = _colocated(True)
    sampler.sync_weights(model)
    sampler.sleep()
    sampler.sleep()  # already asleep: nothing more
    gens = sampler.generate([[1, 2]], SamplingConfig(max_new_tokens=1))
    assert gens[0].token_ids == [3] and gens[0].logprobs == [-0.25]
    assert sampler.llm.calls == [
        "reload_weights", "reset_prefix_cache", ("sleep", 2), ("wake_up", ("weights",)),
        "reload_weights", "reset_prefix_cache", ("wake_up", ("kv_cache",)), "generate"]
    sampler.llm.calls.clear()
    sampler.sleep()
    sampler.sync_weights(model)  # after the optimizer step: weights back, KV cache still asleep
    sampler.generate([[1]], SamplingConfig(max_new_tokens=1))
    assert sampler.llm.calls == [("sleep", 2), ("wake_up", ("weights",)), "reload_weights",
                                 "reset_prefix_cache", ("wake_up", ("kv_cache",)), "generate"]


def test_without_sleep_mode_sleep_does_nothing_and_a_stale_wake_is_refused():
    sampler = _colocated(False)
    sampler.sleep()
    sampler.generate([[1]], SamplingConfig(max_new_tokens=1))
    assert sampler.llm.calls == ["generate"]
    asleep = _colocated(True)
    asleep.sleep()
    with pytest.raises(RuntimeError, match="call sync_weights"):
        asleep.generate([[1]], SamplingConfig(max_new_tokens=1))
