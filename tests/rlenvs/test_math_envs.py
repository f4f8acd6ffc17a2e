"""The math family: procedural reasoning-gym tasks and GSM8K / MATH format sources."""

from __future__ import annotations

import json

import datasets
import pytest

import rlenvs


def test_math_v0_levels_are_seeded_and_solvable_by_the_gold():
    env = rlenvs.make("rlenvs/Math-v0", level=2)
    _, info1 = env.reset(seed=4)
    _, info2 = env.reset(seed=4)
    assert info1["task"] == info2["task"] and info1["task"]["level"] == 2
    for seed in range(15):
        _, info = env.reset(seed=seed)
        _, reward, terminated, _, step_info = env.step(f"\\boxed{{{info['task']['answer']}}}")
        assert reward == 1.0, (info["task"], step_info["verdict"])
    env.reset(seed=0)
    assert env.step("\\boxed{not a number}")[1] == 0.0


def test_math_v0_curriculum_hook_and_generators():
    env = rlenvs.make("rlenvs/Math-v0", generators=["gcd"], level=1)
    env.unwrapped.set_level(3)
    _, info = env.reset(seed=0)
    assert info["task"]["level"] == 3 and info["task"]["source"] == "gcd"
    with pytest.raises(ValueError, match="level"):
        env.unwrapped.set_level(7)
    with pytest.raises(ValueError, match="unknown generator"):
        rlenvs.make("rlenvs/Math-v0", generators=["nope"])


def test_gsm8k_sample_and_answer_forms():
    env = rlenvs.make("rlenvs/GSM8K-v0")
    _, info = env.reset(seed=1)
    gold = info["task"]["answer"]
    assert "####" not in gold and "####" in info["task"]["solution"]
    # strict by default like the whole math family (issue 30 item 5); lenient=True reads ####
    assert env.step(f"Let me think. #### {gold}")[1] == 0.0
    lenient = rlenvs.make("rlenvs/GSM8K-v0", lenient=True)
    lenient.reset(seed=1)
    assert lenient.step(f"Let me think. #### {gold}")[1] == 1.0
    env.reset(seed=1)
    assert env.step(f"The answer is \\boxed{{{gold}}}.")[1] == 1.0
    env.reset(seed=1)
    assert env.step("I have no idea.")[1] == 0.0


def test_math_sample_equivalent_forms():
    env = rlenvs.make("rlenvs/MATH-v0")
    env.reset(options={"task": {"question": "3/4 + 1/6?", "answer": "$\\boxed{\\frac{11}{12}}$"}})
    assert env.step("so \\boxed{11/12}")[1] == 1.0
    env.reset(options={"task": {"question": "|x-2|<3", "answer": "\\boxed{(-1, 5)}"}})
    assert env.step("\\boxed{(-1,5)}")[1] == 1.0
    env.reset(options={"task": {"question": "|x-2|<3", "answer": "\\boxed{(-1, 5)}"}})
    assert env.step("\\boxed{[-1,5]}")[1] == 0.0


def test_user_files_and_datasets(tmp_path):
    path = tmp_path / "mine.jsonl"
    rows = [{"question": "What is 6 * 7?", "answer": "6 * 7 = 42\n#### 42"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    env = rlenvs.make("rlenvs/GSM8K-v0", path=str(path))
    obs, info = env.reset(seed=0)
    assert "6 * 7" in obs[-1]["content"] and info["task"]["answer"] == "42"
    ds = datasets.Dataset.from_list(
        [{"problem": "What is $2+2$?", "solution": "It is $\\boxed{4}$."}]
    )
    env = rlenvs.make("rlenvs/MATH-v0", dataset=ds)
    env.reset(seed=0)
    assert env.step("\\boxed{4}")[1] == 1.0


def test_bad_task_files_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x", "answer": "no hashes here"}\n')
    with pytest.raises(ValueError, match="####"):
        rlenvs.make("rlenvs/GSM8K-v0", path=str(bad))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"problem": "x", "solution": "\\\\boxed{1}"}\n{oops\n')
    with pytest.raises(ValueError, match=r"broken.jsonl:2: not valid JSON"):
        rlenvs.make("rlenvs/MATH-v0", path=str(broken))
    with pytest.raises(FileNotFoundError):
        rlenvs.make("rlenvs/MATH-v0", path=str(tmp_path / "missing.jsonl"))
