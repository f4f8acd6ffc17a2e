"""Red team (brief P): BFCL-v0 and BFCLMultiTurn-v0.

Found:
* multi-turn: the stateless MathAPI ran the policy's arguments in the env's own process, with
  no bound - ``power(base=7, exponent=30000000)`` held one ``step`` for minutes (larger
  exponents: forever, and all the memory). Stateless calls now run in a forked child with a
  deadline and a memory cap; past them the call's result is an error.
* irrelevance: a reply that is only a call written in another syntax (a bare JSON call, BFCL's
  own ``[f(x=1)]`` form, ``<function=f>``) was scored as an abstention (1.0). It is an
  attempted call, not "no call, and say so".
Held: a call inside a thinking block is not a call; a fenced call is an example, not a call,
in every category; a right call with a wrong one in another syntax earns what the right call
alone earns (the other text is not a call under the env's format), never more.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rlenvs
from rlenvs.envs import bfcl_multi_turn


def _call(name, arguments):
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


@pytest.fixture(scope="module")
def math_episode_seed():
    env = rlenvs.make("rlenvs/BFCLMultiTurn-v0", category="base")
    for seed in range(400):
        _, info = env.reset(seed=seed)
        if "power" in {t["function"]["name"] for t in info["tools"]}:
            return seed
    pytest.fail("no base entry offers MathAPI")


@pytest.mark.parametrize("name,arguments", [
    ("power", {"base": 7, "exponent": 300000000}),
    ("logarithm", {"value": 10, "base": 3, "precision": 100000000}),
    ("square_root", {"number": 2, "precision": 100000000}),
])
def test_an_unbounded_math_call_is_an_error_result_within_the_deadline(
        math_episode_seed, name, arguments, monkeypatch):
    monkeypatch.setattr(bfcl_multi_turn, "CALL_TIMEOUT_S", 2.0)
    env = rlenvs.make("rlenvs/BFCLMultiTurn-v0", category="base")
    env.reset(seed=math_episode_seed)
    start = time.monotonic()
    obs, reward, terminated, _, info = env.step(_call(name, arguments))
    assert time.monotonic() - start < 10
    content = obs[-1]["content"]  # the bound's error, or the API's own (a MemoryError caught)
    assert obs[-1]["role"] == "tool"
    assert content.startswith("Error during execution") or "error" in json.loads(content)
    assert not terminated and reward == 0.0
    # an ordinary call of the same API still answers, in the same episode
    obs, *_ = env.step(_call("power", {"base": 2, "exponent": 10}))
    assert json.loads(obs[-1]["content"]) == {"result": 1024}


def test_a_bounded_call_is_not_starved_in_a_large_process(math_episode_seed):
    """The memory cap is the call's own growth over what the process already maps (a
    training process maps gigabytes): an ordinary call with a sizeable result still runs."""
    ballast = bytearray(1536 << 20)  # the process maps 1.5 GiB more than the cap
    env = rlenvs.make("rlenvs/BFCLMultiTurn-v0", category="base")
    env.reset(seed=math_episode_seed)
    obs, *_ = env.step(_call("sum_values", {"numbers": list(range(2000))}))
    assert json.loads(obs[-1]["content"]) == {"result": sum(range(2000))}
    del ballast


@pytest.fixture(scope="module")
def irrelevance():
    env = rlenvs.make("rlenvs/BFCL-v0", category="irrelevance")
    env.reset(seed=0)
    function = env.unwrapped.task["function"][0]
    return env, function


def _attempts(function, args):
    name = function["name"]
    call = json.dumps({"name": name, "arguments": args})
    return {
        "bare JSON": call,
        "python list": f"[{name}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")]",
        "function tag": f"<function={name}>{json.dumps(args)}</function>",
    }


def test_a_call_in_another_syntax_is_not_an_abstention(irrelevance):
    env, function = irrelevance
    args = {k: 1 for k in function["parameters"].get("properties", {})}
    env.reset(seed=0)
    assert env.step("None of the functions fits this request.")[1] == 1.0
    for kind, reply in _attempts(function, args).items():
        env.reset(seed=0)
        _, reward, _, _, info = env.step(reply)
        assert reward == 0.0 and not info["verdict"].passed, kind


def test_abstentions_that_name_the_function_in_prose_or_think_still_pass(irrelevance):
    env, function = irrelevance
    name = function["name"]
    args = {k: 1 for k in function["parameters"].get("properties", {})}
    for reply in (f"The only function, {name}, does not answer this, so I make no call.",
                  f"<think>{_call(name, args)} would not help.</think>No function fits.",
                  f"No function fits. For example, this would be wrong:\n```\n"
                  f"{_call(name, args)}\n```"):
        env.reset(seed=0)
        _, reward, _, _, info = env.step(reply)
        assert reward == 1.0, (reply, info["verdict"].reason)


def test_a_right_call_plus_other_syntax_earns_only_what_the_call_earns():
    env = rlenvs.make("rlenvs/BFCL-v0", category="simple")
    env.reset(seed=0)
    answer = env.unwrapped.task["possible_answer"][0]
    (name, options), = answer.items()
    args = {k: v[0] for k, v in options.items() if v and v[0] != ""}
    right = _call(name, args)
    assert env.step(right)[1] == 1.0
    for reply in (right + right, f"<think>x</think>{_call(name, {})}\n" + right):
        env.reset(seed=0)
        assert env.step(reply)[1] == 0.0, reply


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["bare JSON", "python list", "function tag"]),
       st.text(alphabet="abc .,!", max_size=30), st.text(alphabet="abc .,!", max_size=30))
def test_generated_attempted_calls_fail_irrelevance_wherever_they_stand(kind, before, after):
    env = rlenvs.make("rlenvs/BFCL-v0", category="irrelevance")
    env.reset(seed=3)
    function = env.unwrapped.task["function"][0]
    args = {k: 1 for k in function["parameters"].get("properties", {})}
    reply = f"{before}\n{_attempts(function, args)[kind]}\n{after}"
    _, reward, _, _, info = env.step(reply)
    assert reward == 0.0 and not info["verdict"].passed
