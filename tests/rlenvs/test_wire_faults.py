"""Fault injection on the wire (issue 28): each fault ends in a clear status within its deadline,
never a hang, never a lost finished result, never a reward.

* an env server killed and restarted mid-episode, and one that stops answering (SIGSTOP):
  the step returns truncated and unscored (cause ``env``) within the client's deadline;
* a Ray env actor killed during a rollout: its step is unscored (cause ``env``), the others
  are untouched;
* a sandbox that cannot start (a file-descriptor rlimit): the code env's verdict is unscored
  (cause ``sandbox``), not a reward of 0 and not a crash;
* a disk that fills while transcripts are written (a file-size rlimit): a clear error, and every
  transcript written before it is intact.

Real parts throughout: server processes on loopback, real signals, real rlimits in a child.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from rlenvs.serving import RemoteEnv, RemoteEnvError
from rlenvs.serving.process import ServerProcess

pytestmark = pytest.mark.faults

CALL = '<tool_call>{"name": "calculator", "arguments": {"expression": "4161 * 32"}}</tool_call>'


def _assert_env_fault(step, cause="env"):
    _, reward, terminated, truncated, info = step
    assert truncated and not terminated and reward == 0.0
    assert info["reward_status"] == "unscored" and info["reward_cause"] == cause
    assert info["verdict"].status == "unscored" and info["verdict"].cause == cause
    return info


@pytest.fixture
def server():
    """A ToolMath-v0 server process of this test's own (killed after it)."""
    process = ServerProcess(["rlenvs/ToolMath-v0"])
    process.start()
    yield process
    process.kill()


def test_env_server_restarted_mid_episode_truncates_that_episode_unscored(server):
    env = RemoteEnv(f"{server.url}/rlenvs/ToolMath-v0", timeout_s=30)
    env.reset(seed=0)
    env.step(CALL)  # the episode is under way
    server.kill()
    server.start()  # a new process on the same port: the old session is gone
    info = _assert_env_fault(env.step("\\boxed{133152}"))
    assert info["env_failure"]["code"] == "CONNECTION_LOST"
    with pytest.raises(RemoteEnvError, match="has ended; call reset"):
        env.step("again")  # the fault ended the episode, as a truncation does
    obs, _ = env.reset(seed=1)  # the next episode runs on the restarted server
    assert obs[-1]["role"] == "user"
    _, _, _, _, info = env.step("\\boxed{0}")
    assert info["reward_status"] == "scored"
    env.close()


def test_a_server_that_stops_answering_cannot_hold_a_step_past_the_deadline(server):
    env = RemoteEnv(f"{server.url}/rlenvs/ToolMath-v0", timeout_s=2)
    env.reset(seed=0)
    os.kill(server.proc.pid, signal.SIGSTOP)  # alive, connected, silent
    try:
        start = time.monotonic()
        info = _assert_env_fault(env.step(CALL))
        assert info["env_failure"]["code"] == "CLIENT_TIMEOUT"
        with pytest.raises(RemoteEnvError, match="cannot connect"):
            env.reset(seed=1)  # the handshake goes unanswered too: bounded, named
        assert time.monotonic() - start < 30  # two 2 s deadlines, not a hang
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    raising = RemoteEnv(f"{server.url}/rlenvs/ToolMath-v0", timeout_s=2, on_fault="raise")
    raising.reset(seed=0)
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        with pytest.raises(RemoteEnvError, match="timed out after 2 s") as err:
            raising.step(CALL)
        assert err.value.code == "CLIENT_TIMEOUT"
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_a_ray_env_actor_killed_during_a_rollout_gives_an_unscored_step(ray_session, mode):
    from rlenvs.ray_vector import RayTextVectorEnv

    venv = RayTextVectorEnv("rlenvs/ArithmeticFeedback-v0", num_envs=2, autoreset_mode=mode,
                            env_kwargs={"max_attempts": 3})
    try:
        venv.reset(seed=3)
        venv.step(["\\boxed{-1}", "\\boxed{-1}"])  # one wrong attempt each: mid-episode
        os.kill(venv.actor_pids()[0], signal.SIGKILL)
        obs, rewards, terminated, truncated, infos = venv.step(["\\boxed{-1}", "\\boxed{-1}"])
        info = infos[0]
        assert truncated[0] and not terminated[0] and rewards[0] == 0.0
        assert info["reward_status"] == "unscored" and info["reward_cause"] == "env"
        assert info["verdict"].status == "unscored"
        failure = info["actor_failure"]
        assert failure["seed"] == 3 and failure["lost_episode_turns"] == 1
        if mode == "SameStep":
            assert info["final_info"]["reward_status"] == "unscored"
        assert obs[0][-1]["role"] == "user"  # the replacement actor's fresh episode
        assert infos[1]["reward_status"] == "scored"  # the other env is untouched
    finally:
        venv.close()


def test_ray_vector_env_on_a_served_url_carries_a_failing_judges_status(ray_session):
    from rlenvs.ray_vector import RayTextVectorEnv
    from rlenvs.serving.server import EnvServer
    from tests.rlenvs.test_wire_status import DEAD_JUDGE, REPLY

    server = EnvServer(["rlenvs/Chat-v0"], env_kwargs={"rlenvs/Chat-v0": {"judge": DEAD_JUDGE}})
    with server.background() as base:
        venv = RayTextVectorEnv(f"{base}/rlenvs/Chat-v0", num_envs=2, autoreset_mode="SameStep")
        try:
            venv.reset(seed=0)
            _, _, terminated, _, infos = venv.step([REPLY, REPLY])
            assert terminated.all()
            for info in infos:
                assert info["reward_status"] == "unscored"
                assert info["reward_cause"] == "judge_backend"
                assert info["final_info"]["verdict"].cause == "judge_backend"
        finally:
            venv.close()


def _run_child(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=300)


SANDBOX_REFUSED = """
    import json, os, resource
    import rlenvs

    env = rlenvs.make("rlenvs/Code-v0")
    env.reset(seed=0)
    # the sandbox's server needs pipes to start: allow no new file descriptor
    open_now = len(os.listdir("/proc/self/fd"))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_now, hard))
    _, reward, terminated, truncated, info = env.step("```python\\ndef f():\\n    return 1\\n```")
    print(json.dumps({"reward": reward, "terminated": terminated, "truncated": truncated,
                      "status": info["reward_status"], "cause": info.get("reward_cause"),
                      "reason": info["verdict"].reason}))
"""


def test_a_sandbox_that_cannot_start_is_an_unscored_verdict_not_a_zero_or_a_crash():
    run = _run_child(SANDBOX_REFUSED)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["status"] == "unscored" and out["cause"] == "sandbox", out
    assert "sandbox" in out["reason"] and "open files" in out["reason"]


DISK_FULL = """
    import errno, json, resource, sys
    import rlenvs

    def policy(messages):
        return "\\\\boxed{3} " + "x" * 2000  # about 2.5 KB of transcript per episode

    resource.setrlimit(resource.RLIMIT_FSIZE, (8000, resource.RLIM_INFINITY))
    try:
        rlenvs.evaluate("rlenvs/Arithmetic-v0", policy, episodes=12, out=sys.argv[1],
                        progress=False)
        print(json.dumps({"error": None}))
    except OSError as e:
        print(json.dumps({"error": str(e), "errno": e.errno}))
"""


def test_a_full_disk_while_writing_transcripts_is_a_clear_error_and_keeps_what_was_written(
        tmp_path):
    out = tmp_path / "eval.jsonl"
    run = _run_child(DISK_FULL, str(out))  # RLIMIT_FSIZE: writes past 8000 bytes fail (EFBIG)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["errno"] == errno.EFBIG and "File too large" in result["error"]
    assert str(out) in result["error"] and "--resume" in result["error"]  # names file and fix
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    assert all(line.endswith("\n") for line in lines)  # no torn last line: cut back whole
    finished = [json.loads(line) for line in lines]
    assert len(finished) >= 2  # the episodes written before the disk filled are all there
    assert f"the {len(finished)} before it are kept" in result["error"]
    assert all("\\boxed{3}" in json.dumps(record) for record in finished)
