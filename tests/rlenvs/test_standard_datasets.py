"""The standard datasets by name (issue 31): GSM8K, MATH-500, AIME 2024/2025, HumanEval+, MBPP+,
IFEval and IFBench through ``rlenvs.datasets_hub``'s real loader, on local copies in the hub's
schema that the tests build (``save_to_disk`` folders, the hub's own parquet/JSON file layouts,
in-memory ``datasets.Dataset``): resets, right answers pass, wrong ones fail, schema errors name
the column, and an unreachable hub is a clear error naming the fix (a real fault: a closed port)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import datasets
import pytest

import rlenvs
from rlenvs.datasets_hub import (
    STANDARD_DATASETS,
    DatasetSchemaError,
    DatasetUnavailable,
    load_standard,
    standard_dataset,
)


def _fenced(code: str) -> str:
    return f"Here it is:\n```python\n{code}\n```"


def _parquet(rows, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    return path


def _jsonl(rows, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


GSM8K = [{"question": "Tom has 6 bags of 7 apples. How many apples?",
          "answer": "6 * 7 = <<6*7=42>>42\n#### 42"},
         {"question": "A pen costs 3 dollars. What do 1,000 pens cost?",
          "answer": "1000 * 3 = 3000\n#### 3,000"}]


# ------------------------------------------------------------------ math: GSM8K, MATH-500, AIME

def test_gsm8k_from_a_save_to_disk_folder_right_passes_wrong_fails(tmp_path):
    folder = tmp_path / "gsm8k"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(GSM8K),
                          "train": datasets.Dataset.from_list(GSM8K[:1])}).save_to_disk(folder)
    env = rlenvs.make("rlenvs/GSM8K-v0", dataset=str(folder))
    assert len(env.unwrapped.source) == 2  # the test split, as on the hub
    for seed in range(4):
        obs, info = env.reset(seed=seed)
        gold = info["task"]["answer"]
        assert gold in ("42", "3000") and info["task"]["question"] in obs[-1]["content"]
        assert env.step(f"So the answer is \\boxed{{{gold}}}.")[1] == 1.0
        env.reset(seed=seed)
        _, reward, _, _, step = env.step("\\boxed{41}")
        assert reward == 0.0 and not step["verdict"].passed
    train = rlenvs.make("rlenvs/GSM8K-v0", dataset=str(folder), split="train")
    assert len(train.unwrapped.source) == 1


def test_gsm8k_from_the_hubs_own_parquet_layout(tmp_path):
    _parquet(GSM8K, tmp_path / "gsm8k" / "main" / "test-00000-of-00001.parquet")
    _parquet(GSM8K[:1], tmp_path / "gsm8k" / "main" / "train-00000-of-00001.parquet")
    env = rlenvs.make("rlenvs/GSM8K-v0", dataset=str(tmp_path / "gsm8k"))
    assert len(env.unwrapped.source) == 2
    env.reset(seed=0)
    gold = env.unwrapped.task["answer"]
    assert env.step(f"\\boxed{{{gold}}}")[1] == 1.0


def test_math500_jsonl_copy_uses_the_answer_column(tmp_path):
    rows = [{"problem": "Compute $\\frac{1}{2}+\\frac{1}{3}$.", "answer": "\\frac{5}{6}",
             "solution": "The sum is $\\frac{5}{6}$ (no box in this solution).",
             "subject": "Prealgebra", "level": 2, "unique_id": "test/prealgebra/1.json"}]
    path = _jsonl(rows, tmp_path / "math500" / "test.jsonl")
    for dataset in (str(path), str(path.parent)):
        env = rlenvs.make("rlenvs/MATH-v0", dataset=dataset)
        env.reset(seed=0)
        assert env.step("\\boxed{\\frac{5}{6}}")[1] == 1.0
        env.reset(seed=0)
        assert env.step("\\boxed{\\frac{1}{5}}")[1] == 0.0


def test_aime_2024_and_2025_schemas_and_the_offline_sample(tmp_path):
    aime24 = [{"id": 60, "problem": "Find $7 \\cdot 11$.", "solution": "It is 77.",
               "answer": "077", "url": "https://example.org/1", "year": "2024"}]
    _parquet(aime24, tmp_path / "aime24" / "data" / "train-00000-of-00001.parquet")
    env = rlenvs.make("rlenvs/AIME-v0", year=2024, dataset=str(tmp_path / "aime24"))
    obs, info = env.reset(seed=0)
    assert "7 \\cdot 11" in obs[-1]["content"] and info["task"]["id"] == "aime-60"
    assert env.step("\\boxed{77}")[1] == 1.0
    env.reset(seed=0)
    assert env.step("\\boxed{78}")[1] == 0.0
    # 2025: two configs on the hub (I and II), columns question/answer; a JSONL copy
    aime25 = [{"question": "How many primes are less than $20$?", "answer": "8"}]
    path = _jsonl(aime25, tmp_path / "aime2025-I.jsonl")
    env = rlenvs.make("rlenvs/AIME-v0", year=2025, dataset=str(path))
    env.reset(seed=0)
    assert env.step("\\boxed{8}")[1] == 1.0
    with pytest.raises(DatasetSchemaError, match="'question'"):  # a 2024 copy is not 2025's
        rlenvs.make("rlenvs/AIME-v0", year=2025, dataset=str(tmp_path / "aime24"))
    sample = rlenvs.make("rlenvs/AIME-v0")  # offline default: the shipped format sample
    _, info = sample.reset(seed=1)
    assert sample.step(f"\\boxed{{{info['task']['answer']}}}")[1] == 1.0
    with pytest.raises(ValueError, match="year must be one of"):
        rlenvs.make("rlenvs/AIME-v0", year=2023)


# ------------------------------------------------------------------ code: HumanEval+, MBPP+

_ORACLE = '''import numpy as np

def is_floats(x) -> bool:
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    return False

def assertion(out, exp, atol):
    if atol == 0 and is_floats(exp):
        atol = 1e-6
    if out != exp and atol != 0:
        assert np.allclose(out, exp, rtol=1e-07, atol=atol)
    else:
        assert out == exp, f"out: {out}, exp: {exp}"
'''

HE_PROMPT = '''def sum_of_abs(a: int, b: int) -> int:
    """Return the sum of the absolute values of a and b.
    >>> sum_of_abs(1, -2)
    3
    """
'''
HE_PLUS = _ORACLE + '''
def check(candidate):
    inputs = [[1, -2], [0, 0], [-3, -4], [10**6, -1], [-10**9, 10**9]]
    results = [3, 0, 7, 1000001, 2000000000]
    for inp, exp in zip(inputs, results):
        assertion(candidate(*inp), exp, 0)
'''
MBPP_PLUS = _ORACLE + '''
inputs = [[[1, 5, 2]], [[7]], [[1, 2, 3, 9]], [[-5, -2, -9]]]
results = [5, 7, 9, -2]
for i, (inp, exp) in enumerate(zip(inputs, results)):
    assertion(max_of(*inp), exp, 0)
'''


def test_humaneval_plus_runs_evalplus_extra_tests(tmp_path):
    rows = [{"task_id": "HumanEval/999", "prompt": HE_PROMPT, "entry_point": "sum_of_abs",
             "canonical_solution": "    return abs(a) + abs(b)\n", "test": HE_PLUS}]
    folder = tmp_path / "humanevalplus"
    datasets.Dataset.from_list(rows).save_to_disk(folder)
    env = rlenvs.make("rlenvs/HumanEval-v0", dataset=str(folder))
    _, info = env.reset(seed=0)
    assert info["task"]["id"] == "HumanEval/999" and info["task"]["entry_point"] == "sum_of_abs"
    _, reward, _, _, step = env.step(_fenced("    return abs(a) + abs(b)\n"))  # only the body
    assert reward == 1.0, step["verdict"].reason
    # right on the docstring's example, wrong on EvalPlus's large inputs: the plus tests catch it
    env.reset(seed=0)
    small_only = HE_PROMPT + "    return abs(a) + abs(b) if abs(a) < 1000 else 0\n"
    _, reward, _, _, step = env.step(_fenced(small_only))
    assert reward == 0.0 and not step["verdict"].passed


def test_mbpp_plus_base_and_plus_tests(tmp_path):
    rows = [{"task_id": 901, "prompt": "Write a function to find the largest number in a list.",
             "code": "def max_of(xs):\n    return max(xs)\n", "source_file": "x.py",
             "test_imports": ["import math"], "test_list": ["assert max_of([1, 5, 2]) == 5"],
             "test": MBPP_PLUS}]
    path = _parquet(rows, tmp_path / "mbppplus" / "data" / "test-00000-of-00001.parquet")
    env = rlenvs.make("rlenvs/MBPP-v0", dataset=str(path.parent.parent), reward="dense")
    obs, info = env.reset(seed=0)
    assert "largest number" in obs[-1]["content"] and "max_of([1, 5, 2])" in obs[-1]["content"]
    assert len(info["task"]["tests"]) == 2 and info["task"]["tests"][0].startswith("import math")
    _, reward, _, _, step = env.step(_fenced("def max_of(xs):\n    return max(xs)\n"))
    assert reward == 1.0, step["verdict"].reason
    env.reset(seed=0)  # passes the base assert, fails the plus inputs: half the tests, no pass
    _, reward, _, _, step = env.step(_fenced("def max_of(xs):\n    return max(xs[:3])\n"))
    assert reward == 0.5 and not step["verdict"].passed


# ------------------------------------------------------------------ instructions: IFEval, IFBench

_NONES = {"num_words": None, "relation": None, "num_highlights": None, "keywords": None}
IFEVAL = [
    {"key": 1000, "prompt": "Write a short note about tea. Use only lowercase letters.",
     "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [dict(_NONES)]},
    {"key": 1001, "prompt": "Describe rain in fewer than 10 words.",
     "instruction_id_list": ["length_constraints:number_words"],
     "kwargs": [{**_NONES, "relation": "less than", "num_words": 10}]},
]


def test_ifeval_hub_parquet_with_null_filled_kwargs(tmp_path):
    path = _parquet(IFEVAL, tmp_path / "IFEval" / "ifeval_input_data.parquet")
    env = rlenvs.make("rlenvs/IFEval-v0", dataset=str(path))
    assert len(env.unwrapped.source) == 2
    env.reset(options={"task": dict(env.unwrapped.source[0])})
    assert env.step("tea is a warm drink that calms the mind.")[1] == 1.0
    env.reset(options={"task": dict(env.unwrapped.source[0])})
    assert env.step("Tea is a warm drink.")[1] == 0.0
    env.reset(options={"task": dict(env.unwrapped.source[1])})
    assert env.step("Soft rain falls on the roof.")[1] == 1.0


def test_ifbench_ids_without_a_checker_are_unscored_or_skipped(tmp_path):
    rows = [{"key": 1, "prompt": "Write about cats in 5 to 10 words.",
             "instruction_id_list": ["count:word_count_range"],
             "kwargs": [{"min_words": 5, "max_words": 10, "relation": None}]},
            {"key": 2, "prompt": "Write about dogs without commas.",
             "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{"min_words": None}]}]
    path = _jsonl(rows, tmp_path / "IFBench_test.jsonl")
    env = rlenvs.make("rlenvs/IFEval-v0", dataset=str(path), schema="allenai/IFBench_test")
    assert len(env.unwrapped.source) == 2
    env.reset(options={"task": dict(env.unwrapped.source[0])})
    _, reward, terminated, _, info = env.step("Cats sleep a lot and purr softly.")
    verdict = info["verdict"]
    assert verdict.status == "unscored" and "count:word_count_range" in verdict.reason
    assert terminated and reward == 0.0
    env.reset(options={"task": dict(env.unwrapped.source[1])})
    assert env.step("Dogs run and play all day")[1] == 1.0
    skip = rlenvs.make("rlenvs/IFEval-v0", dataset=str(path), schema="allenai/IFBench_test",
                       unsupported="skip")
    assert [t["key"] for t in skip.unwrapped.source.tasks] == [2]
    only_new = _jsonl(rows[:1], tmp_path / "only_new.jsonl")
    with pytest.raises(ValueError, match="no prompt uses only instruction ids"):
        rlenvs.make("rlenvs/IFEval-v0", dataset=str(only_new), schema="allenai/IFBench_test",
                    unsupported="skip")


# ------------------------------------------------------------------ schema errors

def test_schema_errors_name_the_column(tmp_path):
    no_answer = datasets.Dataset.from_list([{"question": "1+1?", "solution": "2"}])
    with pytest.raises(DatasetSchemaError, match=r"no column 'answer'.*question \(str\)"):
        rlenvs.make("rlenvs/GSM8K-v0", dataset=no_answer)
    wrong_type = _jsonl([{"question": "1+1?", "answer": 2}], tmp_path / "g.jsonl")
    with pytest.raises(DatasetSchemaError, match=r"column 'answer' of row 0 must be str"):
        rlenvs.make("rlenvs/GSM8K-v0", dataset=str(wrong_type))
    bad_tests = [{"task_id": 1, "prompt": "p", "test_list": "assert f() == 1", "test": "x"}]
    with pytest.raises(DatasetSchemaError, match=r"'test_list' of row 0 must be list\[str\]"):
        rlenvs.make("rlenvs/MBPP-v0", dataset=bad_tests)
    empty = [{"key": 1, "prompt": None, "instruction_id_list": ["x"], "kwargs": [{}]}]
    with pytest.raises(DatasetSchemaError, match=r"column 'prompt' is empty in row 0"):
        load_standard("ifeval", empty)
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        rlenvs.make("rlenvs/GSM8K-v0", dataset=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="no standard dataset"):
        standard_dataset("not-a-dataset")


def test_every_standard_dataset_names_an_env_that_exists():
    known = set(rlenvs.list_envs())
    for spec in STANDARD_DATASETS.values():
        assert spec.env_id in known and any(c.required for c in spec.columns)
        assert "save_to_disk" in spec.download_hint()


# ------------------------------------------------------------------ the hub cannot be reached

@pytest.fixture
def closed_endpoint(monkeypatch):
    """HF_ENDPOINT on a loopback port nothing listens on: the hub is really unreachable."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    return port


def test_unreachable_hub_is_a_clear_error_naming_the_fix(closed_endpoint):
    for env_id, kwargs, hub_id in (
            ("rlenvs/GSM8K-v0", {"dataset": "openai/gsm8k"}, "openai/gsm8k"),
            ("rlenvs/HumanEval-v0", {"dataset": "evalplus/humanevalplus"},
             "evalplus/humanevalplus"),
            ("rlenvs/AIME-v0", {"year": 2025}, "opencompass/AIME2025")):
        start = time.monotonic()
        with pytest.raises(DatasetUnavailable) as caught:
            rlenvs.make(env_id, **kwargs)
        message = str(caught.value)
        assert f"dataset={hub_id}: the Hugging Face hub cannot be reached" in message
        assert "save_to_disk(DIR)" in message and "dataset=DIR" in message
        assert caught.value.__cause__ is None and time.monotonic() - start < 10
    assert "'AIME2025-I'" in message and "'AIME2025-II'" in message  # both configs to save


def test_cli_prints_one_line_not_a_traceback(closed_endpoint):
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{closed_endpoint}"}
    proc = subprocess.run(
        [sys.executable, "-m", "rlenvs.cli", "eval", "rlenvs/GSM8K-v0", "--env-kwarg",
         "dataset=openai/gsm8k", "--policy", "echo", "--episodes", "1", "--quiet"],
        capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "hub cannot be reached" in proc.stderr
    assert "save_to_disk" in proc.stderr


def test_offline_mode_reads_the_cache_and_says_so(tmp_path):
    """With HF_HUB_OFFLINE=1 no probe is made; ``datasets`` finds no cached copy and the error
    is still ours, one line, naming the fix."""
    code = ("from rlenvs.datasets_hub import load_standard, DatasetUnavailable\n"
            "try:\n    load_standard('gsm8k')\nexcept DatasetUnavailable as e:\n"
            "    print('CAUGHT', e)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "hf" / "ds")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert "CAUGHT dataset=openai/gsm8k" in proc.stdout, proc.stderr[-2000:]
    assert "save_to_disk" in proc.stdout


def test_short_names_and_an_in_memory_dataset_dict(tmp_path, closed_endpoint, monkeypatch):
    splits = datasets.DatasetDict({"test": datasets.Dataset.from_list(GSM8K),
                                   "train": datasets.Dataset.from_list(GSM8K[:1])})
    env = rlenvs.make("rlenvs/GSM8K-v0", dataset=splits)
    assert len(env.unwrapped.source) == 2  # its test split
    with pytest.raises(DatasetUnavailable, match="dataset=openai/gsm8k"):  # "gsm8k" is the hub id
        rlenvs.make("rlenvs/GSM8K-v0", dataset="gsm8k")
    splits.save_to_disk(tmp_path / "gsm8k")  # ... unless a local copy is called so
    monkeypatch.chdir(tmp_path)
    assert len(rlenvs.make("rlenvs/GSM8K-v0", dataset="gsm8k").unwrapped.source) == 2
    with pytest.raises(DatasetSchemaError, match="row 0 is a str"):
        load_standard("gsm8k", ["not a row"])


def test_any_env_reading_a_dataset_by_name_gets_the_same_offline_error(tmp_path, closed_endpoint):
    """ListSource.from_dataset (Chat-v0's dataset=) goes through the same loader: a local copy
    works, an unreachable hub is one line naming the fix."""
    path = _jsonl([{"prompt": "Say hello."}], tmp_path / "chat.jsonl")
    env = rlenvs.make("rlenvs/Chat-v0", dataset=str(path))
    assert env.reset(seed=0)[0][-1]["content"] == "Say hello."
    with pytest.raises(DatasetUnavailable, match=r"save_to_disk\(DIR\)"):
        rlenvs.make("rlenvs/Chat-v0", dataset="someone/chat-prompts")


def test_the_example_suite_names_every_standard_dataset_but_ifbench():
    from pathlib import Path

    from rlenvs.envs.math_env import AIME_DATASETS
    from rlenvs.suites import load_suite

    path = Path(__file__).parents[2] / "examples" / "suites" / "standard_datasets.toml"
    hub_ids = {}
    for entry in load_suite(path).entries:
        hub_id = entry.kwargs.get("dataset") or AIME_DATASETS[entry.kwargs["year"]]
        hub_ids[hub_id] = entry.env_id
    assert set(hub_ids) == set(STANDARD_DATASETS) - {"allenai/IFBench_test"}
    assert all(STANDARD_DATASETS[h].env_id == env_id for h, env_id in hub_ids.items())
