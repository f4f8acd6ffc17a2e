"""``PPOTrainer``: PPO with a value head on the policy's backbone (TRL's classic layout).

One ``step`` = one PPO iteration: roll out a batch, score it (KL-penalised token rewards with the
fixed or adaptive coefficient), compute GAE advantages and returns through masked observation
tokens, then ``num_ppo_epochs`` × ``num_mini_batches`` clipped policy + value updates.
Formulas: :mod:`agents.algorithms.ppo`.
"""

from __future__ import annotations

from typing import Any

import torch

from agents.algorithms.common import clipped_surrogate, masked_whiten, token_loss_weights
from agents.algorithms.ppo import (
    AdaptiveKLController,
    FixedKLController,
    adaptive_kl_input,
    gae_advantages,
    kl_penalized_rewards,
    value_loss,
)
from agents.policy import PolicyOutput
from agents.rollout.batch import MicroBatch, Sample
from agents.trainers.base import RLTrainer
from agents.trainers.config import PPOConfig
from agents.trainers.grpo import _rollout_stats, stack_rows, trajectory_sample

__all__ = ["PPOTrainer"]


class PPOTrainer(RLTrainer):
    """Proximal policy optimisation with GAE on an rlenvs environment."""

    config_class = PPOConfig
    algorithm = "ppo"
    needs_values = True
    config: PPOConfig

    def __init__(self, policy: Any, env: Any, config: Any = None, **kwargs: Any) -> None:
        super().__init__(policy, env, config, **kwargs)
        cfg = self.config
        if cfg.kl_coef > 0:
            self.setup_reference()
        self.kl_ctl: FixedKLController | AdaptiveKLController = (
            AdaptiveKLController(cfg.kl_coef, cfg.target_kl, cfg.kl_horizon)
            if cfg.kl_ctrl_type == "adaptive" else FixedKLController(cfg.kl_coef)
        )

    def make_samples(self) -> tuple[list[Sample], dict[str, Any]]:
        cfg = self.config
        trajs = self.collect(cfg.prompts_per_generation)  # scored episodes only
        if not trajs:
            return [], {}
        samples = [trajectory_sample(t, cfg.mask_truncated_completions) for t in trajs]
        width = max(len(s.completion_ids) for s in samples)
        outs = self.forward_no_grad(samples, with_values=True)
        old = stack_rows([o.logprobs for o in outs], width)
        values = stack_rows([o.values for o in outs], width)
        mask = stack_rows([s.mask for s in samples], width)
        ref = None
        if cfg.kl_coef > 0:
            ref = stack_rows([o.logprobs for o in self.forward_no_grad(samples, reference=True)],
                         width)
        scores = []
        for t in trajs:
            items = [(end, r) for end, r in zip(t.turn_ends, t.rewards, strict=True)]
            if cfg.missing_eos_penalty is not None and not t.stopped:
                end, r = items[-1]
                items[-1] = (end, r - cfg.missing_eos_penalty)
            scores.append(items)
        beta = self.kl_ctl.value
        rewards, kl = kl_penalized_rewards(scores, old, ref, mask, beta, cfg.kl_estimator,
                                           clamp=cfg.semantics == "verl")
        if cfg.whiten_rewards:
            rewards = masked_whiten(rewards, mask, shift_mean=False) * mask
        advantages, returns = gae_advantages(rewards, values, mask, cfg.gamma, cfg.lam)
        for i, s in enumerate(samples):
            n = len(s.completion_ids)
            s.tokens.update(old_logprobs=old[i, :n], old_values=values[i, :n],
                            advantages=advantages[i, :n], returns=returns[i, :n])
        seq_kl = (kl * mask).sum(-1)
        self.kl_ctl.update(adaptive_kl_input(kl, mask), len(samples))
        episode = torch.tensor([t.total_reward for t in trajs], dtype=torch.float32)
        stats = _rollout_stats(trajs, episode, episode)
        stats.update({
            "kl": float(seq_kl.mean()),  # per sequence (TRL's objective/kl)
            "kl/token_mean": adaptive_kl_input(kl, mask),  # what the adaptive controller sees
            "kl_coef": beta,
            "values/mean": float((values * mask).sum() / mask.sum().clamp(min=1)),
            "returns/mean": float((returns * mask).sum() / mask.sum().clamp(min=1)),
        })
        return samples, stats

    def plan(self, samples: list[Sample]) -> list[list[int]]:
        cfg = self.config
        size = max(1, len(samples) // cfg.num_mini_batches)
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.state.rounds)
        steps = []
        for _ in range(cfg.num_ppo_epochs):
            order = torch.randperm(len(samples), generator=generator).tolist()
            steps += [order[k : k + size] for k in range(0, len(order), size)]
        return steps

    def steps_per_round(self, num_updates: int) -> int:
        return 1

    def prepare_step(self, samples: list[Sample], indices: list[int]) -> None:
        chosen = [samples[i] for i in indices]
        width = max(len(s.completion_ids) for s in chosen)
        weights = token_loss_weights(stack_rows([s.mask for s in chosen], width), "dapo")
        for row, s in enumerate(chosen):
            s.tokens["weights"] = weights[row, : len(s.completion_ids)].clone()

    def compute_loss(self, out: PolicyOutput, mb: MicroBatch) -> tuple[torch.Tensor,
                                                                        dict[str, float]]:
        cfg = self.config
        mask, weights = mb.mask, mb.tokens["weights"]
        log_ratio = out.logprobs - mb.tokens["old_logprobs"]
        if cfg.semantics == "verl":
            log_ratio = torch.clamp(log_ratio, -20.0, 20.0)  # verl's stability clamp
        eps_high = cfg.cliprange if cfg.cliprange_high is None else cfg.cliprange_high
        pg, flags = clipped_surrogate(log_ratio, mb.tokens["advantages"], cfg.cliprange, eps_high,
                                      dual_clip=cfg.dual_clip)
        assert out.values is not None
        vf, vf_clipped = value_loss(out.values, mb.tokens["old_values"], mb.tokens["returns"],
                                    cfg.cliprange_value)
        per_token = pg + cfg.vf_coef * vf
        if cfg.entropy_coef:
            assert out.entropy is not None
            per_token = per_token - cfg.entropy_coef * out.entropy
        loss = (per_token * weights).sum()
        clipped = (flags["low"] | flags["high"]).float() * mask
        stats = {
            "tokens": float(mask.sum()),
            "policy_loss_sum": float((pg.detach() * mask).sum()),
            "value_loss_sum": float((vf.detach() * mask).sum()),
            "clip_ratio/region_mean_sum": float(clipped.sum()),
            "value_clipfrac_sum": float((vf_clipped.float() * mask).sum()),
            "approx_kl_sum": float((0.5 * log_ratio.detach() ** 2 * mask).sum()),
        }
        if out.entropy is not None:
            stats["entropy_sum"] = float((out.entropy.detach() * mask).sum())
        return loss, stats

    def algorithm_state(self) -> dict[str, Any]:
        return {"kl_ctl": self.kl_ctl.state_dict()}

    def load_algorithm_state(self, state: dict[str, Any]) -> None:
        if "kl_ctl" in state:
            self.kl_ctl.load_state_dict(state["kl_ctl"])
