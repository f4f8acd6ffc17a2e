"""Issue 31 (suites and comparisons): ``rlenvs eval --suite NAME|FILE`` and ``rlenvs compare
RUN_A RUN_B`` with plain scripted policies (no model)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rlenvs
import tests.rlenvs.eval_envs  # noqa: F401 - registers the test-eval/* environments
from rlenvs.cli import main
from rlenvs.compare import compare_env, compare_runs
from rlenvs.evaluation import evaluate
from rlenvs.policies import FunctionPolicy
from rlenvs.suites import BUILTIN_SUITES, SuiteError, load_suite, parse_suite

SWITCH = "tests.rlenvs.eval_envs:test-eval/Switch-v0"


def _answer(messages):
    return eval(re.search(r"Compute (.*)\. Put", messages[-1]["content"]).group(1))  # noqa: S307


def _oracle(messages):
    return f"\\boxed{{{_answer(messages)}}}"


def _off_by_one(messages):
    return f"\\boxed{{{_answer(messages) + 1}}}"


def _half(messages):
    """Right on even answers, wrong on odd ones."""
    a = _answer(messages)
    return f"\\boxed{{{a if a % 2 == 0 else a + 1}}}"


def _serve(fn):
    from judges.llm.server import ChatServer

    return ChatServer(FunctionPolicy(fn, name=fn.__name__))


def _suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text('name = "tiny"\n'
                    '[[env]]\nid = "rlenvs/Arithmetic-v0"\nepisodes = 12\nname = "arith-l1"\n'
                    'kwargs = { level = 1 }\n'
                    '[[env]]\nid = "rlenvs/Arithmetic-v0"\nepisodes = 12\nname = "arith-l2"\n'
                    'kwargs = { level = 2 }\n')
    return path


# ----------------------------------------------------------------- suites

def test_builtin_suites_name_registered_envs_with_valid_kwargs():
    assert set(BUILTIN_SUITES) == {"math", "code", "tools", "instruction",
                                   "reasoning-gym-sample"}
    known = set(rlenvs.list_envs())
    for suite in BUILTIN_SUITES.values():
        labels = [e.label() for e in suite.entries]
        assert len(set(labels)) == len(labels)
        for entry in suite.entries:
            assert entry.env_id in known, entry
            assert entry.episodes and entry.episodes > 0
            rlenvs.make(entry.env_id, **entry.kwargs).close()  # the kwargs are accepted
    assert load_suite("tools").entries[1].kwargs == {"category": "simple"}
    assert len(load_suite("reasoning-gym-sample").entries) >= 4


def test_suite_files_toml_and_yaml_and_their_errors(tmp_path):
    suite = load_suite(_suite_file(tmp_path))
    assert suite.name == "tiny" and [e.label() for e in suite.entries] == ["arith-l1", "arith-l2"]
    assert suite.entries[1].kwargs == {"level": 2} and suite.entries[1].episodes == 12
    yml = tmp_path / "y.yaml"
    yml.write_text("env:\n  - id: rlenvs/ReasoningGym-v0\n    kwargs: {dataset: gcd}\n")
    (entry,) = load_suite(yml).entries
    assert (entry.env_id, entry.kwargs, entry.episodes, entry.label()) == \
        ("rlenvs/ReasoningGym-v0", {"dataset": "gcd"}, None, "ReasoningGym-v0-gcd")
    assert load_suite(yml).name == "y"

    with pytest.raises(SuiteError, match="not a built-in suite .*math.*nor a suite file"):
        load_suite("no-such-suite")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[env]\nid=")
    with pytest.raises(SuiteError, match="not valid TOML"):
        load_suite(bad)
    cases = [({}, "no environments"), ({"env": [{"episodes": 3}]}, "`id`.*missing"),
             ({"env": [{"id": "x", "episodes": 0}]}, "positive integer"),
             ({"env": [{"id": "x", "kwargs": 3}]}, "kwargs"),
             ({"env": [{"id": "x", "level": 3}]}, "unknown key.*level"),
             ({"env": [{"id": "a/X-v0"}, {"id": "b/X-v0"}]}, "same file X-v0.jsonl"),
             ({"envs": []}, "unknown key.*envs")]
    for data, message in cases:
        with pytest.raises(SuiteError, match=message):
            parse_suite(data, where="f.toml")


def test_cli_suite_errors_are_one_line_before_any_model(tmp_path, capsys):
    assert main(["eval", "--suite", "nope", "--out-dir", str(tmp_path / "o")]) == 2
    assert "not a built-in suite" in capsys.readouterr().err
    assert main(["eval", "--suite", "math"]) == 2
    assert "--suite needs --out-dir" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('[[env]]\nid = "rlenvs/Arithmetic-v0"\nkwargs = { no_such_kwarg = 1 }\n')
    assert main(["eval", "--suite", str(bad), "--out-dir", str(tmp_path / "o"),
                 "--policy", "/no/such/model"]) == 2
    err = capsys.readouterr().err
    assert "Arithmetic-v0" in err and "no_such_kwarg" in err  # the env fails before the policy
    assert not (tmp_path / "o").exists()


def test_cli_suite_run_then_compare(tmp_path, capsys):
    suite = _suite_file(tmp_path)
    runs = {}
    for fn in (_oracle, _off_by_one):
        out_dir = tmp_path / fn.__name__
        with _serve(fn) as server:
            assert main(["eval", "--suite", str(suite), "--out-dir", str(out_dir), "--policy",
                         server.base_url, "--quiet"]) == 0
        runs[fn.__name__] = out_dir
        text = capsys.readouterr().out
        assert "suite tiny" in text and "arith-l1" in text and "arith-l2" in text
        summary = json.loads((out_dir / "summary.json").read_text())
        assert set(summary) == {"arith-l1", "arith-l2"}
        for name, level in (("arith-l1", 1), ("arith-l2", 2)):
            s = json.loads((out_dir / f"{name}.jsonl.summary.json").read_text())
            assert s["config"]["env_kwargs"] == {"level": level} and s["episodes"] == 12
            assert len((out_dir / f"{name}.jsonl").read_text().splitlines()) == 12
        assert json.loads((out_dir / "suite.json").read_text())["suite"] == "tiny"
    assert json.loads((runs["_oracle"] / "summary.json").read_text())["arith-l2"][
        "pass_at_k"]["pass@1"] == 1.0
    # a second run into the same folder is refused unless --resume / --overwrite
    with _serve(_oracle) as server:
        assert main(["eval", "--suite", str(suite), "--out-dir", str(runs["_oracle"]),
                     "--policy", server.base_url, "--quiet", "--episodes", "3"]) == 2
        assert "--resume" in capsys.readouterr().err

    # an interrupted suite (the second env never began, the first lost a transcript): --resume
    # keeps what is there and runs the rest
    lost = runs["_off_by_one"]
    (lost / "arith-l2.jsonl").unlink()
    (lost / "arith-l2.jsonl.summary.json").unlink()
    lines = (lost / "arith-l1.jsonl").read_text().splitlines(keepends=True)
    (lost / "arith-l1.jsonl").write_text("".join(lines[:-1]))
    with _serve(_off_by_one) as server:
        assert main(["eval", "--suite", str(suite), "--out-dir", str(lost), "--policy",
                     server.base_url, "--quiet", "--resume"]) == 0
    capsys.readouterr()
    resumed = json.loads((lost / "arith-l1.jsonl.summary.json").read_text())
    assert resumed["resumed"] == {"kept": 11, "rerun": 1} and resumed["transcripts"] == 12
    assert len((lost / "arith-l2.jsonl").read_text().splitlines()) == 12

    assert main(["compare", str(runs["_oracle"]), str(runs["_oracle"]), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert [r["env"] for r in same["envs"]] == ["arith-l1", "arith-l2"]
    for row in same["envs"]:
        assert row["paired"] and row["diff"] == 0.0 and row["ci"] == [0.0, 0.0]
        assert not row["significant"]

    assert main(["compare", str(runs["_oracle"]), str(runs["_off_by_one"]), "--json"]) == 0
    first = capsys.readouterr().out
    worse = json.loads(first)
    for row in worse["envs"]:
        assert row["paired"] and row["pass@1_a"] == 1.0 and row["pass@1_b"] == 0.0
        assert row["diff"] == pytest.approx(row["pass@1_b"] - 1.0)
        assert row["ci"][0] <= row["diff"] <= row["ci"][1] < 0 and row["significant"]
    assert main(["compare", str(runs["_oracle"]), str(runs["_off_by_one"]), "--json"]) == 0
    assert capsys.readouterr().out == first  # a fixed RNG seed: the same intervals every time

    assert main(["compare", str(runs["_oracle"]), str(runs["_off_by_one"])]) == 0
    table = capsys.readouterr().out
    assert "arith-l1" in table and "significant" in table and "B - A" in table
    assert main(["compare", str(runs["_oracle"] / "arith-l1.jsonl"),
                 str(runs["_off_by_one"] / "arith-l1.jsonl"), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["envs"]
    assert row["significant"] and row["n_a"] == 12
    assert main(["compare", str(tmp_path / "missing"), str(runs["_off_by_one"])]) == 2


# ----------------------------------------------------------------- compare

def _run(tmp_path, name, fn, seed=0, episodes=30, env="rlenvs/Arithmetic-v0"):
    out = tmp_path / f"{name}.jsonl"
    evaluate(env, FunctionPolicy(fn), episodes=episodes, seed=seed, out=out, progress=False,
             env_kwargs={"level": 1})
    return out


def test_paired_with_the_same_seeds_unpaired_otherwise(tmp_path):
    a = _run(tmp_path, "a", _oracle)
    b = _run(tmp_path, "b", _off_by_one)
    c = _run(tmp_path, "c", _off_by_one, seed=1000)
    (paired,) = compare_runs(a, b)["envs"]
    (unpaired,) = compare_runs(a, c)["envs"]
    assert paired["paired"] and paired["pairs"] == 30
    assert not unpaired["paired"] and "pairs" not in unpaired
    for row in (paired, unpaired):
        assert row["diff"] == -1.0 and row["significant"] and row["ci"] == [-1.0, -1.0]
    with pytest.raises(ValueError, match="paired comparison needs"):
        from rlenvs.eval_files import read_transcripts

        compare_env(read_transcripts(a), read_transcripts(c), paired=True)


def test_pairing_narrows_the_interval_of_correlated_runs():
    """Two runs that agree on most episodes: the paired CI is much narrower than the unpaired
    one over the same records (pairing removes the between-episode variance)."""
    def records(passed, seed_base=0):
        return [{"episode": i, "sample": 0, "seed": seed_base + i, "passed": p,
                 "status": "scored", "messages": []} for i, p in enumerate(passed)]

    a_passed = [i % 2 == 0 for i in range(60)]
    b_passed = [p or i in (1, 3, 5, 7) for i, p in enumerate(a_passed)]  # B fixes 4 of A's
    paired = compare_env(records(a_passed), records(b_passed))
    unpaired = compare_env(records(a_passed), records(b_passed), paired=False)
    assert paired["paired"] and not unpaired["paired"]
    assert paired["diff"] == unpaired["diff"] == pytest.approx(4 / 60)
    width = [r["ci"][1] - r["ci"][0] for r in (paired, unpaired)]
    assert width[0] < width[1] / 2
    assert paired["significant"] and not unpaired["significant"]
    assert compare_env(records(a_passed), records(b_passed), seed=1) != paired  # RNG matters
    assert compare_env(records(a_passed), records(b_passed)) == paired  # and is fixed


def test_unscored_transcripts_are_left_out_and_counted(tmp_path, monkeypatch):
    monkeypatch.delenv("RLENVS_TEST_JUDGE", raising=False)

    def faulty(messages):  # the judge fails on every even answer: unscored, not a failure
        a = _answer(messages)
        return f"\\boxed{{{a}}}" + (" [judge-down]" if a % 2 == 0 else "")

    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    evaluate(SWITCH, FunctionPolicy(faulty), episodes=20, out=a, progress=False)
    evaluate(SWITCH, FunctionPolicy(_half), episodes=20, out=b, progress=False)
    (row,) = compare_runs(a, b)["envs"]
    from rlenvs.eval_files import read_transcripts

    unscored = sum(r["status"] == "unscored" for r in read_transcripts(a))
    assert 0 < unscored < 20 and row["unscored_a"] == unscored and row["unscored_b"] == 0
    assert row["paired"] and row["pairs"] == 20 - unscored == row["n_a"]
    # left in, the unscored (even) episodes would count as A's failures; left out, A is right on
    # every scored (odd) episode and B wrong on each of them
    assert row["pass@1_a"] == 1.0 and row["pass@1_b"] == 0.0 and row["significant"]
    unpaired = compare_env(read_transcripts(a), read_transcripts(b), paired=False)
    assert unpaired["n_a"] == 20 - unscored and unpaired["n_b"] == 20
    assert unpaired["pass@1_a"] == 1.0 and 0 < unpaired["pass@1_b"] < 1


def _records(passed, scored=None):
    return [{"episode": i, "sample": 0, "seed": i, "passed": p, "messages": [],
             "status": "scored" if scored is None or scored[i] else "unscored"}
            for i, p in enumerate(passed)]


@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=1,
                max_size=25))
@settings(max_examples=40, deadline=None)
def test_compare_env_properties(rows):
    a = _records([r[0] for r in rows])
    b = _records([r[1] for r in rows], scored=[r[2] for r in rows])
    ab = compare_env(a, b, resamples=500)
    ba = compare_env(b, a, resamples=500)
    assert ab["paired"] and ab["unscored_b"] == sum(not r[2] for r in rows)
    assert ab["pairs"] == ab["n_a"] == sum(r[2] for r in rows)
    if ab["diff"] is None:
        assert ab["pairs"] == 0 and not ab["significant"]
        return
    assert -1 <= ab["ci"][0] <= ab["ci"][1] <= 1
    assert ab["significant"] == (ab["ci"][0] > 0 or ab["ci"][1] < 0)
    # A and B swapped: the difference and its interval mirrored
    assert ba["diff"] == pytest.approx(-ab["diff"])
    assert ba["ci"] == pytest.approx([-ab["ci"][1], -ab["ci"][0]])
    assert ba["significant"] == ab["significant"]
