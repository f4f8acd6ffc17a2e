"""RL algorithms for LLM policies, one readable module each (formulas in the docstrings)."""

from agents.algorithms.common import (
    aggregate_loss,
    clipped_surrogate,
    kl_estimate,
    masked_mean,
    masked_whiten,
    token_loss_weights,
)
from agents.algorithms.dapo import groups_with_signal, overlong_penalty
from agents.algorithms.grpo import group_advantages, grpo_token_loss
from agents.algorithms.ppo import (
    AdaptiveKLController,
    FixedKLController,
    gae_advantages,
    kl_penalized_rewards,
    value_loss,
)
from agents.algorithms.process import process_advantages
from agents.algorithms.rloo import rloo_advantages, rloo_kl_rewards, rloo_sequence_loss

__all__ = [
    "aggregate_loss",
    "clipped_surrogate",
    "kl_estimate",
    "masked_mean",
    "masked_whiten",
    "token_loss_weights",
    "groups_with_signal",
    "overlong_penalty",
    "group_advantages",
    "grpo_token_loss",
    "AdaptiveKLController",
    "FixedKLController",
    "gae_advantages",
    "kl_penalized_rewards",
    "value_loss",
    "process_advantages",
    "rloo_advantages",
    "rloo_kl_rewards",
    "rloo_sequence_loss",
]
