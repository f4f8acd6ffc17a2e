"""The main job's GRPO demo fits its budget with enough optimizer steps (issue 15): a round of
its config takes several optimizer steps, and on a busy machine generation runs on one torch
thread. No model is loaded (the measured run is in the issue-15 report: before/after wall time
and steps)."""

from __future__ import annotations

import pytest

from agents.run.demo import demo_config, demo_env_kwargs


def test_a_demo_round_takes_three_optimizer_steps_of_eight_completions(tmp_path):
    cfg = demo_config(tmp_path, minutes=4.0, seed=0, eval_episodes=60)
    assert cfg.generation_batch_size == 24 and cfg.prompts_per_generation == 4
    assert cfg.optimizer_batch_size == 8
    assert cfg.steps_per_generation // cfg.gradient_accumulation_steps == 3  # steps a round
    assert cfg.max_time_s == 240.0 and cfg.eval_episodes == 60
    # the dense stage lasts a similar share of the run as before (4 of 7 rounds)
    assert demo_env_kwargs()["reward"]["switch_step"] == 12


@pytest.mark.parametrize(("load", "cores", "threads"),
                         [(1.9, 2, 1), (1.4, 2, None), (7.7, 8, 1), (3.0, 8, None)])
def test_one_torch_thread_on_a_busy_machine(monkeypatch, load, cores, threads):
    import rlenvs.suite as suite

    monkeypatch.setattr(suite.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(suite.os, "cpu_count", lambda: cores)
    assert suite.threads_for_load() == threads


def test_the_main_job_generates_with_one_thread_when_busy(tmp_path, monkeypatch):
    import torch

    import rlenvs.suite as suite
    from rlenvs.policies import FunctionPolicy

    policy = FunctionPolicy(lambda m: "\\boxed{0}", name="zero")
    monkeypatch.setattr(suite, "threads_for_load", lambda: 1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        suite.run_main_job(tmp_path / "http", episodes=1, seed=0, max_new_tokens=4,
                           chat_judge="none", policy=policy)
        assert torch.get_num_threads() == 2  # no torch model: left alone
        policy.model = torch.nn.Linear(2, 2)  # a local model
        suite.run_main_job(tmp_path / "local", episodes=1, seed=0, max_new_tokens=4,
                           chat_judge="none", policy=policy)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_long_demo_trains_with_the_long_budget_settings(tmp_path):
    """From LONG_DEMO_MINUTES on: groups of 16, dynamic sampling, clip-higher and a learning rate
    that decays over the time budget (the short settings collapse entropy on long budgets)."""
    from agents.run.demo import LONG_DEMO_MINUTES

    short = demo_config(tmp_path, minutes=LONG_DEMO_MINUTES - 1, seed=0, eval_episodes=0)
    assert short.lr_scheduler_type == "constant" and not short.dynamic_sampling
    cfg = demo_config(tmp_path, minutes=18.5, seed=1, eval_episodes=200)
    assert cfg.max_time_s == 18.5 * 60 and cfg.max_steps > 500  # time ends it, not steps
    assert cfg.num_generations == 16 and cfg.prompts_per_generation == 2
    assert cfg.steps_per_generation // cfg.gradient_accumulation_steps == 2
    assert cfg.lr_scheduler_type == "linear" and cfg.dynamic_sampling
    assert cfg.epsilon_high == 0.28 and cfg.epsilon == 0.2 and cfg.loss_type == "dapo"
