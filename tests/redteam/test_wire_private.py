"""Secrets never on the wire (issue 26, class 8): every payload of every registered env.

The server draws each task from a seed; the same seed in a local env gives the trainer-side task
(seed determinism is part of the env contract), so the test knows every private value the server
holds and searches each payload for it: reset / step / state frames over WebSocket (raw frames,
``RemoteEnv`` results, OpenEnv's own client), HTTP ``/reset``, and the adapters' outputs that reach
a policy. Then: a client-chosen task is refused unless the server allows it.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

import rlenvs
from rlenvs.serving import EnvServer, RemoteEnv, RemoteEnvError

ENV_IDS = [e for e in rlenvs.list_envs() if e.startswith("rlenvs/")]
SEEDS = (0, 1, 2)
# replies that state no answer and compute nothing: what they get back must not teach one
PROBES = (
    "\\boxed{zzz}",
    '<tool_call>{"name": "no_such_tool", "arguments": {}}</tool_call>',
    "```python\ndef f(*a):\n    return None\n```",
    "I do not know.",
)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield k
            yield from _leaves(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _leaves(v)
    elif value is not None and not isinstance(value, bool):
        yield value


def secrets_of(env: Any, task: dict[str, Any]) -> list[str]:
    """Every private value of ``task`` (and each line of a long one) that means something.

    Skipped, with the reason: a value of one character (a single digit or letter is a token of
    any frame: ``"step": 1``), a value that a public field itself shows (MBPP's prompt quotes
    its first test; a value the policy is shown is not a secret), and a value the probes
    themselves write as a word (their text comes back in the transcript: a BFCL multi-turn
    scenario holding the string ``None`` is not leaked by echoing ``return None``).
    """
    public = env.unwrapped.public_task(task)
    shown = [str(v) for v in _leaves(public)]
    out = []
    for key, value in task.items():
        if key in public:
            continue
        for leaf in _leaves(value):
            text = str(leaf).strip()
            for piece in [text, *(ln.strip() for ln in text.splitlines())]:
                if len(piece) >= 2 and not any(piece in s for s in shown) and not re.search(
                        rf"(?<![\w.]){re.escape(piece)}(?!\w)", "\n".join(PROBES)):
                    out.append(piece)
    return sorted(set(out))


def leaked(payload: Any, secrets: list[str]) -> list[str]:
    """The secrets found in ``payload`` (a decoded frame): as a whole token of any string in it
    (a key or a value), or as the whole value of a number."""
    found = []
    texts = [x for x in _leaves(payload) if isinstance(x, str)]
    scalars = {str(x) for x in _leaves(payload) if not isinstance(x, str)}
    for secret in secrets:
        pattern = re.compile(rf"(?<![\w.]){re.escape(secret)}(?!\w)")
        if secret in scalars or any(pattern.search(t) for t in texts):
            found.append(secret)
    return found


@pytest.fixture(scope="module")
def base():
    with EnvServer(ENV_IDS, max_sessions=16, idle_timeout_s=120).background() as url:
        yield url


def _ws(base: str, env_id: str) -> Any:
    return connect(f"ws://{base.removeprefix('http://')}/{env_id}/ws", open_timeout=30)


def _frame(ws: Any, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    ws.send(json.dumps({"type": kind, **({"data": data} if data is not None else {})}))
    return json.loads(ws.recv(timeout=120))


def _episode_frames(base: str, env_id: str, seed: int) -> list[dict[str, Any]]:
    """Every frame of one episode: reset, each probe step (until done), state after each."""
    frames = []
    with _ws(base, env_id) as ws:
        frames.append(_frame(ws, "reset", {"seed": seed}))
        frames.append(_frame(ws, "state"))
        for k in range(3):
            frame = _frame(ws, "step", {"message": PROBES[(seed + k) % len(PROBES)]})
            frames += [frame, _frame(ws, "state")]
            if frame["type"] != "observation" or frame["data"]["done"]:
                break
        frames.append(_frame(ws, "step", {"message": "after the end"}))  # an error frame
    return frames


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_no_private_value_in_any_frame_of_any_episode(base, env_id):
    local = rlenvs.make(env_id)
    checked = 0
    for seed in SEEDS:
        _, info = local.reset(seed=seed)
        secrets = secrets_of(local, info["task"])
        frames = _episode_frames(base, env_id, seed)
        assert frames[0]["type"] == "observation", frames[0]
        assert frames[0]["data"]["observation"]["messages"] == local.reset(seed=seed)[0]
        for frame in frames:
            assert leaked(frame, secrets) == [], (env_id, seed, frame)
        req = urllib.request.Request(f"{base}/{env_id}/reset", method="POST",
                                     data=json.dumps({"seed": seed}).encode())
        with urllib.request.urlopen(req, timeout=60) as r:
            assert leaked(json.loads(r.read()), secrets) == []
        checked += len(secrets)
    local.close()
    # IFEval/Instruct: all fields public (prompt); BFCL: the possible answers are values the
    # question states (which parameter takes which is the secret, not the values)
    if env_id not in ("rlenvs/IFEval-v0", "rlenvs/Instruct-v0", "rlenvs/BFCL-v0"):
        assert checked > 0, f"{env_id}: no private value to look for"


@pytest.mark.parametrize("env_id", ["rlenvs/ToolMath-v0", "rlenvs/ArithmeticFeedback-v0",
                                    "rlenvs/Code-v0", "rlenvs/SearchQA-v0"])
def test_remote_env_and_openenv_client_results_hold_no_private_value(base, env_id):
    from openenv.core import GenericEnvClient

    local = rlenvs.make(env_id)
    _, info = local.reset(seed=4)
    secrets = secrets_of(local, info["task"])
    assert secrets
    remote = RemoteEnv(f"{base}/{env_id}", timeout_s=60)
    results: list[Any] = [remote.reset(seed=4)]
    results.append(remote.step(PROBES[0]))
    results.append(remote.state())
    remote.close()
    with GenericEnvClient(base_url=f"{base}/{env_id}").sync() as client:
        first = client.reset(seed=4)
        results += [first.observation, first.metadata]
        again = client.step({"message": PROBES[3]})
        results += [again.observation, again.metadata, client.state()]
    from rlenvs.serving.protocol import to_jsonable

    for result in results:
        assert leaked(to_jsonable(result), secrets) == [], (env_id, result)


def test_the_wire_state_key_cannot_be_recomputed_from_a_guessed_task(base):
    """The plain state key hashes the task, answer included: a client could test guesses of the
    answer against it. The wire key is keyed by the server; equal states keep equal keys."""
    local = rlenvs.make("rlenvs/Arithmetic-v0")
    _, info = local.reset(seed=7)
    keys = []
    for _ in range(2):
        with _ws(base, "rlenvs/Arithmetic-v0") as ws:
            keys.append(_frame(ws, "reset", {"seed": 7})["data"]["metadata"]["info"]["state_key"])
    assert keys[0] == keys[1] and keys[0] != info["state_key"]
    farm = []
    for _ in range(2):  # two servers of one farm share the key: equal states, equal keys
        with EnvServer(["rlenvs/Arithmetic-v0"], state_key_secret="farm").background() as url:
            with _ws(url, "rlenvs/Arithmetic-v0") as ws:
                frame = _frame(ws, "reset", {"seed": 7})
                farm.append(frame["data"]["metadata"]["info"]["state_key"])
    assert farm[0] == farm[1] and farm[0] not in (keys[0], info["state_key"])


def test_private_fields_pass_only_with_reveal_private():
    with EnvServer(["rlenvs/ToolMath-v0"], reveal_private=True).background() as url:
        env = RemoteEnv(url, timeout_s=60)
        _, info = env.reset(seed=4)
        _, _, _, _, step = env.step(PROBES[0])
        env.close()
    gold = rlenvs.make("rlenvs/ToolMath-v0").reset(seed=4)[1]["task"]["answer"]
    assert info["task"]["answer"] == gold and gold in step["verdict"].reason


# ------------------------------------------------------------------ client-chosen tasks

SMUGGLED = st.fixed_dictionaries({"question": st.sampled_from(["1 + 1", "x", ""]),
                                  "answer": st.sampled_from(["7", "2", "zzz"])})
WHERE = st.sampled_from(["task", "options"])


def _smuggle(where: str, task: dict[str, Any], seed: int | None) -> dict[str, Any]:
    data: dict[str, Any] = {"task": task} if where == "task" else {"options": {"task": task}}
    return data if seed is None else {**data, "seed": seed}


@pytest.fixture(scope="module")
def open_server():
    with EnvServer(["rlenvs/Arithmetic-v0"], allow_client_tasks=True).background() as url:
        yield url


@settings(max_examples=30)
@given(task=SMUGGLED, where=WHERE, seed=st.none() | st.integers(0, 9))
def test_a_client_chosen_task_is_refused_by_default(base, task, where, seed):
    with _ws(base, "rlenvs/Arithmetic-v0") as ws:
        frame = _frame(ws, "reset", _smuggle(where, task, seed))
        assert frame["type"] == "error" and frame["data"]["code"] == "VALIDATION_ERROR"
        assert "--allow-client-tasks" in frame["data"]["message"]
        # the refused session can still play a task of the server's
        assert _frame(ws, "reset", {"seed": 1})["type"] == "observation"
    req = urllib.request.Request(f"{base}/rlenvs/Arithmetic-v0/reset", method="POST",
                                 data=json.dumps(_smuggle(where, task, seed)).encode())
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 422 and b"--allow-client-tasks" in err.value.read()


@settings(max_examples=10)
@given(task=SMUGGLED, where=WHERE)
def test_a_client_chosen_task_is_played_when_the_server_allows_it(open_server, task, where):
    with _ws(open_server, "rlenvs/Arithmetic-v0") as ws:
        first = _frame(ws, "reset", _smuggle(where, task, None))
        assert first["type"] == "observation"
        done = _frame(ws, "step", {"message": f"\\boxed{{{task['answer']}}}"})
        assert done["data"]["reward"] == 1.0


def test_remote_env_and_openenv_client_see_the_refusal(base):
    from openenv.core import GenericEnvClient

    env = RemoteEnv(f"{base}/rlenvs/Arithmetic-v0", timeout_s=30)
    with pytest.raises(RemoteEnvError, match="VALIDATION_ERROR.*--allow-client-tasks"):
        env.reset(options={"task": {"question": "1 + 1", "answer": "7"}})
    env.close()
    with GenericEnvClient(base_url=f"{base}/rlenvs/Arithmetic-v0").sync() as client:
        with pytest.raises(RuntimeError, match="allow-client-tasks"):
            client.reset(task={"question": "1 + 1", "answer": "7"})


# ------------------------------------------------------------------ adapters: what reaches a policy

@pytest.mark.parametrize("env_id", ENV_IDS)
def test_trl_and_verl_prompts_hold_no_private_value(env_id):
    from rlenvs.adapters import env_dataset, verl_rows

    local = rlenvs.make(env_id)
    data = env_dataset(env_id, n=len(SEEDS), seed=SEEDS[0])
    rows = verl_rows(env_id, n=len(SEEDS), seed=SEEDS[0])
    # the judge-side columns are named; a new column must be placed on one side or the other
    assert set(data.column_names) == {"prompt", "task", "seed"}
    assert set(rows[0]) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    for i, seed in enumerate(SEEDS):
        secrets = secrets_of(local, local.reset(seed=seed)[1]["task"])
        assert leaked(data[i]["prompt"], secrets) == [] and leaked(rows[i]["prompt"], secrets) == []


@pytest.mark.parametrize("env_id", ["rlenvs/ToolMath-v0", "rlenvs/SearchQA-v0"])
def test_trl_environment_factory_tool_results_hold_no_private_value(env_id):
    from rlenvs.adapters import env_dataset, environment_factory

    cls = environment_factory(env_id)
    local = rlenvs.make(env_id)
    data = env_dataset(env_id, n=len(SEEDS), seed=SEEDS[0])
    for i, seed in enumerate(SEEDS):
        secrets = secrets_of(local, local.reset(seed=seed)[1]["task"])
        instance = cls()
        assert instance.reset(**data[i]) is None  # TRL would append a returned text to the prompt
        tool = next(n for n in vars(cls) if not n.startswith("_") and callable(vars(cls)[n]))
        outputs = [getattr(instance, tool)(wrong="argument")]
        if env_id == "rlenvs/ToolMath-v0":
            outputs.append(instance.calculator(expression="2 + 3"))
        outputs += [getattr(instance, tool)(wrong="again") for _ in range(20)]  # budget runs out
        assert leaked(outputs, secrets) == [], outputs


@pytest.mark.parametrize("env_id", ["rlenvs/ArithmeticFeedback-v0", "rlenvs/ToolMath-v0"])
def test_verl_interaction_outputs_hold_no_private_value(env_id):
    import asyncio

    from rlenvs.adapters import EnvInteraction

    local = rlenvs.make(env_id)
    interaction = EnvInteraction({"env_id": env_id})
    for seed in SEEDS:
        secrets = secrets_of(local, local.reset(seed=seed)[1]["task"])
        instance = asyncio.run(interaction.start_interaction(seed=seed))
        outputs = []
        for probe in PROBES[:3]:
            out = asyncio.run(interaction.generate_response(
                instance, [{"role": "assistant", "content": probe}]))
            outputs.append(out)
            if out[0]:
                break
        assert leaked(list(outputs), secrets) == [], outputs
