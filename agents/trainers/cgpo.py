"""Multi-task CGPO trainer (arXiv 2409.20370, Algorithm 2), a lean standalone loop.

Tasks ``l = 1..L`` each have an rlenvs environment, a constraint judge (a Mixture of Judges,
or the environment's own verdict), an optimizer ``O_l ∈ {crpg, crraft, codpo}``, ``K_l``
generations per prompt, ``KL_max,l`` and a fixed weight ``ρ_l``. One step:

    for each task l:  roll out B_l prompts × K_l,  score (reward, pass, calibrated reward),
                      loss_l = O_l(...)   (formulas in :mod:`agents.algorithms.cgpo`),
                      backward(ρ_l · loss_l)          (gradients accumulate across tasks)
    one optimizer update  w ← w − α·∇ Σ_l ρ_l·loss_l

Scoring a generation ``a`` of prompt ``s``:

* with ``judge`` (e.g. :class:`judges.moj.MixtureOfJudges`): ``passed`` = its verdict's
  ``passed``; ``r`` = its raw reward component; ``R_calib`` = its calibrated component when the
  task has a baseline response, else ``σ(scale · (r − baseline_reward))``;
* without: ``passed`` = the environment's verdict; ``r`` = the episode reward; ``R_calib`` as
  above with the task's constant ``baseline_reward`` standing in for ``r(s, ā)``.

A judge with ``score_batch`` (the LLM judges, :class:`judges.remote.RayJudgePool`) scores a
task's whole batch in one call. ``KL(s, a)`` is the sequence k1 of the policy (at rollout
weights, no grad) against the frozen reference (a copy of the starting policy). Single-turn
environments are assumed for the judge (it scores the last assistant message).

**Baseline responses ā.** A task may name a baseline per prompt (``CGPOTask.baseline``): a key of
the task data (the env's reference solution, a JSONL field) or a callable ``task -> str``. Each
prompt's ``ā`` is judged like a sample -- by the task's judge (a Mixture of Judges also receives
``ā`` under its ``baseline_key``, so its calibrated reward is ``σ(scale·(r(a) − r(ā)))``), or
else by stepping the environment with ``ā`` (``r(ā)`` then replaces ``baseline_reward`` in
``R_calib``). For CRRAFT, a prompt none of whose samples passes every constraint with
``KL ≤ KL_max`` falls back to ``ā`` when ``ā`` passes and ``KL(s, ā) = log π_w(ā|s) −
log π_ref(ā|s) ≤ KL_max``, and trains SFT on it with weight ``σ(0) = 0.5`` (the paper's CRRAFT fallback, as in TRL PR #2190);
otherwise the prompt is skipped.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from agents.algorithms.cgpo import (
    codpo_loss,
    codpo_select,
    crpg_loss,
    crpg_rewards,
    crraft_loss,
    crraft_select,
    sequence_kl,
)
from agents.policy import CausalLMPolicy
from agents.rollout.batch import Sample, collate
from agents.rollout.chain import RolloutCollector, Trajectory
from agents.rollout.chat_tokens import ChatTokenizer
from judges.llm.sampler import SamplingConfig, TorchSampler

__all__ = ["CGPOTask", "CGPOConfig", "CGPOTrainer", "OPTIMIZERS", "Baseline", "BaselineSource"]

OPTIMIZERS = ("crpg", "crraft", "codpo")

BaselineSource = str | Callable[[Mapping[str, Any]], "str | None"]
"""Where a prompt's baseline response ``ā`` comes from: a task-data key or ``task -> str``."""


@dataclass
class CGPOTask:
    """One CGPO task (``D_l`` with its judges, optimizer and hyperparameters).

    ``baseline``: the prompt's baseline response ``ā`` -- a key of the task data (e.g.
    ``"solution"``) or a callable ``task -> str | None`` (``None``/missing: no baseline for that
    prompt). ``baseline_reward``: ``r(s, ā)`` used for calibration when there is no ``ā``.
    """

    env: str
    optimizer: str = "crraft"
    judge: Callable[[str, Mapping[str, Any]], Any] | None = None
    num_generations: int = 4
    kl_threshold: float = 5.0
    weight: float = 1.0
    prompts_per_step: int = 2
    baseline_reward: float = 0.0
    baseline: BaselineSource | None = None
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
    generation_dtype: str = "auto"  # or "bfloat16"/"float32" (see agents.trainers.config.TrainConfig)


class CGPOTrainer:
    """Multi-task CGPO on a :class:`agents.policy.CausalLMPolicy`; call :meth:`step`."""

    def __init__(self, policy: CausalLMPolicy, tasks: Sequence[CGPOTask],
                 config: CGPOConfig | None = None, backend: Any = None) -> None:
        """``backend``: the generation engine (default :class:`judges.llm.sampler.TorchSampler`;
        on GPU e.g. :class:`judges.llm.vllm_backend.VLLMSampler`); its ``sync_weights`` is called
        after every update. The policy may live on any device; batches follow it."""
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
        self.device = next(policy.parameters()).device
        self.backend = backend or TorchSampler(policy.model, stop_token_ids=policy.stop_token_ids,
                                               pad_token_id=self.pad_id,
                                               dtype=cfg.generation_dtype)
        self.chat = ChatTokenizer(policy.tokenizer)
        self.collector = RolloutCollector(
            self.backend, self.chat,
            SamplingConfig(cfg.max_completion_length, cfg.temperature))
        params = [p for p in policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate)
        self.steps = 0
        self.next_seed = [0] * len(self.tasks)

    # ----------------------------------------------------------------- scoring
    def score(self, task: CGPOTask, traj: Trajectory,
              baseline: Baseline | None = None) -> tuple[float, bool, float]:
        """``(r, passed, R_calib)`` of one generation (see the module docstring); ``baseline``
        is the prompt's judged ``ā`` when the task has one."""
        return self._judge(task, _last_reply(traj), traj.task or {}, baseline,
                           env_result=(traj.total_reward, traj.passed))

    def score_all(self, task: CGPOTask, trajs: Sequence[Trajectory],
                  baselines: Sequence[Baseline | None]) -> list[tuple[float, bool, float]]:
        """:meth:`score` of every generation (``baselines``: one per generation). A judge with
        ``score_batch`` (LLM judges, :class:`judges.remote.RayJudgePool`) gets one call."""
        if task.judge is None or not hasattr(task.judge, "score_batch"):
            return [self.score(task, t, b) for t, b in zip(trajs, baselines, strict=True)]
        verdicts = task.judge.score_batch(
            [_last_reply(t) for t in trajs],
            [self._judge_task(task, t.task or {}, b) for t, b in zip(trajs, baselines,
                                                                     strict=True)])
        return [self._from_verdict(task, v, b) for v, b in zip(verdicts, baselines, strict=True)]

    def _judge(self, task: CGPOTask, text: str, info: Mapping[str, Any],
               baseline: Baseline | None, env_result: tuple[float, bool] | None = None,
               ) -> tuple[float, bool, float]:
        if task.judge is None:
            if env_result is None:
                raise ValueError("without a judge the environment's result is needed")
            r, passed = env_result
            base_r = baseline.reward if baseline is not None else task.baseline_reward
            return r, passed, _sigmoid(self.config.calibration_scale * (r - base_r))
        verdict = task.judge(text, self._judge_task(task, info, baseline))
        return self._from_verdict(task, verdict, baseline)

    def _from_verdict(self, task: CGPOTask, verdict: Any,
                      baseline: Baseline | None) -> tuple[float, bool, float]:
        """``(r, passed, R_calib)`` from a judge's verdict: ``r`` is the judge's raw reward
        component (``details["components"][judge.name]``, else the score); ``R_calib`` its
        calibrated component, else ``σ(scale · (r − r(ā)))``."""
        base_r = baseline.reward if baseline is not None else task.baseline_reward
        comps = verdict.details.get("components", {})
        name = getattr(task.judge, "name", "reward")
        r = float(comps.get(name, verdict.score))
        cal = comps.get(f"{name}_calibrated")
        if cal is None:
            cal = _sigmoid(self.config.calibration_scale * (r - base_r))
        return r, bool(verdict.passed), float(cal)

    @staticmethod
    def _judge_task(task: CGPOTask, info: Mapping[str, Any],
                    baseline: Baseline | None) -> Mapping[str, Any]:
        """The task data the judge sees: with ``ā`` under the judge's ``baseline_key`` (a
        Mixture of Judges then calibrates against it) unless the data already has that key."""
        key = getattr(task.judge, "baseline_key", None)
        if baseline is None or not isinstance(key, str) or key in info:
            return info
        return {**info, key: baseline.text}

    # ----------------------------------------------------------------- baselines
    def baseline_text(self, task: CGPOTask, info: Mapping[str, Any] | None) -> str | None:
        """The baseline response ``ā`` of one prompt, or ``None``."""
        if task.baseline is None or info is None:
            return None
        if callable(task.baseline):
            text = task.baseline(info)
        else:
            text = info.get(task.baseline)
        return None if text is None else str(text)

    def judge_baseline(self, task: CGPOTask, env: Any, seed: int | None,
                       info: Mapping[str, Any] | None) -> Baseline | None:
        """Judge one prompt's ``ā``: with the task's judge, or by replying ``ā`` to a fresh
        reset of the environment (first turn's reward and verdict)."""
        text = self.baseline_text(task, info)
        if text is None:
            return None
        if task.judge is not None:
            # r(ā) itself: judged without calibration data, so the reward component is raw
            r, passed, _ = self._judge(task, text, info or {}, None)
        else:
            env.reset(seed=seed)
            _, reward, _, _, step_info = env.step(text)
            verdict = step_info.get("verdict")
            r, passed = float(reward), bool(getattr(verdict, "passed", False))
        return Baseline(text=text, reward=r, passed=passed)

    def _baseline_logprobs(self, prompt_ids: Sequence[Sequence[int]], texts: Sequence[str],
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log π_w(ā|s), log π_ref(ā|s))`` per baseline, the first with gradient. ``ā`` is
        tokenized as the policy would emit it: its text, then the end-of-turn stop token."""
        stop = self.policy.stop_token_ids[0]
        samples = []
        for ids, text in zip(prompt_ids, texts, strict=True):
            completion = self.chat.encode(text) + [stop]
            samples.append(Sample(list(ids), completion,
                                  torch.ones(len(completion), dtype=torch.float32)))
        mb = collate(samples, self.pad_id).to(self.device)
        t = self.config.temperature
        logp = self.policy(mb.input_ids, mb.attention_mask, mb.position_ids,
                           mb.completion_width, temperature=t).logprobs
        with torch.no_grad():
            ref = self.ref(mb.input_ids, mb.attention_mask, mb.position_ids,
                           mb.completion_width, temperature=t).logprobs
        return (logp * mb.mask).sum(-1), (ref * mb.mask).sum(-1)

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
            loss, stats = self._task_loss(task, trajs, env)
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

    def _task_loss(self, task: CGPOTask, trajs: list[Trajectory], env: Any = None,
                   ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        p, k = task.prompts_per_step, task.num_generations
        firsts = [trajs[g * k] for g in range(p)]
        baselines = [self.judge_baseline(task, env, t.seed, t.task) for t in firsts]
        scored = self.score_all(task, trajs, [baselines[i // k] for i in range(len(trajs))])
        dev = self.device
        r = torch.tensor([s[0] for s in scored], dtype=torch.float64, device=dev).view(p, k)
        passed = torch.tensor([s[1] for s in scored], device=dev).view(p, k)
        cal = torch.tensor([s[2] for s in scored], dtype=torch.float64, device=dev).view(p, k)
        samples = [Sample(list(t.prompt_ids), list(t.completion_ids),
                          torch.tensor(t.policy_mask, dtype=torch.float32)) for t in trajs]
        mb = collate(samples, self.pad_id).to(self.device)
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
        if any(b is not None for b in baselines):
            judged = [b for b in baselines if b is not None]
            stats["baseline_pass_rate"] = sum(b.passed for b in judged) / len(judged)
        rows = torch.arange(p, device=dev)
        if task.optimizer == "crpg":
            rt = crpg_rewards(cal.flatten(), passed.flatten(), kl.flatten(), task.kl_threshold)
            loss, _ = crpg_loss(logp, mask, rt, normalize=cfg.crpg_normalize)
            stats["gated_reward"] = float(rt.mean())
        elif task.optimizer == "crraft":
            loss = self._crraft(task, trajs, baselines, r, cal, passed, kl, seq, stats)
        else:
            sel = codpo_select(r, passed)
            lengths = mask.sum(-1).view(p, k)[rows, sel.positive]
            loss, extra = codpo_loss(seq[rows, sel.positive], ref_seq[rows, sel.positive],
                                     seq[rows, sel.negative], ref_seq[rows, sel.negative],
                                     lengths, sel.keep, beta=cfg.beta, lamb=cfg.lamb)
            stats["kept"] = float(extra["kept"])
        stats["loss"] = float(loss.detach())
        return loss, stats

    def _crraft(self, task: CGPOTask, trajs: list[Trajectory],
                baselines: list[Baseline | None], r: torch.Tensor, cal: torch.Tensor,
                passed: torch.Tensor, kl: torch.Tensor, seq: torch.Tensor,
                stats: dict[str, float]) -> torch.Tensor:
        """CRRAFT with the baseline fallback: ``ā``'s log-probs (policy with gradient, and
        reference for its KL) are computed only for prompts with no eligible sample whose
        ``ā`` passed its constraints."""
        p, k = seq.shape
        eligible = (passed.bool() & (kl <= task.kl_threshold)).any(-1)
        need = [g for g in range(p) if not eligible[g] and baselines[g] is not None
                and baselines[g].passed]
        dev = seq.device
        base_passed = torch.tensor([b is not None and b.passed for b in baselines], device=dev)
        base_kl = torch.full((p,), math.inf, dtype=torch.float64, device=dev)
        base_seq = torch.zeros(p, dtype=seq.dtype, device=dev)
        if need:
            logp_b, ref_b = self._baseline_logprobs([trajs[g * k].prompt_ids for g in need],
                                                    [baselines[g].text for g in need])
            idx = torch.tensor(need, device=dev)
            base_kl[idx] = (logp_b - ref_b).detach().double()
            base_seq = base_seq.index_put((idx,), logp_b)
        sel = crraft_select(r, cal, passed, kl, task.kl_threshold,
                            baseline_passed=base_passed, baseline_kl=base_kl)
        sampled = seq[torch.arange(p, device=dev), sel.index.clamp(min=0)]
        chosen = torch.where(sel.use_baseline, base_seq, sampled)
        stats["kept"] = float(sel.keep.double().mean())
        stats["baseline_used"] = float(sel.use_baseline.double().mean())
        return crraft_loss(chosen, sel.weight, sel.keep)


@dataclass
class Baseline:
    """A prompt's judged baseline response ``ā``: its text, ``r(s, ā)`` and constraint pass."""

    text: str
    reward: float
    passed: bool


def _last_reply(traj: Trajectory) -> str:
    return str(next((m.get("content", "") for m in reversed(traj.messages)
                     if m.get("role") == "assistant"), ""))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
