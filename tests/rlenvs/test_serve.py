"""``rlenvs serve-env``: OpenEnv's own client, sessions, limits, reaper, deadlines, errors."""

from __future__ import annotations

import argparse
import json
import re
import time
import urllib.request

import pytest
from gymnasium.utils.env_checker import check_env

import rlenvs
from rlenvs.serving import EnvServer, RemoteEnv, RemoteEnvError
from rlenvs.serving.cli import add_serve_env_parser

TASK = {"id": "t-4161x32", "kind": "multiply", "question": "Compute 4161 * 32.",
        "answer": "133152"}
CALL = '<tool_call>{"name": "python", "arguments": {"code": "print(4161 * 32)"}}</tool_call>'


@pytest.fixture(scope="module")
def base():
    # these tests pin their own tasks: a server that allows client tasks (off by default,
    # tests/redteam/test_wire_private.py)
    server = EnvServer(["rlenvs/Arithmetic-v0", "rlenvs/ToolMath-v0"], max_sessions=8,
                       idle_timeout_s=60, allow_client_tasks=True)
    with server.background() as url:
        yield url


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def test_openenv_client_plays_a_full_toolmath_episode(base):
    from openenv.core import GenericEnvClient

    with GenericEnvClient(base_url=f"{base}/rlenvs/ToolMath-v0").sync() as client:
        first = client.reset(task=TASK, episode_id="ep-1")
        assert not first.done and first.reward is None
        assert first.observation["messages"][-1]["content"].startswith("Compute 4161 * 32.")
        tool_turn = client.step({"message": CALL})
        assert not tool_turn.done and tool_turn.reward == 0.0
        tool_msg = tool_turn.observation["messages"][-1]
        assert tool_msg["role"] == "tool" and tool_msg["content"].strip() == "133152"
        assert tool_turn.metadata["info"]["tool_calls"][0]["status"] == "ok"
        final = client.step({"message": "The product is \\boxed{133152}."})
        assert final.done and final.reward == 1.0
        assert final.metadata["info"]["verdict"]["passed"] is True
        state = client.state()
        assert state["episode_id"] == "ep-1" and state["step_count"] == 2
        with pytest.raises(RuntimeError, match="EXECUTION_ERROR"):  # step after the end
            client.step({"message": "again"})
        with pytest.raises(RuntimeError, match="VALIDATION_ERROR"):
            client.step({"text": "wrong field"})


def test_remote_env_passes_check_env_and_matches_the_local_env(base):
    remote = rlenvs.make(f"{base}/rlenvs/Arithmetic-v0")
    assert isinstance(remote, RemoteEnv)
    check_env(remote, skip_render_check=True)
    local = rlenvs.make("rlenvs/Arithmetic-v0")
    obs_r, info_r = remote.reset(seed=5)
    obs_l, info_l = local.reset(seed=5)
    # the wire carries the task's public view only (its answer stays on the server)
    assert obs_r == obs_l and info_r["task"] == local.unwrapped.public_task(info_l["task"])
    assert "answer" not in info_r["task"] and "answer" in info_l["task"]
    reply = f"\\boxed{{{info_l['task']['answer']}}}"
    got_r, got_l = remote.step(reply), local.step(reply)
    assert got_r[:4] == got_l[:4]
    verdict_r, verdict_l = got_r[4]["verdict"], got_l[4]["verdict"]  # a judges.Verdict again
    assert isinstance(verdict_r, type(verdict_l))
    assert (verdict_r.score, verdict_r.passed, verdict_r.reason) == (
        verdict_l.score, verdict_l.passed, verdict_l.reason)
    with pytest.raises(RemoteEnvError, match=r"EXECUTION_ERROR.*step 2.*EpisodeEndedError"):
        remote.step("more")
    remote.close()


def test_clone_forks_an_independent_server_session(base):
    env = RemoteEnv(f"{base}/rlenvs/ToolMath-v0")
    env.reset(options={"task": TASK})
    env.step(CALL)
    twin = env.unwrapped.clone()
    assert twin.session_id != env.session_id
    _, r_twin, done_twin, _, _ = twin.step("\\boxed{1}")
    assert done_twin and r_twin == 0.0
    obs, r, done, _, _ = env.step("\\boxed{133152}")  # the original episode is untouched
    assert done and r == 1.0 and obs[-2]["role"] == "tool"
    twin.close()
    env.close()


def test_session_limit_refuses_clearly_and_frees_slots():
    server = EnvServer(["rlenvs/Arithmetic-v0"], max_sessions=2)
    with server.background() as url:
        a, b, c = (RemoteEnv(url, timeout_s=20) for _ in range(3))
        a.reset(seed=0)
        b.reset(seed=1)
        with pytest.raises(RemoteEnvError, match="CAPACITY_REACHED.*2 of 2") as err:
            c.reset(seed=2)
        assert err.value.code == "CAPACITY_REACHED"
        with pytest.raises(RemoteEnvError, match="CAPACITY_REACHED"):
            a.clone()  # a fork needs a slot too
        b.close()
        deadline = time.monotonic() + 10
        while _get(f"{url}/sessions")["active_sessions"] > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.reset(seed=2)[0]
        a.close()
        c.close()


def test_idle_sessions_and_unclaimed_forks_are_reaped():
    server = EnvServer(["rlenvs/Arithmetic-v0"], max_sessions=4, idle_timeout_s=0.3)
    with server.background() as url:
        env = RemoteEnv(url, timeout_s=20)
        env.reset(seed=0)
        env._call("fork")  # a fork nobody attaches to
        assert _get(f"{url}/sessions")["active_sessions"] == 2
        deadline = time.monotonic() + 10
        while _get(f"{url}/sessions")["active_sessions"] and time.monotonic() < deadline:
            time.sleep(0.1)
        status = _get(f"{url}/sessions")
        assert status["active_sessions"] == 0 and status["reaped"] == 2
        # a reaped session is a fault of the episode (issue 28): truncated and unscored
        _, reward, _, truncated, info = env.step("\\boxed{1}")
        assert truncated and reward == 0.0 and info["reward_status"] == "unscored"
        assert re.search(r"session [0-9a-f]{32}, step 1", info["env_failure"]["error"])
        assert info["env_failure"]["code"] == "SESSION_EXPIRED"
        assert env.reset(seed=0)[0]  # a new episode opens a new session
        env.close()


def test_per_call_deadline_closes_the_session_and_names_it():
    server = EnvServer(["rlenvs/ToolMath-v0"], env_kwargs={"rlenvs/ToolMath-v0": {
        "python_timeout_s": 20}}, call_timeout_s=1.0)
    slow = '<tool_call>{"name": "python", "arguments": {"code": "import time; time.sleep(8)"}}' \
           '</tool_call>'
    with server.background() as url:
        env = RemoteEnv(url, timeout_s=30)
        env.reset(seed=0)
        started = time.monotonic()
        # the server's call deadline ends the episode as a fault (issue 28), cause "deadline"
        _, _, _, truncated, info = env.step(slow)
        assert time.monotonic() - started < 8  # answered at the deadline, not after the tool
        assert truncated and info["reward_status"] == "unscored"
        assert info["reward_cause"] == "deadline"
        assert re.search(r"DEADLINE_EXCEEDED.*step 1", info["env_failure"]["error"])
        server_error = info["env_failure"]["server"]
        assert server_error["session_id"] == env.session_id and server_error["step"] == 0
        assert env.reset(seed=1)[0]  # the next episode gets a fresh session
        env.close()


def test_structured_errors_and_http_endpoints(base):
    assert _get(f"{base}/envs")["envs"] == ["rlenvs/Arithmetic-v0", "rlenvs/ToolMath-v0"]
    assert _get(f"{base}/rlenvs/ToolMath-v0/health") == {"status": "healthy"}
    assert "message" in _get(f"{base}/schema")["action"]["properties"]
    req = urllib.request.Request(f"{base}/reset", data=b'{"seed": 3}', method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        first = json.loads(r.read())
    assert first["observation"]["messages"] == rlenvs.make("rlenvs/Arithmetic-v0").reset(
        seed=3)[0] and first["done"] is False
    from openenv.core import GenericEnvClient

    with GenericEnvClient(base_url=base).sync() as client:
        with pytest.raises(RuntimeError, match="VALIDATION_ERROR"):
            client.reset(sed=1)
    env = RemoteEnv(base)
    with pytest.raises(RemoteEnvError, match="UNKNOWN_SESSION"):
        RemoteEnv(base, session_id="nope").reset(seed=0)
    with pytest.raises(TypeError, match="str"):
        env.step(42)
    env.close()


def test_serve_env_parser_builds_the_server_arguments():
    parser = argparse.ArgumentParser(prog="rlenvs")
    sub = parser.add_subparsers(dest="command")
    add_serve_env_parser(sub)
    args = parser.parse_args(["serve-env", "rlenvs/ToolMath-v0", "Arithmetic-v0", "--port", "9",
                              "--max-sessions", "3", "--env-kwarg", "max_turns=4",
                              "--env-kwarg", "rlenvs/ToolMath-v0:python_timeout_s=2"])
    assert args.env_ids == ["rlenvs/ToolMath-v0", "Arithmetic-v0"] and args.port == 9
    assert args.max_sessions == 3 and callable(args.func)
    from rlenvs.serving.cli import _env_kwargs

    assert _env_kwargs(args.env_kwarg) == {"*": {"max_turns": 4},
                                           "rlenvs/ToolMath-v0": {"python_timeout_s": 2}}
