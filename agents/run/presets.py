"""Named algorithm presets: ``grpo``, ``dr_grpo``, ``dapo``, ``gspo``, ``gmpo``, ``gigpo``,
``raft++``, ``reinforce_rej``, ``reinforce++``, ``reinforce++_baseline``, ``grpo_lambda``,
``length_penalty``, ``ghpo``, ``eepo``, ``training_free_grpo``, ``rloo``, ``ppo``, ``process``,
``cgpo`` -> (trainer class, config settings). Settings follow the reference recipes (see the
docstrings of :mod:`agents.trainers.config`)."""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS", "make_trainer"]

PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "grpo": ("GRPOTrainer", {}),
    "dr_grpo": ("GRPOTrainer", {"loss_type": "dr_grpo", "scale_rewards": "none"}),
    "dapo": ("GRPOTrainer", {"epsilon_high": 0.28, "loss_type": "dapo", "dynamic_sampling": True,
                             "overlong_buffer_len": "quarter"}),
    "gspo": ("GRPOTrainer", {"importance_sampling_level": "sequence", "loss_type": "grpo",
                             "epsilon": 3e-4, "epsilon_high": 4e-4}),
    "process": ("GRPOTrainer", {"advantage_estimator": "process"}),
    # GMPO: token-clipped geometric mean, log-space clip (e^-0.4, e^0.4) (TRL GMPOConfig default)
    "gmpo": ("GRPOTrainer", {"importance_sampling_level": "geo_mean", "epsilon": 0.4,
                             "epsilon_high": 0.4}),
    # GiGPO: episode + anchor-state step groups; mean_norm, gamma 0.95, w 1 (verl-agent scripts)
    "gigpo": ("GRPOTrainer", {"advantage_estimator": "gigpo", "scale_rewards": "none",
                              "gamma": 0.95, "step_advantage_w": 1.0}),
    "raft++": ("GRPOTrainer", {"advantage_estimator": "raft"}),
    "reinforce_rej": ("GRPOTrainer", {"advantage_estimator": "reinforce_rej"}),
    # REINFORCE++ (arXiv 2501.03262): batch-whitened returns; verl's gamma 1.0
    "reinforce++": ("GRPOTrainer", {"advantage_estimator": "reinforce_plus_plus", "gamma": 1.0}),
    "reinforce++_baseline": ("GRPOTrainer", {"advantage_estimator":
                                             "reinforce_plus_plus_baseline"}),
    # GRPO-λ (arXiv 2505.18086): Kimi's length reward only for the top 20% groups by accuracy;
    # length_penalty: the same reward for every group (the paper's LP baseline)
    "grpo_lambda": ("GRPOTrainer", {"length_reward": "top_lambda", "top_lambda": 0.2}),
    "length_penalty": ("GRPOTrainer", {"length_reward": "all"}),
    "rloo": ("RLOOTrainer", {}),
    "ppo": ("PPOTrainer", {}),
    # GHPO: all-wrong groups re-sampled with 25/50/75% of the reference solution (arXiv 2507.10628)
    "ghpo": ("GHPOTrainer", {}),
    # EEPO: two-stage rollouts, temporary unlearning between them (arXiv 2510.05837)
    "eepo": ("EEPOTrainer", {}),
    # Training-Free GRPO: an experience library in context, no gradient (arXiv 2510.08191)
    "training_free_grpo": ("TrainingFreeGRPO", {}),
    # multi-task CGPO: settings + a "tasks" list, or one task on the env (docs/cgpo.md)
    "cgpo": ("CGPOTrainer", {}),
}


def make_trainer(algo: str, policy: Any, env: Any, settings: dict[str, Any] | None = None,
                 env_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """A trainer for preset ``algo`` with ``settings`` (TRL or verl names) on top."""
    if algo not in PRESETS:
        raise ValueError(f"unknown algorithm {algo!r}; choose one of {sorted(PRESETS)}")
    import agents

    cls_name, preset = PRESETS[algo]
    cls = getattr(agents, cls_name)
    values = {**preset, **(settings or {})}
    if algo == "cgpo":
        from agents.run.cgpo_config import cgpo_from_dict

        config, tasks = cgpo_from_dict(values, env_id=env, env_kwargs=env_kwargs)
        return cls(policy, tasks, config, **kwargs)
    if values.get("overlong_buffer_len") == "quarter":
        length = int(values.get("max_completion_length",
                                cls.config_class.__dataclass_fields__["max_completion_length"]
                                .default))
        values["overlong_buffer_len"] = max(1, length // 4)
    config = cls.config_class.from_dict(values)
    return cls(policy, env, config, env_kwargs=env_kwargs, **kwargs)
