"""A time budget (``max_time_s``) ends a run, and a linear/cosine learning-rate schedule decays
over it -- summed over the sessions of a resumed run, so a resume neither restarts the budget
nor the decay. The trainers read a clock that each round moves by a fixed amount, so the
expected rates and step counts are exact."""

from __future__ import annotations

import math

import pytest

import agents.trainers.base as base
import agents.trainers.training_free as training_free
from agents import GRPOConfig, GRPOTrainer
from agents.run.checkpoint import latest_checkpoint, load_checkpoint
from agents.run.metrics import read_metrics
from tests.agents.toy_envs import tiny_policy

LR = 1e-3


class Clock:
    """``time`` for the trainer modules: it moves only when a round starts."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(base, "time", c)
    monkeypatch.setattr(training_free, "time", c)
    return c


def _ticking(obj, name: str, clock: Clock, seconds: float) -> None:
    """Each call of ``obj.<name>`` (a round, a step) takes ``seconds`` of the clock."""
    original = getattr(obj, name)

    def ticked(*args, **kwargs):
        clock.now += seconds
        return original(*args, **kwargs)

    setattr(obj, name, ticked)


def _grpo(out, clock, **kw) -> GRPOTrainer:
    # one optimizer step per round (4 completions, 1 prompt); each round takes 0.5 s
    trainer = GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0",
                          GRPOConfig(output_dir=str(out), max_steps=10_000,
                                     per_device_train_batch_size=4, num_generations=4,
                                     max_completion_length=8, learning_rate=LR, progress=False,
                                     **kw))
    _ticking(trainer, "_round", clock, 0.5)
    return trainer


def _lrs(summary) -> list[float]:
    return [r["learning_rate"] for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_the_schedule_decays_over_the_time_budget(tmp_path, clock, kind):
    trainer = _grpo(tmp_path, clock, max_time_s=3.0, lr_scheduler_type=kind)
    summary = trainer.train()
    # rounds end at 0.5, 1.0, ... s; the one ending at 3.5 s crosses the budget and is the last
    # (max_steps, 10,000, would have left the rate where it was)
    assert summary["steps"] == 7 and trainer.state.elapsed_s == 3.5
    progress = [min(0.5 * k / 3.0, 1.0) for k in range(1, 8)]
    factor = (lambda p: 1.0 - p) if kind == "linear" else \
        (lambda p: 0.5 * (1.0 + math.cos(math.pi * p)))
    assert _lrs(summary) == pytest.approx([LR * factor(p) for p in progress], abs=1e-12)


def test_a_constant_schedule_ignores_the_budget(tmp_path, clock):
    summary = _grpo(tmp_path, clock, max_time_s=1.0).train()
    assert summary["steps"] == 3 and set(_lrs(summary)) == {LR}


def test_a_resumed_run_continues_its_budget_and_its_decay(tmp_path, clock):
    first = _grpo(tmp_path, clock, max_time_s=1.5, lr_scheduler_type="linear")
    assert first.train()["steps"] == 4  # rounds end at 0.5 ... 2.0 s
    assert load_checkpoint(latest_checkpoint(tmp_path))["trainer_state"]["elapsed_s"] == 2.0
    # the same run, given 3 s in all (max_time_s may change on a resume): 2.0 s are spent, so
    # it takes the rounds ending at 2.5, 3.0 and 3.5 s, decaying from where it stopped
    second = _grpo(tmp_path, clock, max_time_s=3.0, lr_scheduler_type="linear",
                   resume_from_checkpoint=True)
    summary = second.train()
    assert summary["steps"] == 7 and second.state.elapsed_s == 3.5
    assert _lrs(summary)[4:] == pytest.approx([LR * (1 - 2.5 / 3.0), 0.0, 0.0], abs=1e-12)


def test_training_free_grpo_resumes_its_budget_too(tmp_path, clock):
    from rlenvs.policies import FunctionPolicy

    def run(**kw):
        config = training_free.TrainingFreeConfig(
            output_dir=str(tmp_path), max_steps=100, num_generations=2,
            per_device_train_batch_size=4, progress=False, max_completion_length=8,
            eval_episodes=0, summarize_rollouts=False, **kw)
        trainer = training_free.TrainingFreeGRPO(
            FunctionPolicy(lambda m: "\\boxed{1}"), "rlenvs/Arithmetic-v0", config,
            env_kwargs={"level": 1}, reasoner=FunctionPolicy(lambda m: "KEEP"))
        _ticking(trainer, "step", clock, 1.0)
        return trainer

    first = run(max_time_s=2.5)
    assert first.train()["steps"] == 3 and first.state.elapsed_s == 3.0
    second = run(max_time_s=4.5, resume_from_checkpoint=True)
    # 3 s spent: steps ending at 4 and 5 s, not a fresh 4.5 s
    assert second.train()["steps"] == 5 and second.state.elapsed_s == 5.0

