"""A time budget (``max_time_s``) ends a run, and a linear/cosine learning-rate schedule decays
over it -- summed over the sessions of a resumed run, so a resume neither restarts the budget
nor the decay."""

from __future__ import annotations

import pytest

from agents import GRPOConfig, GRPOTrainer
from agents.run.checkpoint import latest_checkpoint, load_checkpoint
from agents.run.metrics import read_metrics
from tests.agents.toy_envs import tiny_policy

LR = 1e-3


def _config(out, **kw):
    return GRPOConfig(output_dir=str(out), max_steps=10_000, per_device_train_batch_size=4,
                      num_generations=4, max_completion_length=8, learning_rate=LR,
                      progress=False, **kw)


def _train_records(summary):
    return [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_the_schedule_decays_over_the_time_budget(tmp_path, kind):
    trainer = GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0",
                          _config(tmp_path, max_time_s=3.0, lr_scheduler_type=kind))
    summary = trainer.train()
    records = _train_records(summary)
    # the budget, not max_steps, ended the run, and it decayed over that budget
    assert 3 <= summary["steps"] < 10_000
    assert trainer.state.elapsed_s >= 3.0
    lrs = [r["learning_rate"] for r in records]
    assert lrs == sorted(lrs, reverse=True), lrs
    # the first steps train at (nearly) the full rate, the last ones near the end of the decay
    # (a round of this tiny policy takes well under the 1.5 s these margins allow)
    assert lrs[0] > 0.5 * LR and lrs[-1] < 0.5 * LR
    # over steps alone (10,000 of them) the rate would not have moved
    assert LR * (1 - summary["steps"] / 10_000) > 0.99 * LR


def test_a_constant_schedule_ignores_the_budget(tmp_path):
    summary = GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0",
                          _config(tmp_path, max_time_s=1.0)).train()
    assert {r["learning_rate"] for r in _train_records(summary)} == {LR}


def test_a_resumed_run_continues_its_budget_and_its_decay(tmp_path):
    first = GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0",
                        _config(tmp_path, max_time_s=1.5, lr_scheduler_type="linear"))
    first.train()
    # the seconds the checkpoint carries: the whole first session up to its final save
    spent = load_checkpoint(latest_checkpoint(tmp_path))["trainer_state"]["elapsed_s"]
    assert 1.5 <= spent <= first.state.elapsed_s
    # the same run, given a 3-second budget in all (max_time_s may change on a resume)
    second = GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0",
                         _config(tmp_path, max_time_s=3.0, lr_scheduler_type="linear",
                                 resume_from_checkpoint=True))
    summary = second.train()
    records = _train_records(summary)
    resumed = [r for r in records if r["step"] > first.state.global_step]
    assert resumed, "the resumed session took no step"
    # it picked up the decay where the first session left it (>= half the budget spent)...
    assert resumed[0]["learning_rate"] <= LR * (1 - spent / 3.0) + 1e-12
    # ...and stopped once the whole run, both sessions, had used its 3 seconds
    assert 3.0 <= second.state.elapsed_s < spent + 3.0
