"""The evaluation harness and the CLI, with scripted and real policies."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from itertools import combinations

import pytest

import rlenvs
from rlenvs.evaluation import evaluate, pass_at_k
from rlenvs.policies import FunctionPolicy


def _brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that a random k-subset of n samples (c correct) holds a correct one."""
    samples = [1] * c + [0] * (n - c)
    subsets = list(combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n,c,k", [(5, 0, 1), (5, 2, 1), (5, 2, 3), (6, 1, 6), (7, 3, 2), (4, 4, 2)])
def test_pass_at_k_matches_brute_force(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(_brute_pass_at_k(n, c, k))
    assert pass_at_k(n, c, 1) == pytest.approx(c / n)


def test_pass_at_k_rejects_bad_counts():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def _oracle(messages):
    question = re.search(r"Compute (.*)\. Put", messages[-1]["content"]).group(1)
    return f"\\boxed{{{eval(question)}}}"  # noqa: S307 - digits and operators we generated


def test_oracle_scores_one_and_wrong_policy_zero(tmp_path):
    out = tmp_path / "res.jsonl"
    result = evaluate("rlenvs/Arithmetic-v0", FunctionPolicy(_oracle), episodes=6, samples=2,
                      seed=3, out=out, progress=False)
    s = result.summary
    assert s["pass_at_k"] == {"pass@1": 1.0, "pass@2": 1.0} and s["mean_reward"] == 1.0
    assert s["components"]["answer"] == 1.0 and s["groups"]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 12 and all(line["verdict"]["passed"] for line in lines)
    assert lines[0]["messages"][-1]["role"] == "assistant" and lines[0]["seed"] == 3
    summary = json.loads((tmp_path / "res.jsonl.summary.json").read_text())
    assert summary["pass_at_k"]["pass@1"] == 1.0
    wrong = evaluate("rlenvs/Arithmetic-v0", FunctionPolicy(lambda m: "\\boxed{x}"), episodes=4,
                     progress=False)
    assert wrong.summary["pass_at_k"]["pass@1"] == 0.0


def test_pass_at_k_from_a_half_right_policy():
    calls = {"n": 0}

    def alternate(messages):
        calls["n"] += 1
        return _oracle(messages) if calls["n"] % 2 else "\\boxed{nope}"

    result = evaluate("rlenvs/Arithmetic-v0", FunctionPolicy(alternate), episodes=3, samples=4,
                      progress=False)
    assert result.summary["pass_at_k"]["pass@1"] == pytest.approx(0.5)
    assert result.summary["pass_at_k"]["pass@4"] == pytest.approx(1 - math.comb(2, 4) / math.comb(4, 4))


def test_same_seed_same_tasks():
    def tasks(seed):
        r = evaluate("rlenvs/Arithmetic-v0", FunctionPolicy(_oracle), episodes=5, seed=seed,
                     progress=False)
        return [rec["task"]["id"] for rec in r.records]

    assert tasks(1) == tasks(1) != tasks(2)


def test_smollm2_eval_reports_accuracy_by_level(smollm2):
    from judges.llm import SamplingParams

    result = evaluate("rlenvs/Arithmetic-v0", smollm2, episodes=6, seed=0,
                      env_kwargs={"lenient": True}, progress=False,
                      sampling=SamplingParams(temperature=0.0, max_new_tokens=96))
    s = result.summary
    assert 0.0 <= s["pass_at_k"]["pass@1"] <= 1.0
    assert any(g.startswith("level=") for g in s["groups"])
    assert all(rec["messages"][-1]["content"] for rec in result.records)


def test_cli_list_and_eval(tmp_path):
    listed = subprocess.run([sys.executable, "-m", "rlenvs.cli", "list"], capture_output=True,
                            text=True, check=True)
    assert "rlenvs/Arithmetic-v0" in listed.stdout.split()
    bad = subprocess.run([sys.executable, "-m", "rlenvs.cli", "eval", "rlenvs/Arithmatic-v0"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Did you mean: rlenvs/Arithmetic-v0" in bad.stderr
    out = tmp_path / "r.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "rlenvs.cli", "eval", "rlenvs/Arithmetic-v0", "--policy", "smollm2",
         "--episodes", "2", "--max-new-tokens", "48", "--out", str(out),
         "--env-kwarg", "level=1"],
        capture_output=True, text=True, timeout=1200,  # a hang guard, not a speed claim
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "pass@1" in run.stdout and "level=1" in run.stdout
    assert len(out.read_text().splitlines()) == 2


def test_list_envs_contains_only_registered_ids():
    ids = rlenvs.list_envs()
    assert ids == sorted(ids) and "rlenvs/Arithmetic-v0" in ids
