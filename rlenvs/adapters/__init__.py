"""Use rlenvs environments and judges from other trainers (TRL, verl)."""

from rlenvs.adapters.trl import env_dataset, env_reward_func
from rlenvs.adapters.trl_env import environment_factory, tool_calling_tokenizer
from rlenvs.adapters.verl import EnvInteraction, compute_score, verl_rows

__all__ = ["env_dataset", "env_reward_func", "environment_factory", "tool_calling_tokenizer",
           "compute_score", "verl_rows", "EnvInteraction"]
