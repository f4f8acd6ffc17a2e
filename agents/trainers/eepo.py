"""``EEPOTrainer``: GRPO with EEPO's two-stage, sample-then-forget rollouts (arXiv 2510.05837;
formulas in :mod:`agents.algorithms.eepo`).

Each collect: ``G1`` rollouts per prompt from the current weights; one unlearning step on
their complementary loss (only when their mean token entropy is below ``entropy_threshold``,
if one is set); the other ``G - G1`` rollouts per prompt from the unlearned weights; then the
weights (and the sampler's copy) are restored exactly, and GRPO trains on all ``G`` rows of
each prompt as one group. Metrics: ``eepo/forgot`` (1 when the step was taken),
``eepo/stage1_entropy`` (the trigger's input), ``eepo/complementary_loss``, and per stage the
mean negative log-probability of the sampled tokens under the weights that sampled them
(``eepo/stage{1,2}_nll``, a Monte-Carlo estimate of the sampling entropy) and the fraction of
distinct replies within a prompt's stage (``eepo/stage{1,2}_distinct``).

The stage-2 rows were drawn from ``theta'`` but are trained as ``theta``'s (as in the paper,
whose objective is GRPO's unchanged): with ``num_iterations = 1`` the ratio is 1 at the step,
recomputed old log-probs come from the restored ``theta``, and the engine-mismatch correction
(``vllm_importance_sampling_correction``) does not reweight or mask them: their
``sampler_logprobs`` are NaN after the round (``theta'``'s are not ``theta``'s engine's; the
stage metrics above are taken before).

    rlenvs train --env rlenvs/Arithmetic-v0 --algo eepo --num-generations 8 \\
        --set unlearning_rate=1e-5 --set entropy_threshold=0.3
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.algorithms.eepo import (
    UNLEARNING_UPDATES,
    complementary_loss,
    forget_update,
    should_forget,
)
from agents.rollout.batch import collate, length_sorted_chunks
from agents.rollout.branched import rollout_metrics
from agents.rollout.chain import Trajectory
from agents.trainers.config import GRPOConfig
from agents.trainers.grpo import GRPOTrainer, trajectory_sample

__all__ = ["EEPOConfig", "EEPOTrainer"]


@dataclass
class EEPOConfig(GRPOConfig):
    """GRPO settings plus EEPO's.

    ``unlearning_rate``: step size of the forgetting update (``None``: ``learning_rate``);
    ``unlearning_update``: ``"adam"`` (first step of a fresh Adam) or ``"sgd"`` (clipped to
    ``max_grad_norm``); ``entropy_threshold``: forget only when the first stage's mean token
    entropy is below it (``None``: every round); ``first_stage_size``: ``G1`` (``None``:
    ``num_generations // 2``). The paper's values for the rate and the threshold are not
    reproduced here; the defaults are ours.
    """

    unlearning_rate: float | None = None
    unlearning_update: str = "adam"
    entropy_threshold: float | None = None
    first_stage_size: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if getattr(self.rollout, "kind", self.rollout) != "chain":
            raise ValueError("EEPO's two sampling stages are chain rollouts; use rollout='chain'")
        if self.num_generations < 2:
            raise ValueError("EEPO needs num_generations >= 2 (one rollout per stage at least)")
        g1 = self.first_stage_size
        if g1 is not None and (not isinstance(g1, int) or not 1 <= g1 < self.num_generations):
            raise ValueError(f"first_stage_size must be an integer in [1, num_generations - 1] "
                             f"= [1, {self.num_generations - 1}], got {g1!r}")
        if self.unlearning_rate is not None and \
                (isinstance(self.unlearning_rate, bool) or
                 not isinstance(self.unlearning_rate, (int, float)) or self.unlearning_rate < 0):
            raise ValueError(f"unlearning_rate must be a number >= 0 or None, got "
                             f"{self.unlearning_rate!r}")
        if self.unlearning_update not in UNLEARNING_UPDATES:
            raise ValueError(f"unlearning_update must be one of {list(UNLEARNING_UPDATES)}, got "
                             f"{self.unlearning_update!r}")
        if self.entropy_threshold is not None and \
                (isinstance(self.entropy_threshold, bool) or
                 not isinstance(self.entropy_threshold, (int, float))):
            raise ValueError(f"entropy_threshold must be a number or None, got "
                             f"{self.entropy_threshold!r}")

    @property
    def stage_sizes(self) -> tuple[int, int]:
        """``(G1, G2)``: rollouts per prompt before and after the forgetting step."""
        g1 = self.first_stage_size or self.num_generations // 2
        return g1, self.num_generations - g1


class EEPOTrainer(GRPOTrainer):
    """GRPO whose groups are sampled in two stages with temporary unlearning between them."""

    config_class = EEPOConfig
    algorithm = "eepo"
    config: EEPOConfig
    supports_branched_rollouts = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._eepo_stats: list[dict[str, float]] = []

    def make_samples(self) -> tuple[list[Any], dict[str, Any]]:
        self._eepo_stats = []
        samples, stats = super().make_samples()
        for key in self._eepo_stats[0] if self._eepo_stats else ():
            stats[key] = float(np.mean([s[key] for s in self._eepo_stats]))
        return samples, stats

    def collect(self, num_prompts: int) -> list[Trajectory]:
        """``num_prompts`` new prompts, ``G1`` rows each from ``theta`` then ``G2`` from the
        temporarily unlearned ``theta'``, grouped per prompt (stage 1 rows first)."""
        cfg = self.config
        g1, g2 = cfg.stage_sizes
        seeds = [cfg.train_seed + self.state.next_prompt + k for k in range(num_prompts)]
        first_seed = (cfg.seed * 7919 + self.state.next_prompt) % (2**62)
        second_seed = int(np.random.SeedSequence(
            [cfg.seed, self.state.next_prompt, 0xEE90]).generate_state(1)[0])
        group0 = self.state.next_group
        first = self.collector.collect(self.env, seeds, g1, seed=first_seed, first_group=group0)
        snapshot, stats = self.forget(first)
        try:
            second = self.collector.collect(self.env, seeds, g2, seed=second_seed,
                                            first_group=group0)
        finally:
            if snapshot is not None:
                self.restore(snapshot)
        stats.update(_stage_stats("stage1", first))
        stats.update(_stage_stats("stage2", second))
        if snapshot is not None:
            # drawn from theta' on purpose: these are not theta's engine log-probs, so the
            # sampler correction (vllm_importance_sampling_correction) leaves the rows alone
            # (NaN = "the engine gave none": weight 1), as the paper trains them unweighted
            for t in second:
                t.sampler_logprobs = [math.nan] * len(t.sampler_logprobs)
        trajs = []
        for k in range(num_prompts):
            trajs.extend(first[k * g1 : (k + 1) * g1])
            trajs.extend(second[k * g2 : (k + 1) * g2])
        self.state.next_prompt += num_prompts
        self.state.next_group += num_prompts
        self._rollout_metrics.append(rollout_metrics(trajs))
        self._eepo_stats.append(stats)
        return self.settle(trajs)  # faults counted and left out (stage-2 rows: not retried)

    def forget(self, trajs: list[Trajectory]
               ) -> tuple[dict[str, torch.Tensor] | None, dict[str, float]]:
        """One unlearning step on ``trajs`` (the first stage) if the trigger fires: the
        trainable weights become ``theta'`` and the sampler gets them. Returns the snapshot of
        ``theta`` to restore (``None`` when nothing changed) and the ``eepo/*`` metrics."""
        cfg = self.config
        samples = [trajectory_sample(t) for t in trajs]
        total = float(sum(float(s.mask.sum()) for s in samples))
        params = [(n, p) for n, p in self.policy.named_parameters() if p.requires_grad]
        if total == 0:
            return None, {"eepo/forgot": 0.0, "eepo/stage1_entropy": 0.0,
                          "eepo/complementary_loss": 0.0}
        for _, p in params:
            p.grad = None
        self.policy.train()
        loss_sum = entropy_sum = 0.0
        for chunk in length_sorted_chunks(samples, cfg.per_device_train_batch_size,
                                          cfg.max_micro_batch_tokens):
            mb = collate([samples[i] for i in chunk], self.pad_token_id, chunk).to(self.device)
            with self._autocast():
                out = self.policy(mb.input_ids, mb.attention_mask, mb.position_ids,
                                  mb.completion_width, temperature=self._temperature,
                                  with_entropy=True, entropy_grad=False)
            tokens = float(mb.mask.sum())
            loss = complementary_loss(out.logprobs.float(), mb.mask) * (tokens / total)
            loss.backward()
            loss_sum += float(loss.detach())
            assert out.entropy is not None
            entropy_sum += float((out.entropy.detach().float() * mb.mask).sum())
        entropy = entropy_sum / total
        rate = cfg.learning_rate if cfg.unlearning_rate is None else float(cfg.unlearning_rate)
        snapshot = None
        if should_forget(entropy, cfg.entropy_threshold) and rate > 0:
            if cfg.unlearning_update == "sgd" and cfg.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_([p for _, p in params], cfg.max_grad_norm)
            snapshot = {n: p.detach().clone() for n, p in params}
            with torch.no_grad():
                for _, p in params:
                    if p.grad is not None:
                        p.copy_(forget_update(p, p.grad, rate, cfg.unlearning_update))
            self.backend.sync_weights(self.policy.model)
        for _, p in params:
            p.grad = None
        return snapshot, {"eepo/forgot": float(snapshot is not None),
                          "eepo/stage1_entropy": entropy,
                          "eepo/complementary_loss": loss_sum}

    def restore(self, snapshot: dict[str, torch.Tensor]) -> None:
        """Put ``theta`` back (bit for bit) and give it to the sampler again."""
        with torch.no_grad():
            for name, p in self.policy.named_parameters():
                if name in snapshot:
                    p.copy_(snapshot[name])
        self.backend.sync_weights(self.policy.model)


def _stage_stats(name: str, trajs: list[Trajectory]) -> dict[str, float]:
    """Mean -log p of the sampled policy tokens (under the weights that sampled them) and the
    fraction of distinct replies per prompt."""
    logps = [lp for t in trajs for lp, m in zip(t.sampler_logprobs, t.policy_mask, strict=True)
             if m]
    groups: dict[int, list[tuple[int, ...]]] = {}
    for t in trajs:
        groups.setdefault(t.group, []).append(tuple(t.completion_ids))
    distinct = [len(set(rows)) / len(rows) for rows in groups.values()]
    return {f"eepo/{name}_nll": -float(np.mean(logps)) if logps else 0.0,
            f"eepo/{name}_distinct": float(np.mean(distinct)) if distinct else 0.0}
