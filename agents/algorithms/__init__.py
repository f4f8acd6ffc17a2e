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
from agents.algorithms.gigpo import (
    anchor_states,
    discounted_returns,
    gigpo_advantages,
    spread_over_turns,
    step_advantages,
)
from agents.algorithms.gmpo import gmpo_sequence_loss
from agents.algorithms.grpo import group_advantages, grpo_token_loss
from agents.algorithms.grpo_lambda import (
    kimi_length_rewards,
    length_shaped_rewards,
    top_lambda_groups,
)
from agents.algorithms.ppo import (
    AdaptiveKLController,
    FixedKLController,
    gae_advantages,
    kl_penalized_rewards,
    value_loss,
)
from agents.algorithms.process import process_advantages
from agents.algorithms.raft import raft_advantages, reinforce_rej_advantages
from agents.algorithms.reinforce_pp import (
    outcome_token_rewards,
    reinforce_pp_advantages,
    reinforce_pp_baseline_advantages,
)
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
    "anchor_states",
    "discounted_returns",
    "gigpo_advantages",
    "spread_over_turns",
    "step_advantages",
    "gmpo_sequence_loss",
    "raft_advantages",
    "reinforce_rej_advantages",
    "group_advantages",
    "grpo_token_loss",
    "kimi_length_rewards",
    "length_shaped_rewards",
    "top_lambda_groups",
    "outcome_token_rewards",
    "reinforce_pp_advantages",
    "reinforce_pp_baseline_advantages",
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
