"""TextVectorEnv: parallel workers, autoreset modes, failures that name env id and seed."""

from __future__ import annotations

import time

import pytest

from rlenvs.vector import AutoresetMode, TextVectorEnv, VectorEnvWorkerError
from tests.rlenvs import crashy

crashy.register()


@pytest.fixture(params=["processes", "ray"])
def VecEnv(request):  # noqa: N802 - a class factory
    """The process-based and the Ray-based vector env must pass the same tests."""
    if request.param == "processes":
        return TextVectorEnv
    request.getfixturevalue("ray_session")
    from rlenvs.ray_vector import RayTextVectorEnv

    def make(env_ids, num_envs=None, env_kwargs=None, autoreset_mode=AutoresetMode.NEXT_STEP,
             **kwargs):
        return RayTextVectorEnv(env_ids, num_envs=num_envs, env_kwargs=env_kwargs,
                                autoreset_mode=autoreset_mode)

    return make


def _answers(infos):
    return [f"\\boxed{{{info['task']['answer']}}}" for info in infos]


def test_step_a_batch_in_parallel_and_seeds_per_env(VecEnv):  # noqa: N803
    with_seed = VecEnv("rlenvs/Arithmetic-v0", num_envs=3, env_kwargs={"level": 2})
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


def test_next_step_autoreset_ignores_the_action_and_starts_a_new_episode(VecEnv):  # noqa: N803
    venv = VecEnv("rlenvs/Arithmetic-v0", num_envs=2)
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


def test_same_step_autoreset_returns_final_obs_in_info(VecEnv):  # noqa: N803
    venv = VecEnv("rlenvs/Arithmetic-v0", num_envs=2, autoreset_mode="SameStep")
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


def test_exception_in_a_worker_names_env_and_seed_and_shuts_all_down(VecEnv):  # noqa: N803
    venv = VecEnv(["rlenvs/Arithmetic-v0", "test/Crashing-v0"])
    venv.reset(seed=5)
    with pytest.raises(VectorEnvWorkerError) as err:
        venv.step(["\\boxed{1}", "raise"])
    message = str(err.value)
    assert "sub-environment 1" in message and "test/Crashing-v0" in message
    assert "seed 6" in message and "boom from inside the env" in message
    with pytest.raises(RuntimeError, match="closed"):
        venv.step(["a", "b"])


def test_after_a_failure_every_worker_process_is_gone():
    venv = TextVectorEnv(["rlenvs/Arithmetic-v0", "test/Crashing-v0"])
    venv.reset(seed=5)
    with pytest.raises(VectorEnvWorkerError):
        venv.step(["\\boxed{1}", "raise"])
    deadline = time.time() + 10
    while any(p.is_alive() for p in venv._procs) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(p.is_alive() for p in venv._procs)


def test_a_worker_that_dies_is_reported_not_hung():
    venv = TextVectorEnv("test/Crashing-v0", num_envs=2, timeout_s=30)
    venv.reset(seed=1)
    with pytest.raises(VectorEnvWorkerError, match=r"sub-environment 0 \(test/Crashing-v0, seed 1\).*died"):
        venv.step(["die", "\\boxed{1}"])
    assert not any(p.is_alive() for p in venv._procs)


def test_bad_actions_are_rejected_before_reaching_workers(VecEnv):  # noqa: N803
    venv = VecEnv("rlenvs/Arithmetic-v0", num_envs=2, autoreset_mode=AutoresetMode.DISABLED)
    try:
        venv.reset(seed=0)
        with pytest.raises(ValueError, match="2 reply strings"):
            venv.step(["only one"])
        with pytest.raises(TypeError, match="action 1 must be a str"):
            venv.step(["a", 3])
    finally:
        venv.close()


def test_ray_replaces_a_dead_actor_and_reports_its_episode(ray_session):
    import os
    import signal

    from rlenvs.ray_vector import RayTextVectorEnv

    venv = RayTextVectorEnv("rlenvs/Arithmetic-v0", num_envs=2, max_restarts=1)
    try:
        _, infos = venv.reset(seed=3)
        os.kill(venv.actor_pids()[0], signal.SIGKILL)
        obs, rewards, terminated, truncated, infos2 = venv.step(_answers(infos))
        assert truncated[0] and not terminated[0] and rewards[0] == 0.0
        failure = infos2[0]["actor_failure"]
        assert failure["env_id"] == "rlenvs/Arithmetic-v0" and failure["seed"] == 3
        assert obs[0][-1]["role"] == "user"  # a fresh episode from the new actor
        assert rewards[1] == 1.0 and terminated[1]  # the other env is untouched
        _, infos3 = venv.reset(seed=3)
        os.kill(venv.actor_pids()[0], signal.SIGKILL)
        with pytest.raises(VectorEnvWorkerError, match="max_restarts=1"):
            venv.step(_answers(infos3))
    finally:
        venv.close()


GUARDED = '''
import sys
from rlenvs.vector import TextVectorEnv


def main():
    vec = TextVectorEnv("rlenvs/Arithmetic-v0", num_envs=2)
    obs, _ = vec.reset(seed=0)
    print("envs", len(obs))
    vec.close()


if __name__ == "__main__":
    main()
'''


def test_a_script_without_the_main_guard_gets_one_clear_error(tmp_path):
    """Issue 18 item 10: spawn re-runs an unguarded script in every worker, which died with
    multiprocessing's bootstrapping error; now the script is told what to do, before any
    worker starts."""
    import subprocess
    import sys

    unguarded = tmp_path / "unguarded.py"
    unguarded.write_text("from rlenvs.vector import TextVectorEnv\n"
                         "vec = TextVectorEnv('rlenvs/Arithmetic-v0', num_envs=2)\n"
                         "print('envs', len(vec.reset(seed=0)[0]))\n")
    run = subprocess.run([sys.executable, str(unguarded)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0
    assert f"{unguarded}:2 creates a TextVectorEnv at the top level" in run.stderr
    assert 'if __name__ == "__main__":' in run.stderr
    assert "bootstrapping" not in run.stderr  # no worker was started
    guarded = tmp_path / "guarded.py"
    guarded.write_text(GUARDED)
    run = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and "envs 2" in run.stdout, run.stderr[-2000:]


def test_gymnasium_make_vec_async_works_or_says_how():
    import gymnasium

    with pytest.raises(ValueError) as caught:
        gymnasium.make_vec("rlenvs/Arithmetic-v0", num_envs=2, vectorization_mode="async")
    assert "vector_kwargs={'shared_memory': False}" in str(caught.value.__cause__)
    vec = gymnasium.make_vec("rlenvs/Arithmetic-v0", num_envs=2, vectorization_mode="async",
                             vector_kwargs={"shared_memory": False})
    try:
        obs, infos = vec.reset(seed=0)
        answers = tuple(f"\\boxed{{{a}}}" for a in infos["task"]["answer"])
        _, rewards, terminated, _, _ = vec.step(answers)
        assert list(rewards) == [1.0, 1.0] and all(terminated) and len(obs) == 2
    finally:
        vec.close()


def test_an_http_url_is_a_vector_env_id():
    from rlenvs.serving.process import ServerProcess

    with ServerProcess(["rlenvs/Arithmetic-v0"]) as url:
        vec = TextVectorEnv(f"{url}/rlenvs/Arithmetic-v0", num_envs=2)
        try:
            obs, infos = vec.reset(seed=0)
            # a served env keeps the answer on the server (issue 26): compute it (+ - *)
            answers = [f"\\boxed{{{eval(i['task']['question'])}}}"  # noqa: S307 - ours
                       for i in infos]
            _, rewards, terminated, _, _ = vec.step(answers)
            assert list(rewards) == [1.0, 1.0] and all(terminated)
        finally:
            vec.close()
