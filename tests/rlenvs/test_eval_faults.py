"""Issue 28 (evaluation side) and issue 30 items 2, 7, 8: faults are counted apart, deadlines
bound stuck parts, --resume / --reverify, an interrupted eval keeps a valid partial summary."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tests.rlenvs.eval_envs  # noqa: F401 - registers the test-eval/* environments
from rlenvs.cli import main
from rlenvs.evaluation import evaluate
from rlenvs.policies import FunctionPolicy

SWITCH = "test-eval/Switch-v0"
REPO = Path(__file__).resolve().parents[2]


def _oracle(messages):
    question = re.search(r"Compute (.*)\. Put", messages[-1]["content"]).group(1)
    return f"\\boxed{{{eval(question)}}}"  # noqa: S307 - digits and operators we generated


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _summary(out: Path) -> dict:
    return json.loads(Path(str(out) + ".summary.json").read_text())


# ----------------------------------------------------------------- faults apart

def test_unscored_transcripts_are_not_failures(tmp_path, monkeypatch):
    """Before: a judge fault was a failed episode (pass@1 4/6 here); now pass@k and the mean
    reward are over scored transcripts and the faults are counted by cause."""
    monkeypatch.delenv("RLENVS_TEST_JUDGE", raising=False)
    calls = {"n": 0}

    def faulty_first_two(messages):
        calls["n"] += 1
        return _oracle(messages) + (" [judge-down]" if calls["n"] <= 2 else "")

    policy = FunctionPolicy(faulty_first_two)
    policy.batch_size = 1
    out = tmp_path / "r.jsonl"
    result = evaluate(SWITCH, policy, episodes=6, out=out, progress=False)
    s = result.summary
    assert s["pass_at_k"] == {"pass@1": 1.0} and s["mean_reward"] == 1.0
    assert s["transcripts"] == 6 and s["unscored"] == 2
    assert s["unscored_causes"] == {"judge_backend": 2}
    assert s["unscored_reasons"] == {"judge_backend": "unparseable judge output"}
    rows = dict(result.table_rows())
    assert rows["unscored (not failures)"] == "2/6 (judge_backend: unparseable judge output)"
    records = _lines(out)
    assert [r["status"] for r in records] == ["unscored"] * 2 + ["scored"] * 4
    assert records[0]["cause"] == "judge_backend" and records[0]["passed"] is False
    assert "cause" not in records[2]
    assert _summary(out)["unscored"] == 2 and _summary(out)["partial"] is False


def test_all_unscored_has_no_pass_at_k_and_says_why(monkeypatch):
    monkeypatch.setenv("RLENVS_TEST_JUDGE", "down")
    from rlenvs.eval_summary import unscored_note

    result = evaluate(SWITCH, _oracle, episodes=3, samples=2, progress=False)
    s = result.summary
    assert s["pass_at_k"] == {"pass@1": None, "pass@2": None} and s["mean_reward"] is None
    assert unscored_note(s) == "unscored 6/6 (judge_backend: unparseable judge output)"
    assert dict(result.table_rows())["pass@1"] == "— (nothing scored)"


def test_pass_at_k_leaves_out_an_episode_with_too_few_scored_samples(monkeypatch):
    monkeypatch.delenv("RLENVS_TEST_JUDGE", raising=False)

    def first_sample_faulty(messages):  # replies are made in (episode, sample) order
        first_sample_faulty.n += 1
        return _oracle(messages) + (" [judge-down]" if first_sample_faulty.n == 1 else "")

    first_sample_faulty.n = 0
    policy = FunctionPolicy(first_sample_faulty)
    policy.batch_size = 1
    s = evaluate(SWITCH, policy, episodes=2, samples=2, progress=False).summary
    # episode 0 has one scored sample: it counts for pass@1, not for pass@2
    assert s["pass_at_k"] == {"pass@1": 1.0, "pass@2": 1.0} and s["unscored"] == 1


# ----------------------------------------------------------------- deadlines

def test_a_judge_that_never_answers_is_a_deadline_and_the_rest_go_on(tmp_path):
    calls = {"n": 0}

    def second_hangs_the_judge(messages):
        calls["n"] += 1
        return _oracle(messages) + (" hang" if calls["n"] == 2 else "")

    policy = FunctionPolicy(second_hangs_the_judge)
    policy.batch_size = 1
    out = tmp_path / "r.jsonl"
    started = time.monotonic()
    result = evaluate("test-eval/StuckJudge-v0", policy, episodes=4, out=out,
                      episode_timeout=3.0, progress=False)
    assert time.monotonic() - started < 60  # a hang guard: the judge never returns
    statuses = [(r["status"], r.get("cause")) for r in result.records]
    assert statuses == [("scored", None), ("unscored", "deadline"), ("scored", None),
                        ("scored", None)]
    assert "budget of 3 s" in result.records[1]["unscored_reason"]
    assert result.summary["pass_at_k"]["pass@1"] == 1.0
    assert result.summary["unscored_causes"] == {"deadline": 1}
    assert len(_lines(out)) == 4


def test_a_hanging_policy_is_bounded_by_the_episode_budget():
    calls = {"n": 0}

    def policy_fn(messages):
        calls["n"] += 1
        if calls["n"] == 1:
            time.sleep(3600)  # a policy server that stopped answering
        return _oracle(messages)

    policy = FunctionPolicy(policy_fn)
    policy.batch_size = 1
    started = time.monotonic()
    result = evaluate("rlenvs/Arithmetic-v0", policy, episodes=3, episode_timeout=2.0,
                      progress=False)
    assert time.monotonic() - started < 60  # hang guard
    assert [r["status"] for r in result.records] == ["unscored", "scored", "scored"]
    assert "generation ran past" in result.records[0]["unscored_reason"]


def test_the_run_budget_ends_a_sleeping_env_step_and_records_the_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("RLENVS_TEST_STEP_SLEEP", "3600")
    calls = {"n": 0}

    def third_is_slow(messages):
        calls["n"] += 1
        return _oracle(messages) + (" slow" if calls["n"] == 3 else "")

    policy = FunctionPolicy(third_is_slow)
    policy.batch_size = 1
    out = tmp_path / "r.jsonl"
    started = time.monotonic()
    result = evaluate("test-eval/SlowStep-v0", policy, episodes=5, out=out, run_timeout=4.0,
                      progress=False)
    assert time.monotonic() - started < 60  # hang guard
    statuses = [r["status"] for r in result.records]
    assert statuses[:2] == ["scored", "scored"] and set(statuses[2:]) == {"unscored"}
    assert all("run's budget of 4 s" in r["unscored_reason"] for r in result.records[2:])
    assert len(_lines(out)) == 5 and _summary(out)["unscored"] == 3


# ----------------------------------------------------------------- resume and reverify

def test_resume_reruns_exactly_the_unscored_and_unfinished(tmp_path, monkeypatch):
    monkeypatch.delenv("RLENVS_TEST_JUDGE", raising=False)
    out = tmp_path / "r.jsonl"

    def some_faulty(messages):
        some_faulty.n += 1
        return _oracle(messages) + (" [judge-down]" if some_faulty.n in (2, 5) else "")

    some_faulty.n = 0
    policy = FunctionPolicy(some_faulty)
    policy.batch_size = 1
    evaluate(SWITCH, policy, episodes=6, out=out, progress=False)
    first = _lines(out)
    # lose episode 3 as a killed run would (its line never written)
    out.write_text("".join(json.dumps(r) + "\n" for r in first if r["episode"] != 3))
    asked: list[str] = []

    def counting(messages):
        asked.append(messages[-1]["content"])
        return _oracle(messages)

    result = evaluate(SWITCH, counting, episodes=6, out=out, resume=True, progress=False)
    assert len(asked) == 3  # episodes 1 and 4 (unscored) and 3 (missing), nothing else
    assert result.summary["resumed"] == {"kept": 3, "rerun": 3}
    assert result.summary["unscored"] == 0 and result.summary["pass_at_k"]["pass@1"] == 1.0
    again = _lines(out)
    assert [r["episode"] for r in again] == list(range(6))
    for r in again:
        if r["episode"] in (0, 2, 5):
            assert r == first[r["episode"]]  # kept as it was
    with pytest.raises(ValueError, match="seed"):
        evaluate(SWITCH, counting, episodes=6, seed=1, out=out, resume=True, progress=False)
    with pytest.raises(ValueError, match="no evaluation to resume"):
        evaluate(SWITCH, counting, episodes=2, out=tmp_path / "none.jsonl", resume=True,
                 progress=False)


def test_reverify_reports_hacks_closed_and_faults_now_scored(tmp_path, monkeypatch):
    out = tmp_path / "r.jsonl"
    calls = {"n": 0}

    def half_wrong(messages):
        calls["n"] += 1
        return _oracle(messages) if calls["n"] % 2 else "\\boxed{-99999}"

    monkeypatch.setenv("RLENVS_TEST_JUDGE", "lenient")  # a judge that pays any boxed number
    policy = FunctionPolicy(half_wrong)
    policy.batch_size = 1
    hacked = evaluate(SWITCH, policy, episodes=4, out=out, progress=False)
    assert hacked.summary["pass_at_k"]["pass@1"] == 1.0
    original = out.read_bytes()
    monkeypatch.delenv("RLENVS_TEST_JUDGE")  # the judge is fixed
    from rlenvs.reverify import reverify

    summary = reverify(out, progress=False)
    assert summary["reverified"]["changes"] == {"pass -> fail": 2, "unchanged": 2}
    assert summary["pass_at_k"]["pass@1"] == 0.5
    assert out.read_bytes() == original  # the original run is kept
    fixed = tmp_path / "r.reverified.jsonl"
    assert summary["out"] == str(fixed) and _summary(fixed)["reverified"]["source"] == str(out)
    assert [r["reverified_from"]["passed"] for r in _lines(fixed)] == [True] * 4
    # faults now scored
    monkeypatch.setenv("RLENVS_TEST_JUDGE", "down")
    down = tmp_path / "down.jsonl"
    evaluate(SWITCH, _oracle, episodes=3, out=down, progress=False)
    monkeypatch.delenv("RLENVS_TEST_JUDGE")
    summary = reverify(down, progress=False)
    assert summary["reverified"]["changes"] == {"unscored -> scored": 3}
    assert summary["unscored"] == 0 and summary["pass_at_k"]["pass@1"] == 1.0


# ----------------------------------------------------------------- API names (issue 30 item 7)

def test_evaluate_speaks_the_clis_names():
    result = evaluate("rlenvs/Arithmetic-v0", _oracle, episodes=2, num_generations=2, level=1,
                      progress=False)
    assert result.summary["samples"] == 2 and result.summary["config"]["env_kwargs"] == {
        "level": 1}
    assert {r["task"]["level"] for r in result.records} == {1}
    with pytest.raises(TypeError, match="did you mean 'episodes'"):
        evaluate("rlenvs/Arithmetic-v0", _oracle, episdoes=2)
    with pytest.raises(TypeError, match="did you mean 'level'"):
        evaluate("rlenvs/Arithmetic-v0", _oracle, levle=2)
    with pytest.raises(ValueError, match="same setting"):
        evaluate("rlenvs/Arithmetic-v0", _oracle, samples=2, num_generations=3)


def test_progress_counts_samples_not_episodes(capsys):
    """Issue 30 item 8: 2 episodes x 2 samples moved a bar of 4 'episode/s'."""
    capsys.readouterr()
    evaluate("rlenvs/Arithmetic-v0", _oracle, episodes=2, samples=2)
    err = capsys.readouterr().err
    assert "2 episodes x 2 samples" in err and "4/4" in err and "sample/s" in err
    assert "episode/s" not in err


# ----------------------------------------------------------------- the CLI

def _serve(fn):
    from judges.llm.server import ChatServer

    return ChatServer(FunctionPolicy(fn, name="scripted"))


def test_cli_refuses_an_existing_out_and_suggests_resume(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    with _serve(_oracle) as server:
        argv = ["eval", "rlenvs/Arithmetic-v0", "--policy", server.base_url, "--episodes", "2",
                "--out", str(out), "--quiet"]
        assert main(argv) == 0
        before = out.read_text()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "already holds an evaluation" in err and "--resume" in err and \
            "--overwrite" in err
        assert out.read_text() == before
        assert main([*argv, "--overwrite"]) == 0
        assert main([*argv, "--resume"]) == 0  # nothing left to run: kept as it is
        assert _summary(out)["resumed"] == {"kept": 2, "rerun": 0}
        assert main([*argv[:-3], "--out", str(tmp_path / "new.jsonl"), "--resume"]) == 2
        assert "no evaluation to resume" in capsys.readouterr().err


def test_cli_sigint_keeps_transcripts_writes_a_partial_summary_and_resumes(tmp_path):
    """Issue 30 item 2: SIGINT left a 0-byte summary and printed nothing; `rlenvs view` showed
    the partial file without a word."""
    out = tmp_path / "r.jsonl"

    def slow_oracle(messages):
        time.sleep(0.4)
        return _oracle(messages)

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with _serve(slow_oracle) as server:
        argv = [sys.executable, "-m", "rlenvs.cli", "eval", "rlenvs/Arithmetic-v0", "--policy",
                server.base_url, "--episodes", "40", "--generation-batch-size", "1",
                "--out", str(out), "--quiet"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, cwd=REPO)
        deadline = time.monotonic() + 120  # hang guard
        while time.monotonic() < deadline:
            if out.is_file() and len(out.read_text().splitlines()) >= 2:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    kept = _lines(out)
    summary = _summary(out)
    assert summary["partial"] is True and summary["stopped_by"] == "KeyboardInterrupt"
    assert summary["transcripts"] == len(kept) >= 2 and summary["planned"] == 40
    assert f"kept {len(kept)} of 40 transcripts in {out}" in err
    resume_line = next(line for line in err.splitlines() if line.startswith("resume with: "))
    assert resume_line.endswith(" --resume") and "rlenvs eval rlenvs/Arithmetic-v0" in resume_line
    view = subprocess.run([sys.executable, "-m", "rlenvs.cli", "view", str(out)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert view.returncode == 0 and "warning:" in view.stderr and "partial" in view.stderr
    page = Path(view.stdout.strip()).read_text()
    assert "class='warning'" in page and "rlenvs.envs.math_judge.make_math_judge" in page
    # finish it with a fast server: the kept transcripts stay, the rest are run
    with _serve(_oracle) as server:
        argv[argv.index("--policy") + 1] = server.base_url
        done = subprocess.run([*argv, "--resume"], capture_output=True, text=True, env=env,
                              cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    final = _lines(out)
    assert [r["episode"] for r in final] == list(range(40))
    assert final[: len(kept)] == kept
    summary = _summary(out)
    assert summary["partial"] is False and summary["resumed"]["kept"] == len(kept)


def test_cli_reverify_writes_beside_the_run(tmp_path):
    out = tmp_path / "r.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO), "RLENVS_TEST_JUDGE": "down"}
    with _serve(_oracle) as server:
        run = subprocess.run(
            [sys.executable, "-m", "rlenvs.cli", "eval", f"tests.rlenvs.eval_envs:{SWITCH}",
             "--policy", server.base_url, "--episodes", "3", "--out", str(out), "--quiet"],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "unscored 3/3 (judge_backend: unparseable judge output)" in run.stdout.replace(
        "\n", " ") or "3/3 (judge_backend: unparseable judge output)" in run.stdout
    assert "--resume" in run.stdout
    env.pop("RLENVS_TEST_JUDGE")
    again = subprocess.run([sys.executable, "-m", "rlenvs.cli", "eval", "--reverify", str(out)],
                           capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "unscored -> scored" in again.stdout
    fixed = tmp_path / "r.reverified.jsonl"
    assert _summary(fixed)["pass_at_k"]["pass@1"] == 1.0 and _summary(out)["unscored"] == 3
    refused = subprocess.run([sys.executable, "-m", "rlenvs.cli", "eval", "--reverify",
                              str(out)], capture_output=True, text=True, env=env, cwd=REPO,
                             timeout=300)
    assert refused.returncode == 2 and "--overwrite" in refused.stderr


def _answers(messages):
    text = messages[-1]["content"]
    return _oracle(messages) if "Compute " in text else "It means the page was not found."


def test_the_main_jobs_chat_row_reads_unscored_not_zero(tmp_path, capsys, monkeypatch):
    """Issue 28: on a fresh clone the Chat-v0 row read 'scored 0.000' while all its verdicts
    were unscored ('unparseable judge output'). A real judge server that answers nonsense."""
    monkeypatch.setenv("COLUMNS", "220")
    import rlenvs.suite as suite
    from rlenvs.view import load_results, render_html

    monkeypatch.setattr(suite, "SUITE", [s for s in suite.SUITE if s[0] in (
        "rlenvs/Arithmetic-v0", "rlenvs/Chat-v0")])
    with _serve(lambda messages: "I cannot rate this.") as judge:
        assert suite.run_main_job(tmp_path, episodes=2, seed=0, max_new_tokens=8,
                                  chat_judge=judge.base_url,
                                  policy=FunctionPolicy(_answers, name="oracle")) == 0
        printed = " ".join(capsys.readouterr().out.split())
        # the whole run folder re-scored (the judge still answers nonsense)
        assert main(["eval", "--reverify", str(tmp_path), "--quiet"]) == 0
    again = " ".join(capsys.readouterr().out.split())
    assert re.search(r"rlenvs/Arithmetic-v0: unchanged\W+2\b", again), again
    assert re.search(r"rlenvs/Chat-v0: still unscored\W+2\b", again), again
    assert _summary(tmp_path / "reverified" / "Chat-v0.jsonl")["unscored"] == 2
    assert "unscored 2/2 (judge_backend: unparseable judge output)" in printed
    assert "0.000" not in printed  # neither row is a zero: Arithmetic 1.000, Chat unscored
    rows = json.loads((tmp_path / "summary.json").read_text())
    chat = rows["rlenvs/Chat-v0"]
    assert chat["scored"] is False and chat["unscored"] == 2 and chat["mean_reward"] is None
    assert chat["unscored_note"] == "unscored 2/2 (judge_backend: unparseable judge output)"
    assert rows["rlenvs/Arithmetic-v0"]["scored"] is True
    page = render_html(load_results(tmp_path))
    assert "2/2 (judge_backend: unparseable judge output)" in page
    assert [r["status"] for r in _lines(tmp_path / "Chat-v0.jsonl")] == ["unscored"] * 2
