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
