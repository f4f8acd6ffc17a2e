"""A fault is not a reward, on every wire (issue 28): a verdict's status and cause reach the
caller through vector envs (processes, Gymnasium's async, Ray is in test_wire_faults), a real
``serve-env`` process and ``RemoteEnv``, TRL (``None``) and verl (extra info); and the remote-id
and policy-server errors of issue 30 items 6 and 7.

The failing judge is real: Chat-v0's pointwise judge pointed at a loopback port where nothing
listens, so its backend fails (after its own retries) and the verdict is unscored
(``judge_backend``).
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import urllib.error
import urllib.request

import gymnasium
import pytest

import rlenvs
from rlenvs.adapters import compute_score, env_dataset, env_reward_func
from rlenvs.serving import RemoteEnv
from rlenvs.serving.client import RemoteEnvUnreachable, UnservedEnvError
from rlenvs.serving.process import ServerProcess, free_port
from rlenvs.serving.server import EnvServer
from rlenvs.vector import AutoresetMode, TextVectorEnv

DEAD_JUDGE = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: the judge's backend fails
REPLY = "Rayleigh scattering: short blue wavelengths scatter most, so the sky looks blue."
# replies that address the two prompts env_dataset(..., n=2, seed=0) draws (the rule judge pays
# only a reply about its task: 404, then a bicycle-shop slogan)
ANSWERS = ["A 404 status code means the server found no such page.",
           "Bicycle repair: we keep your wheels turning."]


def _assert_judge_fault(info):
    assert info["reward_status"] == "unscored" and info["reward_cause"] == "judge_backend"
    verdict = info["verdict"]
    assert verdict.status == "unscored" and verdict.cause == "judge_backend"
    assert not verdict.passed


@pytest.mark.parametrize("reveal", [False, True], ids=["public view", "reveal-private"])
def test_unscored_verdict_crosses_a_real_serve_env_process_and_the_remote_client(reveal):
    args = ["rlenvs/Chat-v0", "rlenvs/Arithmetic-v0", "--env-kwarg",
            f"rlenvs/Chat-v0:judge={DEAD_JUDGE}"] + (["--reveal-private"] if reveal else [])
    with ServerProcess(args) as base:
        env = RemoteEnv(f"{base}/rlenvs/Chat-v0", timeout_s=60)
        env.reset(seed=0)
        _, _, terminated, truncated, info = env.step(REPLY)
        assert terminated and not truncated  # the episode ended normally; its reward is a fault
        _assert_judge_fault(info)  # status and cause survived the JSON round trip
        env.close()
        scored = RemoteEnv(f"{base}/rlenvs/Arithmetic-v0")
        scored.reset(seed=0)
        _, _, _, _, info = scored.step("\\boxed{0}")
        assert info["reward_status"] == "scored" and "reward_cause" not in info
        assert info["verdict"].status == "scored" and info["verdict"].cause is None
        scored.close()


def test_same_step_autoreset_keeps_the_status_at_the_top_and_in_final_info():
    """A served env in TextVectorEnv's worker processes: the status of the reward returned with
    a step that ended the episode stays next to it, and in ``final_info``."""
    with EnvServer(["rlenvs/Chat-v0"], env_kwargs={"rlenvs/Chat-v0": {"judge": DEAD_JUDGE}}
                   ).background() as base:
        vec = TextVectorEnv(f"{base}/rlenvs/Chat-v0", num_envs=2,
                            autoreset_mode=AutoresetMode.SAME_STEP)
        try:
            vec.reset(seed=0)
            obs, _, terminated, _, infos = vec.step([REPLY, REPLY])
            assert terminated.all() and all(o[-1]["role"] == "user" for o in obs)
            for info in infos:
                assert info["reward_status"] == "unscored"  # the new episode's info, and the
                assert info["reward_cause"] == "judge_backend"  # status of the reward returned
                _assert_judge_fault(info["final_info"])
        finally:
            vec.close()


def test_gymnasium_async_vector_env_carries_the_status():
    vec = gymnasium.make_vec("rlenvs/Chat-v0", num_envs=2, vectorization_mode="async",
                             vector_kwargs={"shared_memory": False}, judge=DEAD_JUDGE)
    try:
        vec.reset(seed=0)
        _, _, terminated, _, infos = vec.step((REPLY, REPLY))
        assert all(terminated)
        assert list(infos["reward_status"]) == ["unscored", "unscored"]
        assert list(infos["reward_cause"]) == ["judge_backend", "judge_backend"]
    finally:
        vec.close()


def _trl_kwargs(metrics):
    """The keyword arguments GRPOTrainer._calculate_rewards passes to a reward function."""
    return {"completion_ids": [[1, 2], [3]], "trainer_state": None,
            "log_extra": lambda column, values: None,
            "log_metric": lambda name, value: metrics.append((name, value))}


def test_trl_reward_is_none_for_an_unscored_sample_and_logs_the_fraction():
    data = env_dataset("rlenvs/Chat-v0", n=2, seed=0, judge=DEAD_JUDGE)
    reward = env_reward_func("rlenvs/Chat-v0", judge=DEAD_JUDGE)
    metrics = []
    out = reward(prompts=data["prompt"], completions=[REPLY, REPLY], task=data["task"],
                 seed=data["seed"], **_trl_kwargs(metrics))
    assert out == [None, None]  # TRL's "does not apply": left out of its nan-aware sums
    assert all(v.cause == "judge_backend" for v in reward.last_verdicts)
    assert metrics == [(f"rewards/{reward.__name__}/unscored_frac", 1.0)]
    scored = env_reward_func("rlenvs/Chat-v0")  # the rule judge: a judgement, a float
    metrics.clear()
    assert scored(prompts=data["prompt"], completions=[ANSWERS[0], ""], task=data["task"],
                  **_trl_kwargs(metrics)) == [1.0, 0.0]
    assert metrics == [(f"rewards/{scored.__name__}/unscored_frac", 0.0)]


@pytest.mark.slow
def test_trl_grpo_trainer_turns_the_unscored_reward_into_nan_not_zero(tmp_path):
    """The reward functions called by TRL's own GRPOTrainer code, as in a training step."""
    trl = pytest.importorskip("trl")
    from judges.llm.embedded import embedded_model_dir

    data = env_dataset("rlenvs/Chat-v0", n=2, seed=0)
    faulty = env_reward_func("rlenvs/Chat-v0", judge=DEAD_JUDGE)
    rules = env_reward_func("rlenvs/Chat-v0")
    rules.__name__ = "rules"
    args = trl.GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2,
                          num_generations=2, max_completion_length=8, max_steps=1, use_cpu=True,
                          report_to=[], save_strategy="no", beta=0.0)
    trainer = trl.GRPOTrainer(model=str(embedded_model_dir()), reward_funcs=[faulty, rules],
                              train_dataset=data, args=args)
    inputs = [dict(row) for row in data]
    completions = [[{"role": "assistant", "content": a}] for a in ANSWERS]
    per_func = trainer._calculate_rewards(inputs, [r["prompt"] for r in inputs], completions,
                                          [[1], [2]])
    import torch

    assert torch.isnan(per_func[:, 0]).all()  # None -> NaN: excluded, not a 0 to learn from
    assert per_func[:, 1].tolist() == [1.0, 1.0]
    assert trainer._pending_metrics[f"rewards/{faulty.__name__}/unscored_frac"] == [1.0]


def test_verl_compute_score_reports_the_fault_in_its_extra_info():
    task = json.dumps({"prompt": "Why is the sky blue?"})
    faulty = compute_score("rlenvs/Chat-v0", REPLY, None,
                           {"task": task, "env_kwargs": {"judge": DEAD_JUDGE}})
    assert faulty["reward_status"] == "unscored" and faulty["reward_cause"] == "judge_backend"
    assert faulty["acc"] is False and faulty["score"] == 0.0  # verl has no "ignore" score
    scored = compute_score("rlenvs/Chat-v0", REPLY, None, {"task": task})
    assert scored["reward_status"] == "scored" and scored["reward_cause"] == ""
    assert set(scored) == set(faulty)  # verl stacks every key over the batch


# ----------------------------------------------------------------- issue 30 items 6 and 7

def test_eval_of_a_url_with_no_server_is_one_error_line_and_exit_2_before_work():
    url = f"http://127.0.0.1:{free_port()}/rlenvs/Arithmetic-v0"
    run = subprocess.run([sys.executable, "-m", "rlenvs.cli", "eval", url], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot connect to {url}")
    assert "serve-env" in lines[0] and run.stdout == ""
    with pytest.raises(RemoteEnvUnreachable):  # a ConnectionError, raised when made
        rlenvs.make(url)


def test_gymnasium_make_takes_a_served_envs_url_and_an_unserved_id_lists_what_is_served():
    with EnvServer(["rlenvs/Arithmetic-v0", "rlenvs/ToolMath-v0"]).background() as base:
        env = gymnasium.make(f"{base}/rlenvs/ToolMath-v0")  # was "too many values to unpack"
        obs, _ = env.reset(seed=0)
        assert obs[-1]["role"] == "user"
        env.close()
        with pytest.raises(UnservedEnvError) as err:
            rlenvs.make(f"{base}/rlenvs/ToolMaths-v0")
        message = str(err.value)
        assert "HTTP 403" in message and "'rlenvs/ToolMaths-v0'" in message
        assert "it serves: rlenvs/Arithmetic-v0, rlenvs/ToolMath-v0" in message
        assert "\n" not in message


def _post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_policy_server_refuses_another_models_name_and_names_max_tokens(smollm2):
    from judges.llm.server import ChatServer

    server = ChatServer(smollm2, max_new_tokens=2).start()
    try:
        url = f"{server.base_url}/chat/completions"
        hello = [{"role": "user", "content": "hi"}]
        status, body = _post(url, {"model": "gpt-4o", "messages": hello})
        assert status == 404 and body["error"]["code"] == "model_not_found"
        assert repr(smollm2.name) in body["error"]["message"]  # names what it serves
        status, body = _post(url, {"model": smollm2.name, "messages": hello, "max_tokens": -5})
        assert status == 400 and "max_tokens" in body["error"]["message"]
        assert "max_new_tokens" not in body["error"]["message"]
        # rlenvs' own clients send "default" (the served name is test_serve_openai's)
        status, body = _post(url, {"model": "default", "messages": hello, "max_tokens": 1})
        assert status == 200 and body["usage"]["completion_tokens"] == 1
    finally:
        server.stop()


def test_env_reward_func_docstring_states_its_real_name():
    reward = env_reward_func("rlenvs/Arithmetic-v0")
    assert reward.__name__ == "rlenvs_Arithmetic-v0"
    assert f"``{reward.__name__}``" in inspect.getdoc(env_reward_func)
