"""Learning tests: the reward must actually go up (these can fail)."""

from __future__ import annotations

import pytest

from agents import GRPOConfig, GRPOTrainer, PPOConfig, PPOTrainer
from agents.run.metrics import read_metrics
from tests.agents.toy_envs import tiny_policy


def _rewards(summary):
    return [r["reward"] for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]


def test_grpo_teaches_a_tiny_model_to_shout(tmp_path):
    """Reward = fraction of uppercase letters; the letters-only tiny model starts near 0.5."""
    config = GRPOConfig(output_dir=str(tmp_path), max_steps=6, learning_rate=2e-4,
                        per_device_train_batch_size=16, gradient_accumulation_steps=2,
                        num_generations=8, max_completion_length=8, progress=False,
                        save_final_checkpoint=False, seed=0)
    rewards = _rewards(GRPOTrainer(tiny_policy(seed=3, letters_only=True), "agents-test/Uppercase-v0",
                                   config).train())
    assert sum(rewards[-3:]) / 3 > rewards[0] + 0.2, rewards  # step 1 = the initial policy


def test_ppo_teaches_a_tiny_model_to_shout(tmp_path):
    config = PPOConfig(output_dir=str(tmp_path), max_steps=6, learning_rate=2e-4,
                       per_device_train_batch_size=16, gradient_accumulation_steps=2,
                       num_generations=4, max_completion_length=8, progress=False,
                       num_ppo_epochs=2, kl_coef=0.0, temperature=1.0,
                       save_final_checkpoint=False, seed=0)
    rewards = _rewards(PPOTrainer(tiny_policy(seed=3, value_head=True, letters_only=True),
                                  "agents-test/Uppercase-v0", config).train())
    assert sum(rewards[-3:]) / 3 > rewards[0] + 0.2, rewards


@pytest.mark.slow
def test_grpo_improves_smollm2_on_level1_arithmetic(tmp_path):
    """SmolLM2 with LoRA, dense-then-binary reward: the sampled pass rate rises."""
    from agents import CausalLMPolicy, LoraSettings
    from agents.run.demo import demo_env_kwargs

    policy = CausalLMPolicy.from_embedded(lora=LoraSettings(r=16, lora_alpha=32))
    config = GRPOConfig(output_dir=str(tmp_path), max_steps=8, learning_rate=2e-4,
                        per_device_train_batch_size=8, gradient_accumulation_steps=3,
                        num_generations=6, max_completion_length=64, progress=False,
                        save_final_checkpoint=False, seed=0)
    summary = GRPOTrainer(policy, "rlenvs/Arithmetic-v0", config,
                          env_kwargs=demo_env_kwargs(switch_step=4)).train()
    records = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]
    rates = [r["pass_rate"] for r in records]
    assert sum(rates[-3:]) / 3 > sum(rates[:3]) / 3, rates
    assert records[-1]["stage"] == "binary"
