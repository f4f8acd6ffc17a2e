"""Multi-task CGPO trainer (reference section 6.6, Algorithm 2), a lean standalone loop.

Tasks ``l = 1..L`` each have an rlenvs environment, a constraint judge (a Mixture of Judges,
or the environment's own verdict), an optimizer ``O_l ∈ {crpg, crraft, codpo}``, ``K_l``
generations per prompt, ``KL_max,l`` and a fixed weight ``ρ_l``. One step:

    for each task l:  roll out B_l prompts × K_l,  score (reward, pass, calibrated reward),
                      loss_l = O_l(...)   (formulas in :mod:`agents.cgpo`),
                      backward(ρ_l · loss_l)          (gradients accumulate across tasks)
    one optimizer update  w ← w − α·∇ Σ_l ρ_l·loss_l

Scoring a generation ``a`` of prompt ``s``:

* with ``judge`` (e.g. :class:`judges.moj.MixtureOfJudges`): ``passed`` = its verdict's
  ``passed``; ``r`` = its raw reward component; ``R_calib`` = its calibrated component when the
  task has a baseline response, else ``σ(scale · (r − baseline_reward))``;
* without: ``passed`` = the environment's verdict; ``r`` = the episode reward; ``R_calib`` as
  above with the task's constant ``baseline_reward`` standing in for ``r(s, ā)``.

``KL(s, a)`` is the sequence k1 of the policy (at rollout weights, no grad) against the frozen
reference (a copy of the starting policy). Single-turn environments are assumed for the judge
(it scores the last assistant message). The CRRAFT fallback to the baseline response is not
trained here (prompts with no eligible sample are skipped).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from agents.batch import Sample, collate
from agents.cgpo import (
    codpo_loss,
    codpo_select,
    crpg_loss,
    crpg_rewards,
    crraft_loss,
    crraft_select,
    sequence_kl,
)
from agents.chat_tokens import ChatTokenizer
from agents.generation import SamplingConfig, TorchSampler
from agents.policy import CausalLMPolicy
from agents.rollout import RolloutCollector, Trajectory

__all__ = ["CGPOTask", "CGPOConfig", "CGPOTrainer", "OPTIMIZERS"]

OPTIMIZERS = ("crpg", "crraft", "codpo")


@dataclass
class CGPOTask:
    """One CGPO task (``D_l`` with its judges, optimizer and hyperparameters)."""

    env: str
    optimizer: str = "crraft"
    judge: Callable[[str, Mapping[str, Any]], Any] | None = None
    num_generations: int = 4
    kl_threshold: float = 5.0
    weight: float = 1.0
    prompts_per_step: int = 2
    baseline_reward: float = 0.0
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.num_generations < 1 or self.prompts_per_step < 1 or self.kl_threshold <= 0:
            raise ValueError("num_generations, prompts_per_step and kl_threshold must be > 0")
        self.name = self.name or f"{self.env}:{self.optimizer}"


@dataclass
class CGPOConfig:
    """Shared settings (TRL PR #2190 defaults: β = 0.1, λ = 5, temperature 0.9)."""

    learning_rate: float = 1e-6
    max_completion_length: int = 64
    temperature: float = 0.9
    beta: float = 0.1
    lamb: float = 5.0
    calibration_scale: float = 1.0
    crpg_normalize: str = "sequences"
    max_grad_norm: float | None = 1.0
    seed: int = 0
    generation_dtype: str = "bfloat16"


class CGPOTrainer:
    """Multi-task CGPO on a :class:`agents.policy.CausalLMPolicy`; call :meth:`step`."""

    def __init__(self, policy: CausalLMPolicy, tasks: Sequence[CGPOTask],
                 config: CGPOConfig | None = None) -> None:
        import rlenvs

        if not tasks:
            raise ValueError("CGPOTrainer needs at least one task")
        self.config = cfg = config or CGPOConfig()
        torch.manual_seed(cfg.seed)
        self.policy = policy
        self.tasks = list(tasks)
        self.envs = [rlenvs.make(t.env, **t.env_kwargs) for t in self.tasks]
        self.ref = CausalLMPolicy(copy.deepcopy(policy.model).eval().requires_grad_(False),
                                  policy.tokenizer, name="reference")
        self.pad_id = int(policy.tokenizer.pad_token_id)
        self.backend = TorchSampler(policy.model, stop_token_ids=policy.stop_token_ids,
                                    pad_token_id=self.pad_id,
                                    dtype=getattr(torch, cfg.generation_dtype))
        self.collector = RolloutCollector(
            self.backend, ChatTokenizer(policy.tokenizer),
            SamplingConfig(cfg.max_completion_length, cfg.temperature))
        params = [p for p in policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate)
        self.steps = 0
        self.next_seed = [0] * len(self.tasks)

    # ----------------------------------------------------------------- scoring
    def score(self, task: CGPOTask, traj: Trajectory) -> tuple[float, bool, float]:
        """``(r, passed, R_calib)`` of one generation (see the module docstring)."""
        scale = self.config.calibration_scale
        if task.judge is None:
            r, passed = traj.total_reward, traj.passed
            return r, passed, _sigmoid(scale * (r - task.baseline_reward))
        text = next((m.get("content", "") for m in reversed(traj.messages)
                     if m.get("role") == "assistant"), "")
        verdict = task.judge(str(text), traj.task or {})
        comps = verdict.details.get("components", {})
        name = getattr(task.judge, "name", "reward")
        r = float(comps.get(name, verdict.score))
        cal = comps.get(f"{name}_calibrated")
        if cal is None:
            cal = _sigmoid(scale * (r - task.baseline_reward))
        return r, bool(verdict.passed), float(cal)

    # ----------------------------------------------------------------- one update
    def step(self) -> dict[str, float]:
        """One multi-task CGPO update; returns metrics prefixed by each task's name."""
        self.policy.train()
        self.optimizer.zero_grad(set_to_none=True)
        metrics: dict[str, float] = {}
        for idx, (task, env) in enumerate(zip(self.tasks, self.envs, strict=True)):
            seeds = [self.next_seed[idx] + i for i in range(task.prompts_per_step)]
            self.next_seed[idx] += task.prompts_per_step
            trajs = self.collector.collect(env, seeds, task.num_generations,
                                           seed=self.config.seed * 7919 + self.steps)
            loss, stats = self._task_loss(task, trajs)
            (task.weight * loss).backward()
            metrics.update({f"{task.name}/{k}": v for k, v in stats.items()})
        params = [p for p in self.policy.parameters() if p.requires_grad]
        if self.config.max_grad_norm is not None:
            metrics["grad_norm"] = float(
                torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm))
        self.optimizer.step()
        self.backend.sync_weights(self.policy.model)
        self.steps += 1
        return metrics

    def _task_loss(self, task: CGPOTask, trajs: list[Trajectory]
                   ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        p, k = task.prompts_per_step, task.num_generations
        scored = [self.score(task, t) for t in trajs]
        r = torch.tensor([s[0] for s in scored], dtype=torch.float64).view(p, k)
        passed = torch.tensor([s[1] for s in scored]).view(p, k)
        cal = torch.tensor([s[2] for s in scored], dtype=torch.float64).view(p, k)
        samples = [Sample(list(t.prompt_ids), list(t.completion_ids),
                          torch.tensor(t.policy_mask, dtype=torch.float32)) for t in trajs]
        mb = collate(samples, self.pad_id)
        out = self.policy(mb.input_ids, mb.attention_mask, mb.position_ids,
                          mb.completion_width, temperature=cfg.temperature)
        with torch.no_grad():
            ref = self.ref(mb.input_ids, mb.attention_mask, mb.position_ids,
                           mb.completion_width, temperature=cfg.temperature).logprobs
        logp, mask = out.logprobs, mb.mask
        kl = sequence_kl(logp, ref, mask).double().view(p, k)
        seq = (logp * mask).sum(-1).view(p, k)
        ref_seq = (ref * mask).sum(-1).view(p, k)
        stats = {"reward": float(r.mean()), "violation_rate": float(1 - passed.double().mean()),
                 "kl": float(kl.mean()), "calibrated_reward": float(cal.mean())}
        rows = torch.arange(p)
        if task.optimizer == "crpg":
            rt = crpg_rewards(cal.flatten(), passed.flatten(), kl.flatten(), task.kl_threshold)
            loss, _ = crpg_loss(logp, mask, rt, normalize=cfg.crpg_normalize)
            stats["gated_reward"] = float(rt.mean())
        elif task.optimizer == "crraft":
            sel = crraft_select(r, cal, passed, kl, task.kl_threshold)
            chosen = seq[rows, sel.index.clamp(min=0)]
            loss = crraft_loss(chosen, sel.weight, sel.keep)
            stats["kept"] = float(sel.keep.double().mean())
        else:
            sel = codpo_select(r, passed)
            lengths = mask.sum(-1).view(p, k)[rows, sel.positive]
            loss, extra = codpo_loss(seq[rows, sel.positive], ref_seq[rows, sel.positive],
                                     seq[rows, sel.negative], ref_seq[rows, sel.negative],
                                     lengths, sel.keep, beta=cfg.beta, lamb=cfg.lamb)
            stats["kept"] = float(extra["kept"])
        stats["loss"] = float(loss.detach())
        return loss, stats


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
