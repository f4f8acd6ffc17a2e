"""A run killed with SIGKILL and resumed from its checkpoint logs exactly the metrics of an
uninterrupted run (timings aside)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from agents.run.checkpoint import list_checkpoints
from agents.run.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[2]
VOLATILE = ("time/", "tokens_per_second", "eval/seconds")


def _job(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tests.agents.resume_job", str(out), *extra]


def _stable(records):
    return [{k: v for k, v in r.items() if not k.startswith(VOLATILE)} for r in records]


def _kill_and_resume(tmp_path: Path, *job: str) -> tuple[list, list, list]:
    """Run the job straight, and again killed with SIGKILL once checkpoint-2 exists, then
    resumed; returns (straight records, killed+resumed records, records before the kill that
    the checkpoint covers)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    straight = tmp_path / "straight"
    subprocess.run(_job(straight, *job), cwd=ROOT, env=env, check=True, timeout=300)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_job(killed, *job, "--delay", "1.5"), cwd=ROOT, env=env)
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

    subprocess.run(_job(killed, *job, "--resume"), cwd=ROOT, env=env, check=True, timeout=300)
    return read_metrics(straight / "metrics.jsonl"), read_metrics(killed / "metrics.jsonl"), before


def test_kill_9_and_resume_reproduces_the_run(tmp_path):
    a, b, before = _kill_and_resume(tmp_path)
    # the steps before the checkpoint were not re-run (their records, timings included, stay)
    assert b[: len(before)] == before
    assert len({r["reward"] for r in a if r["kind"] == "train"}) > 1
    assert [r["step"] for r in a] == [r["step"] for r in b]
    assert _stable(a) == _stable(b)
    stages = [r["stage"] for r in b if r["kind"] == "train"]
    assert stages == ["dense", "dense", "dense", "binary"]
    # step 3 (after the resume point) had a real gradient
    assert [r for r in b if r["kind"] == "train"][2]["grad_norm"] > 0


@pytest.mark.slow
def test_cgpo_kill_9_and_resume_reproduces_the_run(tmp_path):
    """Multi-task CGPO (CRPG, CODPO, CRRAFT) resumes exactly like the other trainers: weights,
    optimizer, RNG, each task's prompt position and each task's reward schedule."""
    a, b, before = _kill_and_resume(tmp_path, "--algo", "cgpo")
    assert b[: len(before)] == before
    assert [r["step"] for r in a] == [r["step"] for r in b]
    assert [r["kind"] for r in a] == ["eval", "train", "train", "eval", "train", "train", "eval"]
    assert _stable(a) == _stable(b)
    train = [r for r in b if r["kind"] == "train"]
    assert len({r["upper/reward"] for r in train}) > 1
    assert [r["retry/stage"] for r in train] == ["dense", "dense", "dense", "binary"]
    assert train[0]["shout/baseline_used"] == 1.0  # CRRAFT's fallback to ā (KL 0 at the start)
    assert train[0]["upper/gated_reward"] > 0 and train[0]["retry/kept"] > 0
    # step 3 (after the resume point) had a real gradient
    assert train[2]["grad_norm"] > 0 and train[2]["retry/loss"] != 0
    evals = [r for r in b if r["kind"] == "eval"]
    assert all(0 <= r["eval/shout/pass@1"] <= 1 and "eval/retry/reward" in r for r in evals)


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
    assert "fingerprint" in err and "beta=0.0->0.1" in err
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
    from agents.cli import main
    from agents.run.checkpoint import save_checkpoint

    run = tmp_path / "run"  # what a GRPO trainer on Arithmetic left before run.json existed
    save_checkpoint(run, 2, {"policy": {}}, meta={"algorithm": "grpo",
                                                  "env_id": "rlenvs/Arithmetic-v0"})
    code = main(["train", "--env", "rlenvs/Instruct-v0", "--algo", "rloo", "--resume",
                 "--out-dir", str(run)])
    assert code == 2
    err = capsys.readouterr().err
    assert "algorithm: 'grpo' there, 'rloo' now" in err
    assert "env_id: 'rlenvs/Arithmetic-v0' there, 'rlenvs/Instruct-v0' now" in err


def _api_config(out: Path, **extra):
    from agents import GRPOConfig

    settings = {"max_steps": 1, "per_device_train_batch_size": 4, "num_generations": 4,
                "max_completion_length": 4, "progress": False, **extra}
    return GRPOConfig(output_dir=str(out), **settings)


def test_the_python_api_gets_the_same_guard(tmp_path):
    """Trainer.train() checks the folder as the CLI does (Python API users included)."""
    import pytest

    from agents import GRPOTrainer
    from agents.run.checkpoint import RunMismatch
    from tests.agents.toy_envs import tiny_policy

    run = tmp_path / "run"
    GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0", _api_config(run)).train()
    identity = json.loads((run / "run.json").read_text())
    assert identity["algorithm"] == "grpo" and identity["env_id"] == "agents-test/Uppercase-v0"
    # a fresh run into the used folder: refused, nothing deleted
    with pytest.raises(RunMismatch, match="already holds a run.*overwrite_output_dir=True"):
        GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0", _api_config(run)).train()
    assert [p.name for p in list_checkpoints(run)] == ["checkpoint-1"]
    # resuming with a setting that changes what is learned: refused, the setting named
    with pytest.raises(RunMismatch, match=r"beta=0.0->0.1"):
        GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0",
                    _api_config(run, beta=0.1, resume_from_checkpoint=True)).train()
    # the same run resumes; overwrite starts over
    GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0",
                _api_config(run, resume_from_checkpoint=True, max_steps=2)).train()
    assert [p.name for p in list_checkpoints(run)][-1] == "checkpoint-2"
    GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0",
                _api_config(run, overwrite_output_dir=True)).train()
    assert [p.name for p in list_checkpoints(run)] == ["checkpoint-1"]


def test_config_accepts_verl_yaml(tmp_path, capsys):
    from tests.agents.toy_envs import tiny_policy

    model_dir = tmp_path / "tiny-model"
    tiny_policy().save_pretrained(model_dir)
    config = tmp_path / "verl.yaml"
    config.write_text("actor_rollout_ref:\n  actor:\n    clip_ratio_high: 0.28\n"
                      "    loss_agg_mode: seq-mean-token-mean\n  rollout:\n    n: 4\n"
                      "    temperature: 0.7\n")
    run = tmp_path / "run"
    assert _train(run, model_dir, "--config", str(config)) == 0
    learned = json.loads((run / "run.json").read_text())["settings"]
    assert learned["epsilon_high"] == 0.28 and learned["loss_type"] == "grpo"
    assert learned["temperature"] == 0.7 and learned["semantics"] == "verl"
    bad = tmp_path / "bad.yml"
    bad.write_text("actor_rollout_ref: [unclosed\n")
    capsys.readouterr()
    assert _train(tmp_path / "r2", model_dir, "--config", str(bad)) == 2
    err = capsys.readouterr().err
    assert "not valid .yml" in err and err.count("\n") == 1


def test_a_resumed_auto_dtype_run_samples_in_the_dtype_it_started_with(tmp_path, monkeypatch):
    """generation_dtype="auto" is measured per process; a resume on a CPU that now measures
    the other way must keep sampling in the checkpoint's dtype."""
    from agents import GRPOTrainer
    from agents.run.metrics import read_metrics
    from tests.agents.toy_envs import tiny_policy

    run = tmp_path / "run"
    monkeypatch.setenv("RLENVS_GENERATION_DTYPE", "bfloat16")
    GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0", _api_config(run)).train()
    monkeypatch.setenv("RLENVS_GENERATION_DTYPE", "float32")  # "auto" now picks fp32
    trainer = GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0",
                          _api_config(run, resume_from_checkpoint=True, max_steps=2))
    assert trainer.backend.dtype == torch.float32
    trainer.train()
    dtypes = [r["generation/dtype"] for r in read_metrics(run / "metrics.jsonl")
              if r["kind"] == "train"]
    assert dtypes == ["bfloat16", "bfloat16"]
