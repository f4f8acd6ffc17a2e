"""The PPO trainer's adaptive KL controller is fed verl's per-token mean KL, at trainer level
(issue 33; the original bug, issue 14 bug 9, fed it the per-sequence summed KL).

The reference is pushed far from the policy so the round's KL is large: the per-token mean stays
below the target while the per-sequence sum is far above it, so the two inputs move the
coefficient in opposite directions (verl's proportional error is clipped to ±0.2). The rounds'
coefficients must follow verl's own ``AdaptiveKLController`` updated by verl's own
``apply_kl_penalty`` on the round's token KLs, and must *not* follow it replayed on the sum: putting
the bug back (``kl_ctl.update(float(seq_kl.mean()), ...)``) fails this test."""

from __future__ import annotations

import pytest
import torch
from verl.trainer.ppo.core_algos import AdaptiveKLController as VerlController

import agents.trainers.ppo as ppo_module
from agents import PPOConfig, PPOTrainer
from agents.run.metrics import read_metrics
from tests.agents.fidelity.verl_calls import verl_adaptive_kl_update
from tests.agents.toy_envs import tiny_policy

TARGET = 1.0


def test_adaptive_kl_coefficient_follows_the_per_token_mean(tmp_path, monkeypatch):
    config = PPOConfig(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=4,
                       num_generations=2, max_completion_length=24, learning_rate=1e-4,
                       num_ppo_epochs=1, num_mini_batches=1, kl_ctrl_type="adaptive",
                       kl_coef=0.05, target_kl=TARGET, kl_horizon=20, kl_estimator="k3",
                       progress=False)
    trainer = PPOTrainer(tiny_policy(value_head=True), "agents-test/Uppercase-v0", config)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a reference far from the policy: a large KL every round
        for p in trainer.ref_policy.model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)

    # record every round's token KL and mask as the trainer computed them (a spy, no fake)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    real = ppo_module.kl_penalized_rewards

    def spy(scores, old, ref, mask, *args, **kwargs):
        rewards, kl = real(scores, old, ref, mask, *args, **kwargs)
        seen.append((kl.detach().double().clone(), mask.double().clone()))
        return rewards, kl

    monkeypatch.setattr(ppo_module, "kl_penalized_rewards", spy)
    summary = trainer.train()
    records = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]
    assert len(records) == len(seen) == 3

    right = VerlController(config.kl_coef, TARGET, config.kl_horizon)
    wrong = VerlController(config.kl_coef, TARGET, config.kl_horizon)
    for r, (kl, mask) in zip(records, seen, strict=True):
        assert r["kl_coef"] == pytest.approx(right.value, rel=1e-9)
        assert r["num_completions"] == kl.shape[0]  # verl's n_steps: the batch size
        token_mean = verl_adaptive_kl_update(right, kl, mask)  # verl's apply_kl_penalty
        summed = float((kl * mask).sum(-1).mean())
        # the precondition that makes the bug visible: opposite clipped errors
        assert token_mean < 0.8 * TARGET < 1.2 * TARGET < summed, (token_mean, summed)
        print(f"round KL: per-token mean {token_mean:.3f}, per-sequence sum {summed:.3f}")
        wrong.update(summed, n_steps=r["num_completions"])
    assert trainer.kl_ctl.value == pytest.approx(right.value, rel=1e-9)
    assert trainer.kl_ctl.value < config.kl_coef < wrong.value  # falls, where the sum raised it
    assert trainer.kl_ctl.value != pytest.approx(wrong.value, rel=1e-3)
