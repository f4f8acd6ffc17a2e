"""Code environments: HumanEval, MBPP-style and generic JSONL tasks, judged in the sandbox."""

from __future__ import annotations

import json

import pytest

import rlenvs


def _fenced(code: str) -> str:
    return f"Here is my solution:\n```python\n{code}\n```\nDone."


def test_humaneval_canonical_solutions_pass_as_full_program_or_body():
    env = rlenvs.make("rlenvs/HumanEval-v0")
    for seed in range(3):
        _, info = env.reset(seed=seed)
        task = info["task"]
        body = task["canonical_solution"]
        _, reward, terminated, _, step = env.step(_fenced(body))  # only the body
        assert reward == 1.0 and terminated, step["verdict"].reason
        env.reset(seed=seed)
        full = task["program_prefix"] + body
        assert env.step(_fenced(full))[1] == 1.0


def test_humaneval_broken_solution_fails_with_reason():
    env = rlenvs.make("rlenvs/HumanEval-v0", reward="dense")
    _, info = env.reset(seed=0)
    _, reward, _, _, step = env.step(_fenced(info["task"]["program_prefix"] + "    return None\n"))
    assert reward < 1.0 and not step["verdict"].passed and step["verdict"].reason
    env.reset(seed=0)
    _, reward, _, _, step = env.step("I cannot write code today.")
    assert reward == 0.0


def test_mbpp_and_code_samples_with_dense_partial_credit(tmp_path):
    env = rlenvs.make("rlenvs/Code-v0", reward="dense")
    env.reset(options={"task": {"prompt": "double", "tests": [
        "assert double(2) == 4", "assert double(0) == 0", "assert double(-1) == -2"]}})
    _, reward, _, _, info = env.step(_fenced("def double(x):\n    return abs(x) * 2"))
    assert reward == pytest.approx(2 / 3) and info["reward_components"]["tests"] == pytest.approx(2 / 3)
    mbpp = rlenvs.make("rlenvs/MBPP-v0")
    _, info = mbpp.reset(seed=1)
    assert mbpp.step(_fenced(info["task"]["code"]))[1] == 1.0
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps({"prompt": "p", "tests": "assert f() == 1"}) + "\n")
    env = rlenvs.make("rlenvs/Code-v0", path=str(path))
    env.reset(seed=0)
    assert env.step("def f():\n    return 1\n")[1] == 1.0  # raw text, no fence


def test_hostile_reply_is_contained():
    env = rlenvs.make("rlenvs/Code-v0", timeout_s=1.0)
    env.reset(options={"task": {"prompt": "p", "tests": ["assert f() == 1"]}})
    _, reward, terminated, _, info = env.step(_fenced("import os\nos._exit(0)\ndef f():\n    return 1"))
    assert reward == 0.0 and terminated and info["verdict"].reason
