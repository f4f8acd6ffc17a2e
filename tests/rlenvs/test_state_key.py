"""``info["state_key"]``: environments say when two episodes stand in the same state (the anchor
states GiGPO groups steps by), whatever words the policy used to get there. No model; < 1 s."""

from __future__ import annotations

import json

import rlenvs
from rlenvs.tools import ToolEnv, calculator


def call(name: str, **arguments) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def _twins(env_id: str, seed: int = 3, **kwargs):
    env = rlenvs.make(env_id, **kwargs)
    _, info = env.reset(seed=seed)
    return env, env.unwrapped.clone(), env.unwrapped.clone(), info


def test_reset_state_is_shared_by_clones_and_differs_between_tasks():
    env, a, b, info = _twins("rlenvs/Arithmetic-v0")
    assert info["state_key"] == a.state_key() == b.state_key()
    _, other = env.reset(seed=4)
    assert other["state_key"] != info["state_key"]
    assert len(info["state_key"]) == 16 and int(info["state_key"], 16) >= 0


def test_different_wrong_answers_lead_to_the_same_feedback_state():
    """Unary feedback: "41" and "43" both earn "incorrect, try again" -> one state; a right
    answer (episode over) and a second wrong attempt are other states."""
    _, a, b, info = _twins("rlenvs/ArithmeticFeedback-v0", max_attempts=3)
    answer = int(info["task"]["answer"])
    _, r_a, done_a, _, info_a = a.step(f"\\boxed{{{answer + 1}}}")
    _, r_b, done_b, _, info_b = b.step(f"It is \\boxed{{{answer + 2}}}.")
    assert (r_a, r_b, done_a, done_b) == (0.0, 0.0, False, False)
    assert info_a["state_key"] == info_b["state_key"] != info["state_key"]
    c = a.clone()
    *_, info_c = c.step(f"\\boxed{{{answer}}}")
    *_, info_a2 = a.step(f"\\boxed{{{answer + 3}}}")
    assert len({info_c["state_key"], info_a2["state_key"], info_a["state_key"]}) == 3


def test_a_repeat_penalty_makes_past_answers_part_of_the_state():
    _, a, b, info = _twins("rlenvs/ArithmeticFeedback-v0", max_attempts=3, repeat_penalty=0.5)
    answer = int(info["task"]["answer"])
    *_, info_a = a.step(f"\\boxed{{{answer + 1}}}")
    *_, info_b = b.step(f"\\boxed{{{answer + 2}}}")
    assert info_a["state_key"] != info_b["state_key"]
    again = b.clone()
    again.reset(seed=3)
    *_, info_same = again.step(f"\\boxed{{{answer + 2}}}  ")  # same answer after normalising
    assert info_same["state_key"] == info_b["state_key"]


def test_tool_results_not_call_wording_define_the_state():
    """Two differently worded calls with the same result -> one state; another result -> not."""
    env = ToolEnv(rlenvs.make("rlenvs/Arithmetic-v0", level=4).unwrapped, tools=[calculator])
    _, info = env.reset(seed=5)
    question = info["task"]["question"]
    a, b, c = env.clone(), env.clone(), env.clone()
    *_, info_a = a.step("Let me compute. " + call("calculator", expression=question))
    *_, info_b = b.step(call("calculator", expression=f" {question} "))
    *_, info_c = c.step(call("calculator", expression="1+1"))
    assert info_a["state_key"] == info_b["state_key"] != info_c["state_key"]
    assert info_a["state_key"] != info["state_key"]


def test_hidden_tool_state_counts():
    """A Python session's cells are state even when the visible output is the same."""
    from tests.rlenvs.test_tools_base import local_runner

    env = rlenvs.make("rlenvs/ToolMath-v0", kinds=["multiply"], python_runner=local_runner)
    env.reset(seed=1)
    a, b = env.unwrapped.clone(), env.unwrapped.clone()
    obs_a, *_, info_a = a.step(call("python", code="x = 1"))
    obs_b, *_, info_b = b.step(call("python", code="y = 2"))
    assert obs_a[-1]["content"] == obs_b[-1]["content"]
    assert info_a["state_key"] != info_b["state_key"]
