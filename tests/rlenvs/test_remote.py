"""Remote environments in real server processes: crashes, restarts, load, trainers, foreign servers."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import rlenvs
from rlenvs.serving import RemoteEnv, RemoteEnvError, register_remote
from rlenvs.serving.process import ServerProcess

CALL = '<tool_call>{"name": "calculator", "arguments": {"expression": "4161 * 32"}}</tool_call>'


@pytest.mark.parametrize("on_fault", ["truncate", "raise"])
def test_killed_server_gives_a_clear_error_and_a_restart_serves_the_next_episode(on_fault):
    """Issue 28: by default a step whose server died ends the episode truncated and unscored
    (cause "env"), so a trainer goes on; ``on_fault="raise"`` raises as before."""
    server = ServerProcess(["rlenvs/ToolMath-v0"])
    server.start()
    try:
        env = RemoteEnv(f"{server.url}/rlenvs/ToolMath-v0", timeout_s=30, on_fault=on_fault)
        env.reset(seed=0)
        env.step(CALL)  # a tool turn: the episode goes on
        session = env.session_id
        server.kill()
        if on_fault == "raise":
            with pytest.raises(RemoteEnvError) as err:
                env.step("\\boxed{1}")
            message = str(err.value)
        else:
            _, reward, terminated, truncated, info = env.step("\\boxed{1}")
            assert truncated and not terminated and reward == 0.0
            assert info["reward_status"] == "unscored" and info["reward_cause"] == "env"
            assert info["verdict"].status == "unscored" and not info["verdict"].passed
            message = info["env_failure"]["error"]
        assert f"session {session}, step 2" in message and "connection lost" in message
        with pytest.raises(RemoteEnvError, match="cannot connect"):
            env.reset(seed=1)  # nothing listens yet
        server.start()  # same port
        obs, _ = env.reset(seed=1)
        assert obs[-1]["role"] == "user" and env.session_id != session
        _, _, terminated, _, info = env.step("\\boxed{0}")
        assert terminated and info["verdict"].reason
        env.close()
    finally:
        server.kill()


def test_load_concurrent_sessions_have_zero_errors():
    sessions, episodes = 32, 5
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    with ServerProcess(["rlenvs/Arithmetic-v0", "--max-sessions", str(sessions)]) as url:
        def worker(k: int) -> None:
            env = RemoteEnv(url, timeout_s=60)
            try:
                for e in range(episodes):
                    t0 = time.perf_counter()
                    _, info = env.reset(seed=1000 * k + e)
                    t1 = time.perf_counter()
                    # the answer stays on the server: the client computes it (+ - * integers)
                    gold = eval(info["task"]["question"])  # noqa: S307 - our own arithmetic
                    _, reward, done, _, _ = env.step(f"\\boxed{{{gold}}}")
                    t2 = time.perf_counter()
                    assert done and reward == 1.0
                    with lock:
                        latencies.extend([t1 - t0, t2 - t1])
            except Exception as ex:  # noqa: BLE001 - counted, asserted below
                with lock:
                    errors.append(repr(ex))
            finally:
                env.close()

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(sessions)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.perf_counter() - started
    assert errors == [] and len(latencies) == 2 * sessions * episodes
    p50, p95, p99 = (float(np.percentile(latencies, q)) * 1000 for q in (50, 95, 99))
    print(f"\nload: {sessions} sessions x {episodes} episodes, {len(latencies)} calls in "
          f"{elapsed:.2f} s; latency p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms; "
          "errors 0")


def test_grpo_trainer_steps_on_an_env_served_by_another_process(tmp_path):
    from agents import GRPOConfig, GRPOTrainer
    from agents.run.metrics import read_metrics
    from tests.agents.toy_envs import tiny_policy

    args = ["agents-test/Uppercase-v0", "--import", "tests.agents.toy_envs:register_toy_envs"]
    with ServerProcess(args) as url:
        config = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4,
                            num_generations=2, max_completion_length=4, learning_rate=1e-3,
                            progress=False)
        trainer = GRPOTrainer(tiny_policy(), f"{url}/agents-test/Uppercase-v0", config)
        summary = trainer.train()
    records = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]
    assert records and records[-1]["step"] == 1 and np.isfinite(records[-1]["loss"])


def test_vector_env_and_evaluate_run_on_a_remote_env():
    from judges.llm.base import SamplingParams
    from rlenvs.vector import TextVectorEnv

    class Answerer:  # a policy that reads the question and answers it: the pipe, not a model
        name = "answerer"

        def generate(self, conversations, sampling):
            out = []
            for conv in conversations:
                question = conv[-1]["content"].split("Compute ")[1].split(".")[0]
                out.append(f"\\boxed{{{eval(question)}}}")  # noqa: S307 - our own arithmetic
            return out

    with ServerProcess(["rlenvs/Arithmetic-v0", "--env-kwarg", "level=1"]) as url:
        result = rlenvs.evaluate(f"{url}/rlenvs/Arithmetic-v0", Answerer(), episodes=3, samples=2,
                                 progress=False, sampling=SamplingParams(temperature=0.0))
        assert result.summary["pass_at_k"]["pass@1"] == 1.0 and result.summary["mean_reward"] == 1.0
        vec = TextVectorEnv(register_remote(f"{url}/rlenvs/Arithmetic-v0"), num_envs=2)
        try:
            obs, infos = vec.reset(seed=0)
            answers = [f"\\boxed{{{eval(i['task']['question'])}}}"  # noqa: S307 - ours
                       for i in infos]
            _, rewards, terminated, _, _ = vec.step(answers)
            assert list(rewards) == [1.0, 1.0] and all(terminated)
        finally:
            vec.close()


def test_remote_env_drives_a_foreign_openenv_server():
    """Any OpenEnv server, here one built with openenv's own ``create_app`` and types."""
    import uvicorn
    from openenv.core.env_server import create_app
    from openenv.core.env_server.interfaces import Environment
    from openenv.core.env_server.types import Action, Observation, State

    class ShoutAction(Action):
        message: str

    class ShoutObservation(Observation):
        prompt: str = ""

    class ShoutEnv(Environment):
        def __init__(self) -> None:
            super().__init__()
            self._state = State(episode_id="e", step_count=0)

        def reset(self, seed=None, episode_id=None, **kwargs) -> ShoutObservation:
            self._state = State(episode_id=episode_id or "e", step_count=0)
            return ShoutObservation(prompt=f"Shout word {seed}")

        def step(self, action: ShoutAction, **kwargs) -> ShoutObservation:
            self._state.step_count += 1
            loud = action.message.isupper()
            return ShoutObservation(prompt="again", done=loud, reward=1.0 if loud else 0.0)

        @property
        def state(self) -> State:
            return self._state

    app = create_app(ShoutEnv, ShoutAction, ShoutObservation, env_name="shout")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        env = rlenvs.make(f"http://127.0.0.1:{port}")
        obs, _ = env.reset(seed=7)
        assert obs == [{"role": "user", "content": "Shout word 7"}]
        obs, reward, terminated, _, _ = env.step("quiet")
        assert (reward, terminated) == (0.0, False) and obs[-1]["content"] == "again"
        _, reward, terminated, _, _ = env.step("LOUD")
        assert (reward, terminated) == (1.0, True)
        env.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
