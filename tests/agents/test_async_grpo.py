"""Asynchronous GRPO (issue 32, agents.run.async_rollouts): a real producer process (spawn) with
its own TorchSampler samples the rounds; with max_staleness=0 the run equals the synchronous one
exactly, with staleness 1-2 it trains on older episodes within the bound."""

from __future__ import annotations

import json
import math
import os
import signal

import pytest
import torch

from agents import GRPOConfig, GRPOTrainer
from agents.run.async_rollouts import ProducerDiedError
from agents.run.metrics import read_metrics
from tests.agents.toy_envs import tiny_policy

BASE = dict(per_device_train_batch_size=4, gradient_accumulation_steps=1, num_generations=4,
            max_completion_length=6, learning_rate=1e-2, progress=False, save_steps=0,
            save_final_checkpoint=False, generation_dtype="float32", torch_num_threads=1)
ASYNC = dict(async_rollouts=True, async_producer_threads=1)


def _params(policy):
    return {k: v.detach().clone() for k, v in policy.named_parameters() if v.requires_grad}


def _train(tmp_path, name, env="agents-test/Uppercase-v0", **overrides):
    policy = tiny_policy(letters_only=True)
    config = GRPOConfig(output_dir=str(tmp_path / name), **{**BASE, **overrides})
    trainer = GRPOTrainer(policy, env, config)
    summary = trainer.train()
    records = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]
    return trainer, records, _params(policy)


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_staleness_0_reproduces_the_synchronous_updates_exactly(tmp_path):
    _, sync_records, sync = _train(tmp_path, "sync", max_steps=3)
    trainer, records, asyn = _train(tmp_path, "async", max_steps=3, max_staleness=0, **ASYNC)
    _assert_same(sync, asyn)
    assert [r["reward"] for r in records] == [r["reward"] for r in sync_records]
    assert [r["loss"] for r in records] == [r["loss"] for r in sync_records]
    for r in records:
        assert r["async/staleness_max"] == 0 and r["async/dropped"] == 0
        assert r["async/trainer_idle_s"] > 0 and r["async/producer_idle_s"] >= 0
    assert trainer._async.producer_pid is None  # train() stopped the producer
    # the parameters moved (the equality is not that of two runs that learned nothing)
    assert any(not torch.equal(v, _params(tiny_policy(letters_only=True))[k])
               for k, v in asyn.items())


@pytest.mark.parametrize("staleness", [1, 2])
def test_bounded_staleness_trains_on_older_rounds_with_the_is_correction(tmp_path, staleness):
    trainer, records, params = _train(tmp_path, f"s{staleness}", max_steps=staleness + 2,
                                      max_staleness=staleness, **ASYNC)
    assert len(records) == staleness + 2
    assert records[0]["async/staleness_max"] == 0  # nothing older than the start exists
    for r in records:
        assert r["async/staleness_max"] <= staleness and r["async/dropped"] == 0
        assert math.isfinite(r["loss"]) and math.isfinite(r["grad_norm"])
        for name in ("staleness_mean", "producer_idle_s", "trainer_idle_s", "policy_version"):
            assert f"async/{name}" in r
    # steady state: the producer ran `staleness` rounds ahead of the trainer
    assert records[-1]["async/staleness_mean"] == records[-1]["async/staleness_max"] == staleness
    stale = [r for r in records if r["async/staleness_max"] > 0]
    # stale rounds are corrected by pi_trainer / pi_sampler (truncated IS, sampler = producer)
    assert all("sampling/importance_sampling_ratio/mean" in r for r in stale)
    assert "sampling/importance_sampling_ratio/mean" not in records[0]  # fp32, fresh: no pass
    assert any(not torch.equal(v, _params(tiny_policy(letters_only=True))[k])
               for k, v in params.items())


def test_episodes_older_than_the_bound_are_dropped_and_regenerated(tmp_path):
    # four requests queued ahead with max_staleness=1: the third round's episodes are two rounds
    # old when consumed, so they are dropped and sampled again with the current weights
    trainer, records, _ = _train(tmp_path, "drop", max_steps=4, max_staleness=1,
                                 async_prefetch=3, **ASYNC)
    assert sum(r["async/dropped"] for r in records) > 0
    assert all(r["async/staleness_max"] <= 1 for r in records)
    dropped = next(r for r in records if r["async/dropped"] > 0)
    assert dropped["async/dropped"] % BASE["num_generations"] == 0  # whole groups


def test_every_episode_carries_its_policy_version(tmp_path):
    config = GRPOConfig(output_dir=str(tmp_path), **{**BASE, "max_steps": 5}, max_staleness=1,
                        **ASYNC)
    trainer = GRPOTrainer(tiny_policy(letters_only=True), "agents-test/Uppercase-v0", config)
    try:
        trainer.step()
        trainer.step()
        trajs = trainer.collect(config.prompts_per_generation)
        # round 2 consumes what the producer sampled during round 1, with round 1's weights
        assert trajs and {t.policy_version for t in trajs} == {1}
    finally:
        trainer.close_async()


def test_a_killed_producer_is_restarted_and_the_run_stays_exact(tmp_path):
    """SIGKILL of the producer between rounds: a new one starts with the current weights, the
    in-flight request is sent again, and (max_staleness=0) the updates still equal sync's."""
    sync_policy = tiny_policy(letters_only=True)
    sync = GRPOTrainer(sync_policy, "agents-test/Uppercase-v0",
                       GRPOConfig(output_dir=str(tmp_path / "sync"), **{**BASE, "max_steps": 3}))
    for _ in range(3):
        sync.step()
    policy = tiny_policy(letters_only=True)
    trainer = GRPOTrainer(policy, "agents-test/Uppercase-v0",
                          GRPOConfig(output_dir=str(tmp_path / "async"),
                                     **{**BASE, "max_steps": 3}, max_staleness=0, **ASYNC))
    try:
        trainer.step()
        os.kill(trainer._async.producer_pid, signal.SIGKILL)
        second = trainer.step()
        assert second["async/producer_restarts"] == 1
        trainer.step()
    finally:
        trainer.close_async()
    _assert_same(_params(sync_policy), _params(policy))


def test_a_producer_that_keeps_dying_is_a_clear_error_not_a_hang(tmp_path):
    config = GRPOConfig(output_dir=str(tmp_path), **{**BASE, "max_steps": 3}, max_staleness=1,
                        async_producer_restarts=0, **ASYNC)
    trainer = GRPOTrainer(tiny_policy(letters_only=True), "agents-test/Uppercase-v0", config)
    try:
        trainer.step()  # round 2's request is now in flight (perhaps answered already)
        os.kill(trainer._async.producer_pid, signal.SIGKILL)
        with pytest.raises(ProducerDiedError, match=r"exit code -9.*async_producer_restarts=0"):
            for _ in range(2):  # at the latest, round 3's request finds the producer dead
                trainer.step()
    finally:
        trainer.close_async()


@pytest.mark.slow
def test_resume_after_two_steps_equals_four_straight(tmp_path):
    """Checkpoints hold no in-flight episodes: the resumed run starts a new producer, which
    regenerates them; with max_staleness=0 the result equals the uninterrupted run."""
    settings = dict(max_staleness=0, **ASYNC)
    _, straight_records, straight = _train(tmp_path, "straight", max_steps=4, **settings)
    _, first, _ = _train(tmp_path, "resumed", max_steps=2, save_final_checkpoint=True,
                         **settings)
    _, records, resumed = _train(tmp_path, "resumed", max_steps=4, save_final_checkpoint=True,
                                 resume_from_checkpoint=True, **settings)
    _assert_same(straight, resumed)
    assert [r["loss"] for r in records] == [r["loss"] for r in straight_records]
    assert [r["step"] for r in first] == [1, 2]


@pytest.mark.slow
def test_staleness_2_resumes(tmp_path):
    settings = dict(max_staleness=2, **ASYNC)
    _train(tmp_path, "run", max_steps=2, save_final_checkpoint=True, **settings)
    _, records, _ = _train(tmp_path, "run", max_steps=4, resume_from_checkpoint=True, **settings)
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    resumed = records[2:]
    assert resumed[0]["async/staleness_max"] == 0  # the in-flight rounds were regenerated
    assert all(r["async/staleness_max"] <= 2 for r in resumed)


@pytest.mark.slow
@pytest.mark.parametrize("rollout", [
    {"rollout": "tree", "ts_m": 2, "ts_n": 1, "ts_l": 1, "ts_k": 2, "per_device_train_batch_size": 8},
    {"rollout": "arpo", "rollout_budget": 4, "initial_rollouts": 2, "entropy_tokens": 4,
     "branch_probability": 1.0, "per_device_train_batch_size": 8},
    {"num_generations": 4, "per_device_train_batch_size": 8},
], ids=["tree", "arpo", "chain"])
def test_tool_env_tree_arpo_and_chain_rollouts_equal_sync_at_staleness_0(tmp_path, rollout):
    from tests.agents.test_branched_training import ENV  # a multi-turn tool env

    def run(name, **extra):
        cfg = GRPOConfig.from_dict({**BASE, "max_steps": 2, "learning_rate": 1e-4,
                                    "output_dir": str(tmp_path / name), **rollout, **extra})
        policy = tiny_policy(letters_only=True)
        summary = GRPOTrainer(policy, ENV, cfg).train()
        return [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"], \
            _params(policy)

    sync_records, sync = run("sync")
    records, asyn = run("async", max_staleness=0, **ASYNC)
    _assert_same(sync, asyn)
    assert [r["rollout/tool_calls"] for r in records] == \
        [r["rollout/tool_calls"] for r in sync_records]
    assert all(r["rollout/tool_calls"] > 0 for r in records)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="weight_sync_steps"):
        GRPOConfig(async_rollouts=True, max_staleness=0, weight_sync_steps=2)
    with pytest.raises(ValueError, match="max_staleness >= 0"):
        GRPOConfig(max_staleness=-1)
    GRPOConfig(async_rollouts=True, max_staleness=1, weight_sync_steps=2)


def test_cli_async_rollouts_with_max_staleness(tmp_path, capsys):
    from agents.cli import main

    model_dir = tmp_path / "tiny-model"
    tiny_policy(letters_only=True).save_pretrained(model_dir)
    out = tmp_path / "run"
    code = main(["train", "--env", "agents-test/Uppercase-v0", "--policy", str(model_dir),
                 "--steps", "3", "--out-dir", str(out), "--num-generations", "4",
                 "--batch-size", "4", "--max-completion-length", "4", "--threads", "1",
                 "--async-rollouts", "--max-staleness", "1", "--set", "generation_dtype=float32",
                 "--set", "async_producer_threads=1", "--no-plot", "--quiet"])
    assert code == 0
    records = [r for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["async/staleness_max"] for r in records] == [0.0, 1.0, 1.0]
    assert json.loads((out / "run.json").read_text())["settings"]["max_staleness"] == 1
    capsys.readouterr()
    # the flags' misuses, refused before any model loads
    assert main(["train", "--max-staleness", "1", "--out-dir", str(tmp_path / "x")]) == 2
    assert "applies with --async-rollouts" in capsys.readouterr().err
    assert main(["train", "--async-rollouts", "--nproc", "2", "--out-dir",
                 str(tmp_path / "y")]) == 2
    assert "does not combine with --nproc" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("staleness", [1, 2])
def test_async_grpo_with_staleness_teaches_a_tiny_model_to_shout(tmp_path, staleness):
    """test_learning's GRPO task (can fail): the reward rises with episodes up to 2 rounds old."""
    config = GRPOConfig(output_dir=str(tmp_path), max_steps=6, learning_rate=2e-4,
                        per_device_train_batch_size=16, gradient_accumulation_steps=2,
                        num_generations=8, max_completion_length=8, progress=False,
                        save_final_checkpoint=False, seed=0, generation_dtype="float32",
                        max_staleness=staleness, **ASYNC)
    summary = GRPOTrainer(tiny_policy(seed=3, letters_only=True), "agents-test/Uppercase-v0",
                          config).train()
    records = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]
    rewards = [r["reward"] for r in records]
    assert sum(rewards[-3:]) / 3 > rewards[0] + 0.2, rewards
    assert max(r["async/staleness_max"] for r in records) == staleness


def test_a_trainer_with_its_own_sampling_is_refused(tmp_path):
    from agents.trainers.eepo import EEPOConfig, EEPOTrainer

    config = EEPOConfig(output_dir=str(tmp_path), **{**BASE, "max_steps": 1}, **ASYNC)
    with pytest.raises(ValueError, match="EEPOTrainer makes its episodes with its own collect"):
        EEPOTrainer(tiny_policy(letters_only=True), "agents-test/Uppercase-v0", config)
