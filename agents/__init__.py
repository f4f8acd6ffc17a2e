"""agents: RL algorithms that train LLM policies on any rlenvs environment.

>>> from agents import GRPOTrainer, GRPOConfig
>>> trainer = GRPOTrainer("smollm2", "rlenvs/Arithmetic-v0",
...                       GRPOConfig(max_steps=20, output_dir="runs/x"),
...                       env_kwargs={"level": 1, "lenient": True})
>>> summary = trainer.train()

Tree-GRPO / ARPO rollouts are GRPO's nested rollout config (rows per prompt: ``ts_m·ts_k`` /
``rollout_budget``; ``GRPOConfig.from_dict`` and ``--set`` take the flat names too):

>>> from agents import RolloutConfig
>>> GRPOConfig(rollout=RolloutConfig("tree", ts_m=2, ts_n=2, ts_l=1, ts_k=3),
...            per_device_train_batch_size=6)
>>> GRPOConfig(rollout=RolloutConfig("arpo", rollout_budget=8, initial_rollouts=4),
...            per_device_train_batch_size=8)

Environments are used only through ``reset`` / ``step`` / ``clone`` (and the reward schedule's
``advance``). Heavy modules (torch, transformers) load on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "GRPOTrainer",
    "RLOOTrainer",
    "PPOTrainer",
    "RLTrainer",
    "CGPOTrainer",
    "CGPOConfig",
    "CGPOTask",
    "GRPOConfig",
    "RLOOConfig",
    "PPOConfig",
    "TrainConfig",
    "RolloutConfig",
    "CausalLMPolicy",
    "LoraSettings",
    "RolloutCollector",
    "BranchedCollector",
    "Trajectory",
    "TorchSampler",
    "SamplingConfig",
    "GenerationBackend",
    "run_training_demo",
    "GHPOTrainer",
    "GHPOConfig",
    "EEPOTrainer",
    "EEPOConfig",
    "TrainingFreeGRPO",
    "TrainingFreeConfig",
    "collect_preferences",
]

_LAZY = {
    "GRPOTrainer": "agents.trainers.grpo",
    "RLOOTrainer": "agents.trainers.rloo",
    "PPOTrainer": "agents.trainers.ppo",
    "RLTrainer": "agents.trainers.base",
    "CGPOTrainer": "agents.trainers.cgpo",
    "CGPOConfig": "agents.trainers.cgpo",
    "CGPOTask": "agents.trainers.cgpo",
    "GRPOConfig": "agents.trainers.config",
    "RLOOConfig": "agents.trainers.config",
    "PPOConfig": "agents.trainers.config",
    "TrainConfig": "agents.trainers.config",
    "RolloutConfig": "agents.trainers.config",
    "CausalLMPolicy": "agents.policy",
    "LoraSettings": "agents.policy",
    "RolloutCollector": "agents.rollout.chain",
    "BranchedCollector": "agents.rollout.branched",
    "Trajectory": "agents.rollout.chain",
    "TorchSampler": "judges.llm.sampler",
    "SamplingConfig": "judges.llm.sampler",
    "GenerationBackend": "judges.llm.sampler",
    "run_training_demo": "agents.run.demo",
    "GHPOTrainer": "agents.trainers.ghpo",
    "GHPOConfig": "agents.trainers.ghpo",
    "EEPOTrainer": "agents.trainers.eepo",
    "EEPOConfig": "agents.trainers.eepo",
    "TrainingFreeGRPO": "agents.trainers.training_free",
    "TrainingFreeConfig": "agents.trainers.training_free",
    "collect_preferences": "agents.preferences",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
