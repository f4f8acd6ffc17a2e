"""Asynchronous GRPO (issue 32, agents.run.async_rollouts): a real producer process (spawn) with
its own TorchSampler samples the rounds; with max_staleness=0 the run equals the synchronous one
exactly, with staleness 1-2 it trains on older episodes within the bound."""

from __future__ import annotations

import torch

from agents import GRPOConfig, GRPOTrainer
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
