"""``RLOOTrainer``: TRL's RLOO on any rlenvs environment, as a small GRPO subclass.

What differs from GRPO, each in its own hook (formulas in :mod:`agents.algorithms.rloo`):

* rewards: the sequence KL to the reference is subtracted from each episode reward
  (``r - β·Σ_t (log π_old - log π_ref)``, optionally clipped), so the rollout-time log-probs
  are always recomputed when ``beta > 0``;
* advantages: leave-one-out baselines (``A_i = r_i - mean_{j≠i} r_j``), optionally whitened
  over the batch (``normalize_advantages``, TRL: std + 1e-4);
* loss: one importance ratio per sequence (the sum of its token log-ratios), clipped, and the
  sequences averaged -- not GRPO's token-level surrogate.
"""

from __future__ import annotations

import torch

from agents.algorithms.rloo import rloo_kl_rewards, rloo_sequence_loss
from agents.rollout.batch import MicroBatch, Sample
from agents.rollout.chain import Trajectory
from agents.trainers.config import RLOOConfig
from agents.trainers.grpo import GRPOTrainer, stack_rows

__all__ = ["RLOOTrainer"]


class RLOOTrainer(GRPOTrainer):
    """TRL-style RLOO: leave-one-out baseline, KL in the reward, sequence-level ratio."""

    config_class = RLOOConfig
    algorithm = "rloo"
    config: RLOOConfig

    def needs_old_logprobs(self) -> bool:
        return super().needs_old_logprobs() or self.config.beta > 0

    def shape_rewards(self, samples: list[Sample], rewards: torch.Tensor
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        if cfg.beta <= 0:
            return rewards, {}
        width = max(len(s.completion_ids) for s in samples)
        old = stack_rows([s.tokens["old_logprobs"] for s in samples], width)
        ref = stack_rows([s.tokens["ref_logprobs"] for s in samples], width)
        mask = stack_rows([s.mask for s in samples], width)
        shaped, kl = rloo_kl_rewards(rewards, old, ref, mask, cfg.beta, cfg.reward_clip_range)
        return shaped, {"kl": float(kl.mean())}

    def _advantages(self, trajs: list[Trajectory], samples: list[Sample], rewards: torch.Tensor,
                    groups: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, float]]:
        advantages, stats = super()._advantages(trajs, samples, rewards, groups)
        if self.config.normalize_advantages and len(advantages) > 1:
            adv = torch.stack(advantages)
            adv = (adv - adv.mean()) / (adv.std() + 1e-4)  # TRL: nanstd + 1e-4
            advantages = list(adv)
        return advantages, stats

    def policy_loss(self, logp: torch.Tensor, old: torch.Tensor, mb: MicroBatch
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.config
        seq_loss, flags = rloo_sequence_loss(logp, old, mb.scalars["advantage"], mb.mask,
                                             cfg.epsilon, cfg.epsilon_high)
        info = {k: v[:, None].expand_as(mb.mask) for k, v in flags.items()}
        return (seq_loss * mb.scalars["seq_weight"]).sum(), info
