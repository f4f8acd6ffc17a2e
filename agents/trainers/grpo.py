"""``GRPOTrainer`` (GRPO, Dr. GRPO, DAPO, GSPO, verl-style RLOO, process-reward GRPO) on any
rlenvs environment (TRL's RLOO, with its own loss, is :mod:`agents.trainers.rloo`).

Per round: sample ``prompts_per_generation`` prompts × ``num_generations`` episodes (DAPO's
dynamic sampling keeps sampling until enough groups have reward variance), turn episode rewards
(+ overlong shaping) into advantages, then take ``steps_per_generation /
gradient_accumulation_steps × num_iterations`` optimizer steps on them. Formulas live in
:mod:`agents.algorithms`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from agents.algorithms.common import kl_estimate, masked_mean, token_loss_weights
from agents.algorithms.dapo import groups_with_signal, overlong_penalty
from agents.algorithms.gigpo import anchor_states, gigpo_advantages, spread_over_turns
from agents.algorithms.gmpo import GMPO_LEVEL, gmpo_sequence_loss
from agents.algorithms.grpo import group_advantages, grpo_token_loss
from agents.algorithms.grpo_lambda import length_shaped_rewards
from agents.algorithms.process import process_advantages
from agents.algorithms.raft import raft_advantages, reinforce_rej_advantages
from agents.algorithms.reinforce_pp import (
    outcome_token_rewards,
    reinforce_pp_advantages,
    reinforce_pp_baseline_advantages,
)
from agents.algorithms.rloo import rloo_advantages
from agents.algorithms.tis import row_correction_weights, sampler_correction_weights
from agents.policy import PolicyOutput
from agents.rollout.batch import MicroBatch, Sample
from agents.rollout.chain import Trajectory
from agents.trainers.base import RLTrainer
from agents.trainers.config import GRPOConfig

__all__ = ["GRPOTrainer", "trajectory_sample"]


def trajectory_sample(traj: Trajectory, mask_truncated: bool = False) -> Sample:
    """A training sample of ``traj`` (loss mask = policy tokens, or ``traj.loss_mask`` when the
    rollout set one; none if cut off and masked)."""
    mask = torch.tensor(traj.policy_mask if traj.loss_mask is None else traj.loss_mask,
                        dtype=torch.float32)
    if mask_truncated and not traj.stopped:
        mask = torch.zeros_like(mask)
    return Sample(list(traj.prompt_ids), list(traj.completion_ids), mask)


class GRPOTrainer(RLTrainer):
    """Group-relative policy optimisation on an rlenvs environment.

    >>> trainer = GRPOTrainer("smollm2", "rlenvs/Arithmetic-v0", GRPOConfig(max_steps=10))
    >>> summary = trainer.train()
    """

    config_class = GRPOConfig
    algorithm = "grpo"
    config: GRPOConfig
    supports_branched_rollouts = True
    min_scored_per_group = 2  # group-relative advantages need 2 scored episodes
    # the round's deferred sampler-correction rows (sample index, trainer/sampler log-probs,
    # mask, weights), None when the weights were made before training
    _deferred: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] | None = None

    def __init__(self, policy: Any, env: Any, config: Any = None, **kwargs: Any) -> None:
        super().__init__(policy, env, config, **kwargs)
        if self.config.beta > 0:
            self.setup_reference()

    def needs_old_logprobs(self) -> bool:
        """Whether the rollout-time log-probs must be recomputed (off-policy steps)."""
        cfg = self.config
        return cfg.num_iterations > 1 or \
            cfg.steps_per_generation != cfg.gradient_accumulation_steps

    def sampler_correction_on(self) -> bool:
        """Whether the loss is weighted by pi_trainer / pi_sampler (``vllm_importance_sampling_
        correction``, :mod:`agents.algorithms.tis`): the correction is on and the sampler's
        log-probs are not the trainer's own -- vLLM (its own kernels), any engine in bf16. A
        float32 TorchSampler runs the trainer's float32 math (no correction, no extra pass)."""
        cfg = self.config
        if not cfg.vllm_importance_sampling_correction:
            return False
        if self.async_round_stale():  # behaviour = an older policy (async_rollouts)
            return True
        return not (getattr(self.backend, "dtype", None) == torch.float32 and not self.bf16)

    def defer_correction(self) -> bool:
        """Whether the sampler correction can use the training forward's log-probs as the old
        ones (one optimizer update per sample, on the weights that sampled it or, async, on the
        current ones) instead of a separate pass over every sample before training: the same
        weights, one forward fewer. Data-parallel ranks keep the pass (metrics span ranks)."""
        return not self.needs_old_logprobs() and self.dp is None and \
            not self.async_round_stale()

    def _correction_weights(self, logp: torch.Tensor, mb: MicroBatch) -> torch.Tensor | None:
        """The micro-batch's sampler correction weights: made before training, or (deferred)
        from this forward's detached log-probs, whose rows are kept for the round's metrics."""
        weights = mb.tokens.get("sampler_weights")
        sampler = mb.tokens.get("sampler_logprobs")
        if weights is not None or sampler is None or self._deferred is None:
            return weights
        cfg = self.config
        trainer = logp.detach().float()
        weights, _ = sampler_correction_weights(
            trainer, sampler, mb.mask, cfg.vllm_importance_sampling_mode,
            cfg.vllm_importance_sampling_clip_max, cfg.vllm_importance_sampling_clip_min)
        for row in range(mb.size):  # padding has mask 0: out of the metrics
            self._deferred.append((mb.indices[row], trainer[row], sampler[row], mb.mask[row],
                                   weights[row]))
        return weights

    def step_record(self, step_stats: list[dict[str, float]]) -> dict[str, float]:
        """Adds the deferred sampler correction's metrics (over every row the step weighted,
        as the eager pass reports them)."""
        record = super().step_record(step_stats)
        if self._deferred:
            rows = self._deferred
            _, metrics = row_correction_weights(
                [r[1] for r in rows], [r[2].tolist() for r in rows], [r[3] for r in rows],
                self.config.vllm_importance_sampling_mode,
                self.config.vllm_importance_sampling_clip_max,
                self.config.vllm_importance_sampling_clip_min)
            record.update(metrics)
        return record

    def shape_rewards(self, samples: list[Sample], rewards: torch.Tensor
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """Rewards the advantages are computed from (GRPO: the episode rewards as they are)."""
        return rewards, {}

    # ----------------------------------------------------------------- rollouts -> samples
    def make_samples(self) -> tuple[list[Sample], dict[str, Any]]:
        cfg = self.config
        kept, extra = self._collect_groups()
        kept = self.trainable(kept)  # (hinted re-samplings too) no fault reaches the loss
        if not kept:
            return [], dict(extra)
        samples = [trajectory_sample(t, cfg.mask_truncated_completions) for t in kept]
        rewards, raw, penalty = self._rewards(kept)
        groups = torch.tensor([t.group for t in kept])
        correct = self.sampler_correction_on()
        self._deferred = None
        if correct and self.defer_correction():
            # on-policy: the training forward's own log-probs are the old ones; the weights are
            # made from them in the loss (no extra pass), the metrics after the step
            self._deferred = []
            for s, t in zip(samples, kept, strict=True):
                s.tokens["sampler_logprobs"] = _sampler_row(t.sampler_logprobs, len(s.mask))
            correct = False
        if self.needs_old_logprobs() or correct:  # one pass serves both
            for s, out in zip(samples, self.forward_no_grad(samples), strict=True):
                s.tokens["old_logprobs"] = out.logprobs
        correction: dict[str, float] = {}
        if correct:
            weights, correction = row_correction_weights(
                [s.tokens["old_logprobs"] for s in samples], [t.sampler_logprobs for t in kept],
                [s.mask for s in samples], cfg.vllm_importance_sampling_mode,
                cfg.vllm_importance_sampling_clip_max, cfg.vllm_importance_sampling_clip_min)
            for s, w in zip(samples, weights, strict=True):
                s.tokens["sampler_weights"] = w
        if cfg.beta > 0:
            for s, out in zip(samples, self.forward_no_grad(samples, reference=True), strict=True):
                s.tokens["ref_logprobs"] = out.logprobs
        rewards, shaped = self.shape_rewards(samples, rewards)
        stats: dict[str, Any] = dict(shaped)
        stats.update(correction)
        advantages, adv_stats = self._advantages(kept, samples, rewards, groups)
        stats.update(adv_stats)
        for s, a in zip(samples, advantages, strict=True):
            if a.dim() == 0:
                s.tokens["advantages"] = a.expand(len(s.completion_ids)).clone()
                s.scalars["advantage"] = float(a)
            else:
                s.tokens["advantages"] = a
                s.scalars["advantage"] = float(a[s.mask > 0].mean()) if s.mask.any() else 0.0
        stats.update(_rollout_stats(kept, rewards, raw))
        stats.update(extra)
        if cfg.length_reward is not None:
            stats.update(self._length_stats)
        if penalty is not None:
            stats["reward/overlong_penalty"] = float(penalty.mean())
        return samples, stats

    def _collect_groups(self) -> tuple[list[Trajectory], dict[str, Any]]:
        cfg = self.config
        needed = cfg.prompts_per_generation
        if not cfg.dynamic_sampling:
            return self.collect(needed), {}
        per_batch = cfg.gen_batch_size or needed
        with_signal: list[list[Trajectory]] = []
        without: list[list[Trajectory]] = []
        batches = generated = 0
        while len(with_signal) < needed:
            trajs = self.collect(per_batch)  # scored episodes only: a fault is not a signal
            batches += 1
            generated += per_batch
            rewards, _, _ = self._rewards(trajs)
            metric = rewards if cfg.dynamic_sampling_metric == "reward" else \
                torch.tensor([float(t.passed) for t in trajs])
            groups = torch.tensor([t.group for t in trajs])
            keep = set(groups_with_signal(metric, groups))
            for g in dict.fromkeys(groups.tolist()):
                members = [t for t in trajs if t.group == g]
                (with_signal if g in keep else without).append(members)
            if cfg.max_num_gen_batches > 0 and batches >= cfg.max_num_gen_batches:
                if cfg.semantics == "verl" and len(with_signal) < needed:
                    raise RuntimeError(
                        f"dynamic sampling: {len(with_signal)} of {needed} groups with reward "
                        f"variance after max_num_gen_batches={cfg.max_num_gen_batches} generation "
                        "batches (verl raises here; raise the limit or set it to 0)")
                break
        filled = max(0, needed - len(with_signal))
        chosen = (with_signal + without[:filled])[:needed]
        stats = {"dynamic_sampling/gen_batches": batches,
                 "dynamic_sampling/groups_generated": generated,
                 "dynamic_sampling/groups_with_signal": len(with_signal),
                 "dynamic_sampling/groups_filled": filled}
        return [t for group in chosen for t in group], stats

    def _rewards(self, trajs: list[Trajectory]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(shaped rewards, raw episode returns, overlong penalty or None)."""
        raw = torch.tensor([t.total_reward for t in trajs], dtype=torch.float32)
        cfg = self.config
        shaped = raw
        if cfg.length_reward is not None:  # GRPO-λ / plain length penalty (grpo_lambda)
            shaped, self._length_stats = length_shaped_rewards(
                raw, torch.tensor([float(t.passed) for t in trajs]),
                torch.tensor([t.num_policy_tokens for t in trajs]),
                torch.tensor([t.group for t in trajs]), cfg.length_reward, cfg.top_lambda,
                cfg.top_lambda_min_accuracy, cfg.length_reward_weight)
        if cfg.overlong_buffer_len is None:
            return shaped, raw, None
        limit = cfg.max_episode_tokens or cfg.max_completion_length
        penalty = overlong_penalty([t.num_policy_tokens for t in trajs], limit,
                                   min(cfg.overlong_buffer_len, limit),
                                   cfg.overlong_penalty_factor, linear=cfg.semantics == "verl")
        return shaped + penalty, raw, penalty

    def _advantages(self, trajs: list[Trajectory], samples: list[Sample], rewards: torch.Tensor,
                    groups: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, float]]:
        cfg = self.config
        stats: dict[str, float] = {}
        given = given_advantages(trajs)
        if given is not None:
            return given, stats
        if cfg.advantage_estimator == "grpo":
            adv, stats = group_advantages(rewards, groups, cfg.scale_rewards,
                                          cfg.reward_std_epsilon)
            return list(adv), stats
        if cfg.advantage_estimator == "rloo":
            return list(rloo_advantages(rewards, groups)), stats
        if cfg.advantage_estimator == "gigpo":
            return self._gigpo_advantages(trajs, samples, rewards, groups)
        if cfg.advantage_estimator.startswith("reinforce_plus_plus"):
            # batch-whitened over every loss token of the round (agents.algorithms.reinforce_pp)
            width = max(len(s.completion_ids) for s in samples)
            mask = stack_rows([s.mask for s in samples], width)
            if cfg.advantage_estimator == "reinforce_plus_plus":
                table, _ = reinforce_pp_advantages(outcome_token_rewards(rewards, mask), mask,
                                                   cfg.gamma)
            else:
                table = reinforce_pp_baseline_advantages(rewards, groups, mask)
            return [table[i, : len(s.completion_ids)].float() for i, s in enumerate(samples)], \
                stats
        if cfg.advantage_estimator in ("raft", "reinforce_rej"):
            adv, kept = raft_advantages(rewards, groups) if cfg.advantage_estimator == "raft" \
                else reinforce_rej_advantages(rewards, groups, cfg.reinforce_baseline)
            for s, keep in zip(samples, kept.tolist(), strict=True):
                if not keep:  # rejected: out of the loss and of its token / row counts
                    s.mask = torch.zeros_like(s.mask)
            return list(adv), {f"{cfg.advantage_estimator}/kept_frac": float(kept.float().mean())}
        steps, ends = [], []
        for t in trajs:
            s_t, e_t = _process_steps(t)
            steps.append(s_t)
            ends.append(e_t)
        width = max(len(s.completion_ids) for s in samples)
        table = process_advantages(steps, ends, groups.tolist(), width, cfg.reward_std_epsilon)
        return [table[i, : len(s.completion_ids)] for i, s in enumerate(samples)], stats

    def _gigpo_advantages(self, trajs: list[Trajectory], samples: list[Sample],
                          rewards: torch.Tensor, groups: torch.Tensor
                          ) -> tuple[list[torch.Tensor], dict[str, float]]:
        """GiGPO: every turn's tokens get A^E + ω·A^S, the step groups being the states of
        ``info["state_key"]`` (:mod:`agents.algorithms.gigpo`); reward shaping on top of the
        turn rewards (overlong) counts in the last step."""
        cfg = self.config
        steps = [[float(r) for r in t.rewards] for t in trajs]
        for row, total, t in zip(steps, rewards.tolist(), trajs, strict=True):
            row[-1] += total - t.total_reward
        per_step, stats = gigpo_advantages(
            steps, [anchor_states(t.infos) for t in trajs], groups.tolist(), gamma=cfg.gamma,
            step_advantage_w=cfg.step_advantage_w, scale_rewards=cfg.scale_rewards,
            epsilon=cfg.reward_std_epsilon)
        return [spread_over_turns(a, t.turn_ends, len(s.completion_ids))
                for a, t, s in zip(per_step, trajs, samples, strict=True)], stats

    # ----------------------------------------------------------------- loss
    def prepare_step(self, samples: list[Sample], indices: list[int]) -> None:
        cfg = self.config
        chosen = [samples[i] for i in indices]
        width = max(len(s.completion_ids) for s in chosen)
        mask = stack_rows([s.mask for s in chosen], width)
        batch = len(chosen)
        micro = cfg.per_device_train_batch_size if batch % cfg.per_device_train_batch_size == 0 \
            else batch
        verl = cfg.semantics == "verl"
        normalizer = None
        if not verl and cfg.loss_type == "dapo" and \
                cfg.steps_per_generation != cfg.gradient_accumulation_steps:
            # TRL 1.16: the generation batch's tokens × GA / spg (not this step's own tokens)
            tokens = float(sum(float(x.mask.sum()) for x in samples))
            normalizer = tokens * cfg.gradient_accumulation_steps / int(cfg.steps_per_generation)
        # RAFT++ / Reinforce-Rej: rejected rows (mask 0) leave the row count (the paper's 1/|D|)
        rejecting = cfg.advantage_estimator in ("raft", "reinforce_rej")
        weights = token_loss_weights(mask, cfg.loss_type,
                                     cfg.loss_scale_factor or cfg.max_completion_length, micro,
                                     skip_empty_rows=verl or rejecting, token_normalizer=normalizer)
        # entropy bonus: verl aggregates it like the loss; TRL takes the token mean of each
        # micro-batch divided by the accumulation steps, whatever the loss_type
        entropy_w = weights if verl else token_loss_weights(mask, "bnpo", micro_batch_size=micro)
        for row, s in enumerate(chosen):
            s.tokens["weights"] = weights[row, : len(s.completion_ids)].clone()
            s.tokens["entropy_weights"] = entropy_w[row, : len(s.completion_ids)].clone()
            s.scalars["seq_weight"] = 1.0 / batch

    def compute_loss(self, out: PolicyOutput, mb: MicroBatch) -> tuple[torch.Tensor,
                                                                        dict[str, float]]:
        cfg = self.config
        mask = mb.mask
        logp = out.logprobs
        old = mb.tokens.get("old_logprobs", logp.detach())
        loss, info = self.policy_loss(logp, old, mb)
        if cfg.entropy_coef != 0.0:
            if out.entropy is None:
                raise ValueError("entropy_coef != 0 needs the per-token entropy")
            loss = loss - cfg.entropy_coef * (out.entropy * mb.tokens["entropy_weights"]).sum()
        return loss, _token_stats(mask, out, info)

    def policy_loss(self, logp: torch.Tensor, old: torch.Tensor, mb: MicroBatch
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The clipped token-level surrogate (+ KL term), weighted by ``loss_type``; the
        surrogate (not the KL term) times the sampler correction weights when there are some
        (TRL 1.16 and verl alike)."""
        cfg = self.config
        if cfg.importance_sampling_level == GMPO_LEVEL:
            return self._gmpo_loss(logp, old, mb)

        def token_loss(beta: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            return grpo_token_loss(
                logp, old, mb.tokens["advantages"], mb.mask,
                epsilon=cfg.epsilon, epsilon_high=cfg.epsilon_high, delta=cfg.delta,
                dual_clip=cfg.dual_clip, importance_sampling_level=cfg.importance_sampling_level,
                beta=beta, ref_logp=mb.tokens.get("ref_logprobs"),
                kl_estimator=cfg.kl_estimator, bias_correction_kl=cfg.use_bias_correction_kl,
                verl_clamps=cfg.semantics == "verl",
            )

        per_token, info = token_loss(cfg.beta)
        correction = self._correction_weights(logp, mb)
        if correction is not None:
            if cfg.beta == 0.0:
                per_token = per_token * correction
            else:  # w * surrogate + beta * kl
                per_token = per_token + (correction - 1.0) * token_loss(0.0)[0]
        return (per_token * mb.tokens["weights"]).sum(), info

    def _gmpo_loss(self, logp: torch.Tensor, old: torch.Tensor, mb: MicroBatch
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """GMPO (:mod:`agents.algorithms.gmpo`): one geometric-mean term per sequence, averaged
        over the step's sequences (``loss_type`` does not apply, as in TRL and verl). Sampler
        correction weights enter as their per-sequence geometric mean (verl). The KL term: TRL's
        ``GMPOTrainer`` (sequence-averaged), or under verl semantics aggregated like verl's KL
        loss (``loss_type`` weights)."""
        cfg = self.config
        seq_loss, flags = gmpo_sequence_loss(logp, old, mb.tokens["advantages"], mb.mask,
                                             cfg.epsilon, cfg.epsilon_high)
        correction = self._correction_weights(logp, mb)
        if correction is not None:
            seq_loss = seq_loss * torch.exp(masked_mean(torch.log(correction + 1e-10), mb.mask,
                                                        dim=-1))
        loss = (seq_loss * mb.scalars["seq_weight"]).sum()
        info = {"clipped_low": flags["low"], "clipped_high": flags["high"]}
        if cfg.beta != 0.0:
            ref = mb.tokens.get("ref_logprobs")
            if ref is None:
                raise ValueError("beta > 0 needs ref_logprobs (reference log-probabilities)")
            kl = kl_estimate(logp, ref, cfg.kl_estimator, clamp=cfg.semantics == "verl")
            if cfg.semantics == "verl":
                loss = loss + cfg.beta * (kl * mb.tokens["weights"]).sum()
            else:
                loss = loss + cfg.beta * (masked_mean(kl, mb.mask, dim=-1)
                                          * mb.scalars["seq_weight"]).sum()
            info["kl"] = kl.detach()
        return loss, info


def given_advantages(trajs: list[Trajectory]) -> list[torch.Tensor] | None:
    """The per-token advantages the rollout fixed (Tree-GRPO / ARPO rows), or ``None`` (chain
    rows: the trainer computes group advantages). The loss then uses them unchanged."""
    given = [t.advantages is not None for t in trajs]
    if not any(given):
        return None
    if not all(given):
        raise ValueError("some trajectories carry rollout advantages and some do not; a batch "
                         "must come from one rollout kind")
    out = []
    for t in trajs:
        assert t.advantages is not None
        if len(t.advantages) != len(t.completion_ids):
            raise ValueError(f"{len(t.advantages)} advantages for {len(t.completion_ids)} "
                             "completion ids")
        out.append(torch.tensor(t.advantages, dtype=torch.float32))
    return out


def _process_steps(t: Trajectory) -> tuple[list[float], list[int]]:
    """Per-step rewards and end tokens of an episode (a turn without step rewards is one step)."""
    rewards: list[float] = []
    ends: list[int] = []
    for k, turn_end in enumerate(t.turn_ends):
        steps, step_ends = t.step_rewards[k], t.step_ends[k]
        if steps:
            assert step_ends is not None
            rewards.extend(steps)
            ends.extend(step_ends[:-1] + [max(step_ends[-1], turn_end)])
        else:
            rewards.append(t.rewards[k])
            ends.append(turn_end)
    return rewards, ends


def _sampler_row(logprobs: list[float | None] | None, n: int) -> torch.Tensor:
    """A trajectory's sampler log-probs as a ``(n,)`` tensor, NaN where the engine gave none."""
    if logprobs is None:
        return torch.full((n,), math.nan)
    if len(logprobs) != n:
        raise ValueError(f"{len(logprobs)} sampler log-probs for {n} completion ids")
    return torch.tensor([math.nan if x is None else float(x) for x in logprobs])


def stack_rows(rows: list[torch.Tensor], width: int) -> torch.Tensor:
    out = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _token_stats(mask: torch.Tensor, out: PolicyOutput, info: dict[str, torch.Tensor]
                 ) -> dict[str, float]:
    stats = {"tokens": float(mask.sum())}
    if out.entropy is not None:
        stats["entropy_sum"] = float((out.entropy.detach() * mask).sum())
    if "kl" in info:
        stats["kl_sum"] = float((info["kl"] * mask).sum())
    low, high = info["clipped_low"].float() * mask, info["clipped_high"].float() * mask
    stats["clip_ratio/low_mean_sum"] = float(low.sum())
    stats["clip_ratio/high_mean_sum"] = float(high.sum())
    stats["clip_ratio/region_mean_sum"] = float((low + high).sum())
    return stats


def _rollout_stats(trajs: list[Trajectory], rewards: torch.Tensor, raw: torch.Tensor
                   ) -> dict[str, Any]:
    lengths = torch.tensor([t.num_policy_tokens for t in trajs], dtype=torch.float32)
    groups = torch.tensor([t.group for t in trajs])
    _, zero = group_advantages(rewards, groups, "group")
    return {
        "reward": float(rewards.mean()),
        "reward_std": float(rewards.std()) if len(rewards) > 1 else 0.0,
        "reward/env": float(raw.mean()),
        "pass_rate": float(sum(t.passed for t in trajs) / len(trajs)),
        "frac_reward_zero_std": zero["frac_reward_zero_std"],
        "completions/mean_length": float(lengths.mean()),
        "completions/min_length": float(lengths.min()),
        "completions/max_length": float(lengths.max()),
        "completions/clipped_ratio": float(sum(not t.stopped for t in trajs) / len(trajs)),
        "completions/policy_tokens": float(lengths.sum()),
        "completions/mean_turns": float(sum(len(t.rewards) for t in trajs) / len(trajs)),
        "num_completions": len(trajs),
    }
