"""TextVectorEnv: parallel workers, autoreset modes, failures that name env id and seed."""

from __future__ import annotations

import time

import pytest

from rlenvs.vector import AutoresetMode, TextVectorEnv, VectorEnvWorkerError
from tests.rlenvs import crashy

crashy.register()


def _answers(infos):
    return [f"\\boxed{{{info['task']['answer']}}}" for info in infos]


def test_step_a_batch_in_parallel_and_seeds_per_env():
    with_seed = TextVectorEnv("rlenvs/Arithmetic-v0", num_envs=3, env_kwargs={"level": 2})
    try:
        obs, infos = with_seed.reset(seed=10)
        assert len(obs) == 3 and all(o[-1]["role"] == "user" for o in obs)
        obs2, rewards, terminated, truncated, infos2 = with_seed.step(_answers(infos))
        assert rewards.tolist() == [1.0, 1.0, 1.0] and terminated.all() and not truncated.any()
        assert all(i["verdict"].passed for i in infos2)
        again, infos_again = with_seed.reset(seed=10)
        assert again == obs  # env i is seeded with seed + i, reproducibly
    finally:
        with_seed.close()
    import rlenvs

    single = rlenvs.make("rlenvs/Arithmetic-v0", level=2)
    assert single.reset(seed=11)[0] == obs[1]


def test_next_step_autoreset_ignores_the_action_and_starts_a_new_episode():
    venv = TextVectorEnv("rlenvs/Arithmetic-v0", num_envs=2)
    try:
        _, infos = venv.reset(seed=0)
        venv.step(["wrong", "wrong"])
        obs, rewards, terminated, truncated, infos = venv.step(["ignored", "ignored"])
        assert rewards.tolist() == [0.0, 0.0] and not terminated.any()
        assert all("verdict" not in i and "task" in i for i in infos)
        _, rewards, terminated, _, _ = venv.step(_answers(infos))
        assert rewards.tolist() == [1.0, 1.0] and terminated.all()
    finally:
        venv.close()


def test_same_step_autoreset_returns_final_obs_in_info():
    venv = TextVectorEnv("rlenvs/Arithmetic-v0", num_envs=2, autoreset_mode="SameStep")
    try:
        _, infos = venv.reset(seed=0)
        obs, rewards, terminated, _, infos2 = venv.step(_answers(infos))
        assert rewards.tolist() == [1.0, 1.0] and terminated.all()
        for o, info in zip(obs, infos2, strict=True):
            assert o[-1]["role"] == "user"  # already the next episode
            assert info["final_info"]["verdict"].passed
            assert info["final_obs"][-1]["role"] == "assistant"
    finally:
        venv.close()


def test_exception_in_a_worker_names_env_and_seed_and_shuts_all_down():
    venv = TextVectorEnv(["rlenvs/Arithmetic-v0", "test/Crashing-v0"])
    venv.reset(seed=5)
    with pytest.raises(VectorEnvWorkerError) as err:
        venv.step(["\\boxed{1}", "raise"])
    message = str(err.value)
    assert "sub-environment 1" in message and "test/Crashing-v0" in message
    assert "seed 6" in message and "boom from inside the env" in message
    deadline = time.time() + 10
    while any(p.is_alive() for p in venv._procs) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(p.is_alive() for p in venv._procs)
    with pytest.raises(RuntimeError, match="closed"):
        venv.step(["a", "b"])


def test_a_worker_that_dies_is_reported_not_hung():
    venv = TextVectorEnv("test/Crashing-v0", num_envs=2, timeout_s=30)
    venv.reset(seed=1)
    with pytest.raises(VectorEnvWorkerError, match=r"sub-environment 0 \(test/Crashing-v0, seed 1\).*died"):
        venv.step(["die", "\\boxed{1}"])
    assert not any(p.is_alive() for p in venv._procs)


def test_bad_actions_are_rejected_before_reaching_workers():
    venv = TextVectorEnv("rlenvs/Arithmetic-v0", num_envs=2, autoreset_mode=AutoresetMode.DISABLED)
    try:
        venv.reset(seed=0)
        with pytest.raises(ValueError, match="2 reply strings"):
            venv.step(["only one"])
        with pytest.raises(TypeError, match="action 1 must be a str"):
            venv.step(["a", 3])
    finally:
        venv.close()
