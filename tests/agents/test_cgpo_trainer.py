"""Smoke test of the multi-task CGPO trainer: one update on SmolLM2 over two rlenvs tasks
(plus a third CRPG task so every optimizer runs), tiny budgets."""

from __future__ import annotations

import math

import pytest
import torch

from agents.trainers.cgpo import CGPOConfig, CGPOTask, CGPOTrainer


def test_cgpo_task_validation():
    with pytest.raises(ValueError):
        CGPOTask("rlenvs/Arithmetic-v0", optimizer="ppo")
    with pytest.raises(ValueError):
        CGPOTask("rlenvs/Arithmetic-v0", kl_threshold=0.0)
    assert CGPOTask("rlenvs/Arithmetic-v0").name == "rlenvs/Arithmetic-v0:crraft"


@pytest.mark.slow
def test_multitask_cgpo_one_step_on_smollm2():
    from agents.policy import CausalLMPolicy
    from judges.moj import MixtureOfJudges, ifeval_constraint

    policy = CausalLMPolicy.from_embedded()
    moj = MixtureOfJudges(reward=lambda resp, task: _length_reward(resp),
                          constraints={"ifeval": ifeval_constraint()})
    tasks = [
        CGPOTask("rlenvs/Arithmetic-v0", "crraft", num_generations=2, kl_threshold=10.0,
                 env_kwargs={"level": 1}, baseline_reward=0.5, name="math"),
        CGPOTask("rlenvs/Instruct-v0", "codpo", judge=moj, num_generations=2, weight=0.5,
                 name="if"),
        CGPOTask("rlenvs/Arithmetic-v0", "crpg", num_generations=2, kl_threshold=10.0,
                 env_kwargs={"level": 1}, name="math_pg"),
    ]
    trainer = CGPOTrainer(policy, tasks, CGPOConfig(max_completion_length=24,
                                                    learning_rate=1e-5))
    before = [p.detach().clone() for p in policy.parameters()][:3]
    metrics = trainer.step()
    for name in ("math", "if", "math_pg"):
        for key in ("reward", "violation_rate", "kl", "loss", "calibrated_reward"):
            assert math.isfinite(metrics[f"{name}/{key}"]), (name, key, metrics)
        assert 0.0 <= metrics[f"{name}/violation_rate"] <= 1.0
    # rollout weights == policy weights and the reference is the start: KL ≈ 0 (bf16 sampler
    # is not used for KL; both log-probs come from fp32 forwards)
    assert abs(metrics["math/kl"]) < 1e-3
    assert trainer.steps == 1 and math.isfinite(metrics["grad_norm"])
    after = [p.detach() for p in policy.parameters()][:3]
    assert metrics["grad_norm"] > 0.0
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def _length_reward(response: str):
    from judges.verdict import Verdict

    return Verdict(min(len(response) / 200.0, 1.0), True, "length")
