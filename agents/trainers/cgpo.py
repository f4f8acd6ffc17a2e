"""Multi-task CGPO (arXiv 2409.20370, Algorithm 2) on the base trainer's round.

Tasks ``l = 1..L`` each have an rlenvs environment, a constraint judge (a Mixture of Judges,
or the environment's own verdict), an optimizer ``O_l ∈ {crpg, crraft, codpo}``, ``K_l``
generations per prompt, ``KL_max,l`` and a fixed weight ``ρ_l``. One round of
:class:`~agents.trainers.base.RLTrainer` (which owns checkpoints, exact resume, metrics,
evaluation and the weight sync) is one CGPO update:

    for each task l:  roll out B_l prompts × K_l,  score (reward, pass, calibrated reward),
                      KL(s, a) at the rollout weights, select the rows O_l trains on
    one optimizer step on  Σ_l ρ_l · loss_l     (one micro-batch per task; formulas in
                                                 :mod:`agents.algorithms.cgpo`)

Scoring a generation ``a`` of prompt ``s``:

* with ``judge`` (e.g. :class:`judges.moj.MixtureOfJudges`): ``passed`` = its verdict's
  ``passed``; ``r`` = its raw reward component; ``R_calib`` = its calibrated component when the
  task has a baseline response, else ``σ(scale · (r − baseline_reward))``;
* without: ``passed`` = the environment's verdict; ``r`` = the episode reward; ``R_calib`` as
  above with the task's constant ``baseline_reward`` standing in for ``r(s, ā)``.

A judge with ``score_batch`` (the LLM judges, :class:`judges.remote.RayJudgePool`) scores a
task's whole batch in one call. ``KL(s, a)`` is the sequence k1 of the policy at rollout
weights against the frozen reference (the starting policy; a LoRA policy with its adapters
off), both from gradient-free forwards. Single-turn environments are assumed for the judge (it
scores the last assistant message).

**Baseline responses ā.** A task may name a baseline per prompt (``CGPOTask.baseline``): a key of
the task data (the env's reference solution, a JSONL field) or a callable ``task -> str``. Each
prompt's ``ā`` is judged like a sample -- by the task's judge (a Mixture of Judges also receives
``ā`` under its ``baseline_key``, so its calibrated reward is ``σ(scale·(r(a) − r(ā)))``), or
else by stepping the environment with ``ā`` (``r(ā)`` then replaces ``baseline_reward`` in
``R_calib``). For CRRAFT, a prompt none of whose samples passes every constraint with
``KL ≤ KL_max`` falls back to ``ā`` when ``ā`` passes and ``KL(s, ā) = log π_w(ā|s) −
log π_ref(ā|s) ≤ KL_max``, and trains SFT on it with weight ``σ(0) = 0.5`` (the paper's CRRAFT
fallback, as in TRL PR #2190); otherwise the prompt is skipped.

A generation its judge could not judge (``details["unscored"]``: a judge backend timeout, an
unparseable judgement) is a fault, not a violation: no optimizer trains on it (CRPG drops its
row, CRRAFT and CODPO never choose it), and the task's ``reward``, ``pass_rate`` and
``violation_rate`` are over the judged generations, with ``unscored_rate`` beside them.

The rows a task trains on: every sample (CRPG, with its gated reward ``R̃_cr``), each kept
prompt's chosen response or ``ā`` (CRRAFT, with its weight), each kept prompt's ``(a⁺, a⁻)``
pair (CODPO, with their reference log-probs). Metrics per task are prefixed by the task's name
(``math/violation_rate``); ``reward``, ``pass_rate`` and ``kl`` are over all tasks' samples.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from agents.algorithms.cgpo import (
    codpo_loss,
    codpo_select,
    crpg_loss,
    crpg_rewards,
    crraft_loss,
    crraft_select,
    sequence_logprob,
)
from agents.algorithms.cgpo.crpg import CRPG_NORMALIZE
from agents.policy import PolicyOutput
from agents.rollout.batch import MicroBatch, Sample
from agents.rollout.chain import RolloutCollector, Trajectory
from agents.run.metrics import merge_step_stats
from agents.trainers.base import RLTrainer
from agents.trainers.cgpo_tasks import (
    OPTIMIZERS,
    Baseline,
    BaselineSource,
    CGPOTask,
    TaskScoring,
    task_identity,
)
from agents.trainers.config import TrainConfig, _choice, _refuse_rollout

__all__ = ["CGPOTask", "CGPOConfig", "CGPOTrainer", "OPTIMIZERS", "Baseline", "BaselineSource",
           "task_identity", "resolve_tasks", "tasks_env_id"]


@dataclass
class CGPOConfig(TrainConfig):
    """Settings shared by the tasks (TRL PR #2190 defaults: β = 0.1, λ = 5, temperature 0.9,
    k = 4, 64 new tokens), plus every :class:`~agents.trainers.config.TrainConfig` setting
    (output, steps, checkpoints, evaluation, logging, learning-rate schedule, sampling).

    ``num_generations`` is ``K`` for tasks that do not set their own;
    ``per_device_train_batch_size`` and ``max_micro_batch_tokens`` size the gradient-free
    scoring passes (a task's training rows form one micro-batch: CODPO pairs and CRPG's batch
    baseline live within it). One optimizer step per round, so gradient accumulation,
    ``steps_per_generation`` and ``num_iterations`` stay 1.
    """

    max_completion_length: int = 64
    temperature: float = 0.9
    seed: int = 0
    num_generations: int = 4
    beta: float = 0.1  # CODPO's DPO β
    lamb: float = 5.0  # CODPO's NLL weight λ
    calibration_scale: float = 1.0  # R_calib = σ(scale · (r − r(ā))) without a judge's own
    crpg_normalize: str = "sequences"  # CRPG divisor: "sequences" (paper) or "tokens" (TRL PR)

    def __post_init__(self) -> None:
        super().__post_init__()
        _choice(self, "crpg_normalize", CRPG_NORMALIZE)
        if self.beta < 0 or self.lamb < 0:
            raise ValueError("beta and lamb must be >= 0")

    def _check_batch_geometry(self) -> None:
        for name in ("gradient_accumulation_steps", "steps_per_generation", "num_iterations"):
            if getattr(self, name) != 1:
                raise ValueError(f"{name} must be 1: CGPO takes one optimizer step per round "
                                 f"(Algorithm 2: the tasks' gradients summed); more prompts per "
                                 f"step is a task's prompts_per_step")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CGPOConfig:
        """Our names only (CGPO has no TRL/verl config to translate); ``tasks`` is not a
        setting (see :func:`agents.run.cgpo_config.cgpo_from_dict`)."""
        values = dict(values)
        _refuse_rollout(values, cls.__name__)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            hint = (" (tasks go to CGPOTrainer(policy, tasks, config), or through "
                    "agents.run.cgpo_config.cgpo_from_dict)" if "tasks" in unknown else "")
            raise ValueError(f"{cls.__name__} has no setting {unknown[0]!r}{hint}; known: "
                             f"{sorted(known)}")
        return cls(**values)


def resolve_tasks(tasks: Any, config: CGPOConfig) -> list[CGPOTask]:
    """The trainer's copies of ``tasks``, checked, each with its ``K`` (a task without one
    takes ``config.num_generations``)."""
    tasks = list(tasks) if isinstance(tasks, (list, tuple)) else tasks
    if not isinstance(tasks, list) or not tasks:
        raise ValueError("CGPOTrainer needs at least one task (a list of CGPOTask)")
    for task in tasks:
        if not isinstance(task, CGPOTask):
            raise TypeError(f"CGPO tasks must be CGPOTask, got {type(task).__name__}")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must differ (they prefix the metrics): {names}")
    return [dataclasses.replace(t, num_generations=t.num_generations or config.num_generations)
            for t in tasks]


def tasks_env_id(tasks: Sequence[CGPOTask]) -> str:
    """The run's ``env_id``: the tasks' environment ids, ``+``-joined."""
    return "+".join(dict.fromkeys(t.env for t in tasks))


class CGPOTrainer(TaskScoring, RLTrainer):
    """Multi-task CGPO on a :class:`agents.policy.CausalLMPolicy` (or ``"smollm2"``).

    >>> trainer = CGPOTrainer("smollm2", [CGPOTask("rlenvs/Arithmetic-v0", "crpg",
    ...                                            env_kwargs={"level": 1})],
    ...                       CGPOConfig(max_steps=20, output_dir="runs/cgpo"))
    >>> summary = trainer.train()      # metrics.jsonl, checkpoints, evaluations, resume
    >>> metrics = trainer.step()       # or one update by hand: per-task metrics + grad_norm
    """

    config_class = CGPOConfig
    algorithm = "cgpo"
    config: CGPOConfig
    needs_entropy = False

    def __init__(self, policy: Any, tasks: Sequence[CGPOTask], config: Any = None,
                 backend: Any = None) -> None:
        """``backend``: the generation engine (default :class:`judges.llm.sampler.TorchSampler`;
        on GPU e.g. :class:`judges.llm.vllm_backend.VLLMSampler`); its ``sync_weights`` is called
        after every update. The policy may live on any device; batches follow it."""
        super().__init__(policy, tasks, config, backend=backend)
        self.setup_reference()
        self.next_seed = [self.config.train_seed] * len(self.tasks)  # next task seed per task

    def _setup_env(self, env: Any, env_kwargs: dict[str, Any] | None,
                   eval_env_kwargs: dict[str, Any] | None) -> None:
        import rlenvs

        if env_kwargs or eval_env_kwargs:
            raise ValueError("CGPO tasks carry their own env_kwargs (CGPOTask.env_kwargs)")
        self.tasks = resolve_tasks(env, self.config)
        self.envs = [rlenvs.make(t.env, **t.env_kwargs) for t in self.tasks]
        self.env = self.envs[0]
        self.env_id = tasks_env_id(self.tasks)
        self.env_kwargs = {}
        self.eval_env_kwargs = {}

    # ----------------------------------------------------------------- the base's hooks
    @property
    def ref(self) -> Any:
        """The frozen reference policy (``None`` for LoRA: the adapters switched off)."""
        return self.ref_policy

    @property
    def steps(self) -> int:
        """Updates taken so far."""
        return self.state.global_step

    @property
    def reward_schedule(self) -> Any:
        return None  # one per task: task_schedules()

    def task_schedules(self) -> list[Any]:
        """Each task environment's reward schedule (``None`` where it has none)."""
        return [getattr(env.unwrapped, "reward_schedule", None) for env in self.envs]

    def advance_reward_schedule(self, rollout_stats: dict[str, Any]) -> dict[str, Any]:
        """Each task's schedule advances on its own constraint pass rate."""
        stages: dict[str, Any] = {}
        for task, schedule in zip(self.tasks, self.task_schedules(), strict=True):
            if schedule is None:
                continue
            stage = getattr(schedule, "stage", None)
            if stage is not None:
                stages[f"{task.name}/stage"] = stage
            schedule.advance(step=self.state.global_step,
                             success_rate=rollout_stats.get(f"{task.name}/pass_rate"))
        return stages

    def algorithm_state(self) -> dict[str, Any]:
        return {"next_seed": list(self.next_seed),
                "schedules": [s.state_dict() if s is not None else None
                              for s in self.task_schedules()]}

    def load_algorithm_state(self, state: dict[str, Any]) -> None:
        self.next_seed = list(state["next_seed"])
        for schedule, saved in zip(self.task_schedules(), state["schedules"], strict=True):
            if schedule is not None and saved is not None:
                schedule.load_state_dict(saved)

    def _identity_env_kwargs(self) -> dict[str, Any]:
        return {"tasks": [task_identity(t) for t in self.tasks]}

    def plan(self, samples: list[Sample]) -> list[list[int]]:
        return [list(range(len(samples)))]  # one update on every task's rows

    def micro_batches(self, samples: list[Sample]) -> list[list[int]]:
        """One micro-batch per task (its rows in order: CODPO's pairs stay adjacent)."""
        groups: dict[int, list[int]] = {}
        for i, s in enumerate(samples):
            groups.setdefault(int(s.scalars["task"]), []).append(i)
        return list(groups.values())

    def step_record(self, step_stats: list[dict[str, float]]) -> dict[str, float]:
        record = merge_step_stats(step_stats)
        for stats in step_stats:  # one step a round: the tasks' losses as they are
            record.update({k: v for k, v in stats.items() if "/" in k})
        return record

    def step(self) -> dict[str, float]:
        """One multi-task CGPO update outside :meth:`train`; returns the metrics prefixed by
        each task's name, and ``grad_norm``."""
        record = super().step()
        prefixes = tuple(f"{t.name}/" for t in self.tasks)
        return {k: v for k, v in record.items() if k.startswith(prefixes) or k == "grad_norm"}

    # ----------------------------------------------------------------- one round
    def make_samples(self) -> tuple[list[Sample], dict[str, Any]]:
        """Roll out every task, score it and choose the rows its optimizer trains on."""
        cfg = self.config
        sampling_seed = (cfg.seed * 7919 + self.state.rounds) % (2**62)
        rows: list[Sample] = []
        stats: dict[str, Any] = {"tasks": [t.name for t in self.tasks]}
        rewards, passes, kls, tokens = [], [], [], 0
        for idx, (task, env) in enumerate(zip(self.tasks, self.envs, strict=True)):
            seeds = [self.next_seed[idx] + i for i in range(task.prompts_per_step)]
            self.next_seed[idx] += task.prompts_per_step
            # data parallel: each rank rolls out its share of the prompts, all get every group
            trajs = self.collect_groups(env, seeds, int(task.num_generations or 1),
                                        seed=sampling_seed, retry=False)
            task_rows, task_stats, (r, passed, kl) = self._task_rows(idx, task, env, trajs)
            rows += task_rows
            stats.update({f"{task.name}/{k}": v for k, v in task_stats.items()})
            rewards.append(r.flatten())
            passes.append(passed.flatten().double())
            kls.append(kl.flatten())
            tokens += sum(sum(t.policy_mask) for t in trajs)
        stats.update({"reward": _mean(torch.cat(rewards)),
                      "reward_std": float(torch.cat(rewards).std()) if
                      sum(len(r) for r in rewards) > 1 else 0.0,
                      "pass_rate": _mean(torch.cat(passes)),
                      "kl": float(torch.cat(kls).mean()),
                      "num_completions": sum(len(k) for k in kls),
                      "completions/policy_tokens": float(tokens)})
        return rows, stats

    def _task_rows(self, idx: int, task: CGPOTask, env: Any, trajs: list[Trajectory],
                   ) -> tuple[list[Sample], dict[str, float], tuple[torch.Tensor, ...]]:
        """One task's training rows and metrics, and its ``(r, passed, KL)`` as ``(P, K)``."""
        p, k = task.prompts_per_step, int(task.num_generations or 1)
        firsts = [trajs[g * k] for g in range(p)]
        baselines = [self.judge_baseline(task, env, t.seed, t.task) for t in firsts]
        scored = self.score_all(task, trajs, [baselines[i // k] for i in range(len(trajs))])
        r = torch.tensor([s.reward for s in scored], dtype=torch.float64).view(p, k)
        passed = torch.tensor([s.passed for s in scored]).view(p, k)
        cal = torch.tensor([s.calibrated for s in scored], dtype=torch.float64).view(p, k)
        ok = ~torch.tensor([s.unscored for s in scored]).view(p, k)  # faults train nothing
        samples = [Sample(list(t.prompt_ids), list(t.completion_ids),
                          torch.tensor(t.policy_mask, dtype=torch.float32)) for t in trajs]
        seq, ref_seq = self._sequence_logprobs(samples)
        kl = (seq - ref_seq).view(p, k)  # sequence k1 at the rollout weights
        stats: dict[str, float] = {
            "reward": _mean(r[ok]), "violation_rate": 1.0 - _mean(passed[ok], 1.0),
            "pass_rate": _mean(passed[ok]), "kl": float(kl.mean()),
            "calibrated_reward": _mean(cal[ok]), "unscored_rate": 1.0 - _mean(ok),
            "loss": 0.0}
        if any(b is not None for b in baselines):
            judged = [b for b in baselines if b is not None]
            stats["baseline_pass_rate"] = sum(b.passed for b in judged) / len(judged)
        if task.optimizer == "crpg":
            gated = crpg_rewards(cal.flatten(), passed.flatten(), kl.flatten(), task.kl_threshold)
            for s, value in zip(samples, gated.tolist(), strict=True):
                s.scalars.update(task=float(idx), gated_reward=value)
            stats["gated_reward"] = _mean(gated[ok.flatten()])
            rows = [s for s, scored_ok in zip(samples, ok.flatten().tolist(), strict=True)
                    if scored_ok]
        elif task.optimizer == "crraft":
            rows = self._crraft_rows(idx, task, samples, baselines, r, cal, passed, kl, stats)
        else:
            sel = codpo_select(r, passed, scored=ok)
            rows = []
            for g in torch.nonzero(sel.keep).flatten().tolist():
                pos, neg = g * k + int(sel.positive[g]), g * k + int(sel.negative[g])
                length = float(samples[pos].mask.sum())
                for i in (pos, neg):  # a⁺ then a⁻ (the same response when K = 1)
                    rows.append(dataclasses.replace(samples[i], scalars={
                        "task": float(idx), "ref_logprob": float(ref_seq[i]),
                        "positive_length": length}))
            stats["kept"] = float(sel.keep.double().mean())
        return rows, stats, (r[ok], passed[ok], kl)

    def _crraft_rows(self, idx: int, task: CGPOTask, samples: list[Sample],
                     baselines: list[Baseline | None], r: torch.Tensor, cal: torch.Tensor,
                     passed: torch.Tensor, kl: torch.Tensor,
                     stats: dict[str, float]) -> list[Sample]:
        """CRRAFT's choice per prompt, with the baseline fallback: ``ā``'s KL is computed only
        for prompts with no eligible sample whose ``ā`` passed its constraints."""
        p, k = r.shape
        eligible = (passed.bool() & (kl <= task.kl_threshold)).any(-1)
        need = [g for g in range(p) if not eligible[g] and baselines[g] is not None
                and baselines[g].passed]
        base_passed = torch.tensor([b is not None and b.passed for b in baselines])
        base_kl = torch.full((p,), math.inf, dtype=torch.float64)
        base_rows: dict[int, Sample] = {}
        if need:
            base_rows = {g: self._baseline_sample(samples[g * k].prompt_ids, baselines[g].text)
                         for g in need}
            seq_b, ref_b = self._sequence_logprobs([base_rows[g] for g in need])
            base_kl[torch.tensor(need)] = seq_b - ref_b
        sel = crraft_select(r, cal, passed, kl, task.kl_threshold,
                            baseline_passed=base_passed, baseline_kl=base_kl)
        rows = []
        for g in torch.nonzero(sel.keep).flatten().tolist():
            row = base_rows[g] if sel.use_baseline[g] else samples[g * k + int(sel.index[g])]
            row.scalars.update(task=float(idx), weight=float(sel.weight[g]))
            rows.append(row)
        stats["kept"] = float(sel.keep.double().mean())
        stats["baseline_used"] = float(sel.use_baseline.double().mean())
        return rows

    def compute_loss(self, out: PolicyOutput, mb: MicroBatch) -> tuple[torch.Tensor,
                                                                        dict[str, float]]:
        """``ρ_l · loss_l`` of one task's rows (the micro-batch), by its optimizer."""
        task = self.tasks[int(mb.scalars["task"][0])]
        if task.optimizer == "crpg":
            loss, _ = crpg_loss(out.logprobs, mb.mask, mb.scalars["gated_reward"],
                                normalize=self.config.crpg_normalize)
        elif task.optimizer == "crraft":
            chosen = sequence_logprob(out.logprobs, mb.mask)
            loss = crraft_loss(chosen, mb.scalars["weight"],
                               torch.ones_like(chosen, dtype=torch.bool))
        else:
            seq = sequence_logprob(out.logprobs, mb.mask)
            ref = mb.scalars["ref_logprob"]
            loss, _ = codpo_loss(seq[0::2], ref[0::2], seq[1::2], ref[1::2],
                                 mb.scalars["positive_length"][0::2],
                                 beta=self.config.beta, lamb=self.config.lamb)
        return task.weight * loss, {f"{task.name}/loss": float(loss.detach())}

    def _sequence_logprobs(self, samples: list[Sample]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log π_w(a|s), log π_ref(a|s))`` per sample, float64, without gradients."""
        policy = self.forward_no_grad(samples)
        ref = self.forward_no_grad(samples, reference=True)

        def total(outs: list[PolicyOutput]) -> torch.Tensor:
            return torch.stack([(o.logprobs * s.mask).sum() for o, s in
                                zip(outs, samples, strict=True)]).double()
        return total(policy), total(ref)

    def _baseline_sample(self, prompt_ids: Sequence[int], text: str) -> Sample:
        """``ā`` as the policy would emit it: its text, then the end-of-turn stop token."""
        completion = self.chat.encode_content(text) + [self.policy.stop_token_ids[0]]
        return Sample(list(prompt_ids), completion,
                      torch.ones(len(completion), dtype=torch.float32))

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, episodes: int | None = None, seed: int | None = None) -> dict[str, Any]:
        """Greedy replies to held-out prompts of every task (task seeds ``eval_seed`` onwards),
        scored by the task's judges like training samples: ``eval/<task>/pass@1`` (every
        constraint passes), ``eval/<task>/violation_rate``, ``eval/<task>/reward``; and over
        the tasks ``eval/pass@1`` and ``eval/mean_reward`` (their means)."""
        cfg = self.config
        episodes = episodes or cfg.eval_episodes or 50
        seed = cfg.eval_seed if seed is None else seed
        started = time.perf_counter()
        greedy = RolloutCollector(self.backend, self.chat, dataclasses.replace(
            self.sampling, temperature=0.0,
            max_new_tokens=cfg.eval_max_new_tokens or cfg.max_completion_length),
            cfg.max_episode_tokens)
        out: dict[str, Any] = {}
        for task, env in zip(self.tasks, self.envs, strict=True):
            trajs = greedy.collect(env, [seed + i for i in range(episodes)], 1, seed=seed)
            baselines = [self.judge_baseline(task, env, t.seed, t.task) for t in trajs]
            judged = [s for s in self.score_all(task, trajs, baselines) if not s.unscored]
            passed = sum(s.passed for s in judged) / max(1, len(judged))
            out[f"eval/{task.name}/pass@1"] = passed
            out[f"eval/{task.name}/violation_rate"] = 1.0 - passed if judged else 0.0
            out[f"eval/{task.name}/reward"] = sum(s.reward for s in judged) / max(1, len(judged))
            out[f"eval/{task.name}/unscored_rate"] = 1.0 - len(judged) / len(trajs)
        names = [t.name for t in self.tasks]
        out.update({
            "eval/pass@1": sum(out[f"eval/{n}/pass@1"] for n in names) / len(names),
            "eval/mean_reward": sum(out[f"eval/{n}/reward"] for n in names) / len(names),
            "eval/episodes": episodes, "eval/seed": seed,
            "eval/seconds": time.perf_counter() - started})
        return out


def _mean(values: torch.Tensor, empty: float = 0.0) -> float:
    """Mean of ``values`` as a float (``empty`` when there are none: every sample a fault)."""
    return float(values.double().mean()) if values.numel() else empty
