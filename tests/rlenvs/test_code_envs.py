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


def test_humaneval_env_takes_only_the_entry_point_from_the_program():
    """Issue 26: the env passes the task's contract - redefining the prompt's helper or a
    builtin next to a wrong solution scores 0; the canonical solution still scores 1."""
    from judges.code import humaneval_helpers, humaneval_tests, load_humaneval

    row = next(t for t in load_humaneval() if t["task_id"] == "HumanEval/32")
    task = {"id": row["task_id"], "prompt": row["prompt"], "program_prefix": row["prompt"],
            "entry_point": row["entry_point"], "helpers": humaneval_helpers(row),
            "tests": humaneval_tests(row)}
    env = rlenvs.make("rlenvs/HumanEval-v0")
    for reply, expected in [
        ("def poly(xs, x):\n    return 0\n\ndef find_zero(xs):\n    return 0.0\n", 0.0),
        ("import math\ndef find_zero(xs):\n    return 0.0\n\n"
         "class _M:\n    def fabs(self, x):\n        return 0\nmath = _M()\n", 0.0),
        (row["canonical_solution"], 1.0),
    ]:
        env.reset(options={"task": task})
        assert env.step(_fenced(reply))[1] == expected, reply
