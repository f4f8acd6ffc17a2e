"""A run killed with SIGKILL and resumed from its checkpoint logs exactly the metrics of an
uninterrupted run (timings aside)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agents.checkpoint import list_checkpoints
from agents.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[2]
VOLATILE = ("time/", "tokens_per_second", "eval/seconds")


def _job(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tests.agents.resume_job", str(out), *extra]


def _stable(records):
    return [{k: v for k, v in r.items() if not k.startswith(VOLATILE)} for r in records]


def test_kill_9_and_resume_reproduces_the_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    straight = tmp_path / "straight"
    subprocess.run(_job(straight), cwd=ROOT, env=env, check=True, timeout=300)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_job(killed, "--delay", "1.5"), cwd=ROOT, env=env)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            done = [int(p.name.split("-")[1]) for p in list_checkpoints(killed)]
            if done and max(done) >= 2:
                break
            assert proc.poll() is None, "the job ended before it could be killed"
            time.sleep(0.05)
        else:
            raise AssertionError("no checkpoint-2 within the deadline")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert max(int(p.name.split("-")[1]) for p in list_checkpoints(killed)) < 4

    saved = max(int(p.name.split("-")[1]) for p in list_checkpoints(killed))
    before = [r for r in read_metrics(killed / "metrics.jsonl") if r["step"] <= saved]

    subprocess.run(_job(killed, "--resume"), cwd=ROOT, env=env, check=True, timeout=300)
    a = read_metrics(straight / "metrics.jsonl")
    b = read_metrics(killed / "metrics.jsonl")
    # the steps before the checkpoint were not re-run (their records, timings included, stay)
    assert b[: len(before)] == before
    assert len({r["reward"] for r in a if r["kind"] == "train"}) > 1
    assert [r["step"] for r in a] == [r["step"] for r in b]
    assert _stable(a) == _stable(b)
    stages = [r["stage"] for r in b if r["kind"] == "train"]
    assert stages == ["dense", "dense", "dense", "binary"]
    # step 3 (after the resume point) had a real gradient
    assert [r for r in b if r["kind"] == "train"][2]["grad_norm"] > 0


# ----------------------------------------------------------------- whose run a folder holds

def _train(out: Path, model_dir: Path, *extra: str) -> int:
    from agents.cli import main

    return main(["train", "--env", "agents-test/Uppercase-v0", "--policy", str(model_dir),
                 "--steps", "1", "--out-dir", str(out), "--num-generations", "4",
                 "--batch-size", "4", "--max-completion-length", "4", "--no-plot", "--quiet",
                 *extra])


def test_resume_refuses_another_runs_checkpoint_and_says_what_differs(tmp_path, capsys):
    from tests.agents.toy_envs import tiny_policy

    model_dir = tmp_path / "tiny-model"
    tiny_policy().save_pretrained(model_dir)
    run = tmp_path / "run"
    assert _train(run, model_dir) == 0
    assert [p.name for p in list_checkpoints(run)] == ["checkpoint-1"]
    capsys.readouterr()
    # another algorithm, another env, another setting: each refused, each difference named
    assert _train(run, model_dir, "--algo", "rloo", "--resume") == 2
    err = capsys.readouterr().err
    assert "different run" in err and "algorithm: 'grpo' there, 'rloo' now" in err
    assert err.count("\n") == 1  # one line, no traceback
    assert _train(run, model_dir, "--resume", "--set", "beta=0.1") == 2
    err = capsys.readouterr().err
    assert "fingerprint" in err and "beta=None->0.1" in err
    # the same run resumes (a longer step budget is not a different run)
    assert _train(run, model_dir, "--resume", "--steps", "2") == 0
    assert [p.name for p in list_checkpoints(run)][-1] == "checkpoint-2"


def test_a_fresh_run_into_a_used_folder_needs_overwrite(tmp_path, capsys):
    from tests.agents.toy_envs import tiny_policy

    model_dir = tmp_path / "tiny-model"
    tiny_policy().save_pretrained(model_dir)
    run = tmp_path / "run"
    assert _train(run, model_dir, "--steps", "2", "--set", "save_steps=1") == 0
    capsys.readouterr()
    assert _train(run, model_dir) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "checkpoint-2" in err and "--overwrite" in err
    assert (run / "metrics.jsonl").is_file()  # refused before touching anything
    assert _train(run, model_dir, "--overwrite") == 0
    # the old run's checkpoint-2 is gone, so a later --resume cannot pick it
    assert [p.name for p in list_checkpoints(run)] == ["checkpoint-1"]


def test_a_legacy_checkpoint_without_run_json_is_checked_by_its_meta(tmp_path, capsys):
    from agents.checkpoint import save_checkpoint
    from agents.cli import main

    run = tmp_path / "run"  # what a GRPO trainer on Arithmetic left before run.json existed
    save_checkpoint(run, 2, {"policy": {}}, meta={"algorithm": "grpo",
                                                  "env_id": "rlenvs/Arithmetic-v0"})
    code = main(["train", "--env", "rlenvs/Instruct-v0", "--algo", "rloo", "--resume",
                 "--out-dir", str(run)])
    assert code == 2
    err = capsys.readouterr().err
    assert "algorithm: 'grpo' there, 'rloo' now" in err
    assert "env_id: 'rlenvs/Arithmetic-v0' there, 'rlenvs/Instruct-v0' now" in err
