"""Issue 30 items in the trainers: --resume without a checkpoint fails loudly, checkpoints are
saved by default, and a round where every group has zero reward variance warns (TRL's rules)."""

from __future__ import annotations

import logging

import pytest

from agents import GRPOConfig, GRPOTrainer
from agents.run.checkpoint import list_checkpoints
from agents.run.metrics import read_metrics
from tests.agents.toy_envs import tiny_policy

BASE = dict(per_device_train_batch_size=4, num_generations=4, max_completion_length=4,
            learning_rate=1e-3, progress=False, generation_dtype="float32")


def test_resume_without_a_checkpoint_fails_and_keeps_the_metrics(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"kind": "train", "step": 1}\n')
    config = GRPOConfig(output_dir=str(run), max_steps=2, resume_from_checkpoint=True, **BASE)
    trainer = GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0", config)
    with pytest.raises(FileNotFoundError, match="No valid checkpoint found in"):
        trainer.train()
    assert (run / "metrics.jsonl").read_text() == '{"kind": "train", "step": 1}\n'
    named = GRPOConfig(output_dir=str(run), max_steps=2,
                       resume_from_checkpoint=str(run / "checkpoint-7"), **BASE)
    with pytest.raises(FileNotFoundError, match="No valid checkpoint found in .*checkpoint-7"):
        GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0", named).train()


def test_cli_resume_without_a_checkpoint_is_a_one_line_error(tmp_path, capsys):
    from agents.cli import main

    model_dir = tmp_path / "tiny-model"
    tiny_policy().save_pretrained(model_dir)
    capsys.readouterr()  # the save's progress bar
    run = tmp_path / "run"
    code = main(["train", "--env", "agents-test/Uppercase-v0", "--policy", str(model_dir),
                 "--steps", "2", "--out-dir", str(run), "--num-generations", "4",
                 "--batch-size", "4", "--max-completion-length", "4", "--no-plot", "--quiet",
                 "--resume"])
    assert code == 2
    err = capsys.readouterr().err
    assert "No valid checkpoint found in" in err and err.count("\n") == 1
    assert not (run / "metrics.jsonl").exists()


def test_checkpoints_are_saved_during_a_run_by_default(tmp_path):
    config = GRPOConfig(output_dir=str(tmp_path), max_steps=4, save_total_limit=None, **BASE)
    assert config.save_steps is None and config.save_every == 1  # max(1, 4 // 5)
    assert GRPOConfig(max_steps=100).save_every == 20
    assert GRPOConfig(max_steps=100, save_steps=0).save_every == 0  # only at the end
    GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0", config).train()
    assert [p.name for p in list_checkpoints(tmp_path)] == [f"checkpoint-{k}" for k in (1, 2, 3, 4)]


def test_a_round_without_reward_variance_warns_once(tmp_path, caplog):
    # temperature 0: the 4 completions of a prompt are the same, so every group has one reward
    config = GRPOConfig(output_dir=str(tmp_path), max_steps=2, temperature=0.0, **BASE)
    trainer = GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0", config)
    with caplog.at_level(logging.WARNING, logger="agents.trainers.base"):
        trainer.train()
    warnings = [r for r in caplog.records if "zero reward std" in r.getMessage()]
    assert len(warnings) == 1  # once per run
    records = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["frac_reward_zero_std"] for r in records] == [1.0, 1.0]
    assert all(r["warnings/all_groups_zero_std"] == 1.0 for r in records)
