"""The training loop every algorithm shares.

One *round*: collect rollouts with the current weights (:meth:`RLTrainer.make_samples`, the
algorithm's part), then run the optimizer steps that use them (:meth:`RLTrainer.plan` says which
samples each step sees and :meth:`RLTrainer.compute_loss` gives the loss). After the round the
sampler gets the new weights, the environment's reward schedule is advanced
(``advance(step=..., success_rate=...)``), and metrics, evaluations and checkpoints are written.
Checkpoints are taken at round boundaries, so resuming reproduces an uninterrupted run exactly.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the same round runs data-parallel
(:mod:`agents.run.distributed`): rollouts sharded by prompt group and gathered, the optimizer
step's micro-batches split over the ranks with their gradients summed, rank 0 writing.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.policy import CausalLMPolicy, PolicyChat, PolicyOutput
from agents.prefix import PrefixState, encode_prefixes, shares_prompts
from agents.rollout.batch import MicroBatch, Sample, collate, length_sorted_chunks
from agents.rollout.branched import merge_rollout_metrics, rollout_metrics
from agents.rollout.chain import RolloutCollector, Trajectory
from agents.rollout.chat_tokens import ChatTokenizer
from agents.rollout.deadline import Deadline
from agents.run.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    prepare_output_dir,
    rng_state,
    run_identity,
    save_checkpoint,
    set_rng_state,
)
from agents.run.metrics import (
    FaultTally,
    MetricsLogger,
    UnscoredRewardsError,
    dtype_label,
    merge_logged_rounds,
    merge_step_stats,
    truncate_metrics,
)
from agents.trainers.config import TrainConfig
from judges.llm.sampler import GenerationBackend, SamplingConfig, TorchSampler

__all__ = ["RLTrainer", "TrainerState", "UnscoredRewardsError"]

log = logging.getLogger(__name__)


@dataclass
class TrainerState:
    """Everything about progress that a checkpoint must restore."""

    global_step: int = 0
    rounds: int = 0
    next_prompt: int = 0
    next_group: int = 0
    last_save_step: int = 0
    last_eval_step: int = -1
    # wall-clock seconds of train() so far, over every resume (``max_time_s`` budget, and the
    # progress of a time-budgeted linear/cosine learning-rate schedule)
    elapsed_s: float = 0.0
    evals: list[dict[str, Any]] = field(default_factory=list)
    # train records of the rounds since the last metrics line (``logging_steps`` > 1)
    pending_logs: list[dict[str, Any]] = field(default_factory=list)
    # ``reward/unscored_frac`` of the last rounds (the ``max_unscored_frac`` guard's window)
    unscored_fracs: list[float] = field(default_factory=list)


class RLTrainer:
    """Base trainer (see the module docstring); subclasses implement the algorithm.

    Args:
        policy: a :class:`~agents.policy.CausalLMPolicy`, or ``"smollm2"`` for the embedded model.
        env: an environment id (``"rlenvs/Arithmetic-v0"``) or an environment made with
            ``rlenvs.make`` (its id and kwargs are reused for evaluation).
        config: the algorithm's config object or a dict (TRL or verl names).
        env_kwargs: keyword arguments for ``rlenvs.make`` (level, reward schedule, ...).
        eval_env_kwargs: kwargs of the evaluation env (default: ``env_kwargs``).
        backend: generation engine (default: :class:`~judges.llm.sampler.TorchSampler`).
    """

    config_class: type[TrainConfig] = TrainConfig
    algorithm = "base"

    def __init__(
        self,
        policy: CausalLMPolicy | str,
        env: Any,
        config: TrainConfig | dict[str, Any] | None = None,
        *,
        env_kwargs: dict[str, Any] | None = None,
        eval_env_kwargs: dict[str, Any] | None = None,
        backend: GenerationBackend | None = None,
    ) -> None:
        if config is None:
            config = self.config_class()
        elif isinstance(config, dict):
            config = self.config_class.from_dict(config)
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, "
                            f"got {type(config).__name__}")
        self.config = config
        if config.torch_num_threads:
            torch.set_num_threads(config.torch_num_threads)
        _seed_everything(config.seed)
        self.policy = self._make_policy(policy)
        from agents.run.distributed import data_parallel_from_env

        # torchrun: the process group and this rank's share (None in one process)
        self.dp = data_parallel_from_env(next(self.policy.parameters()).device)
        if self.dp is not None:
            self.dp.broadcast_parameters([p for p in self.policy.parameters()
                                          if p.requires_grad])
        self._setup_env(env, env_kwargs, eval_env_kwargs)
        self.output_dir = Path(config.output_dir)
        self.state = TrainerState()
        self.chat = ChatTokenizer(self.policy.tokenizer)
        self.pad_token_id = int(self.policy.tokenizer.pad_token_id)
        self.device = next(self.policy.parameters()).device
        self.bf16 = train_bf16(config.bf16, self.device)  # resolved "auto"
        if backend is None and config.use_vllm:  # vllm_mode: colocate | server
            from agents.generation import vllm_backend

            backend = vllm_backend(self.policy, config)
        self._own_sampler = backend is None
        self.sampling = SamplingConfig(config.max_completion_length, config.temperature,
                                       config.top_p, config.top_k)
        self._use_backend(backend or self._make_sampler(config.generation_dtype))
        self._rollout_metrics: list[dict[str, float]] = []  # one per collect() of the round
        self._faults = FaultTally()  # the round's unscored episodes (reward/unscored*)
        self._round_deadline: Deadline | None = None
        self._warned_zero_std = False
        params = [p for p in self.policy.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the policy has no trainable parameters")
        self.optimizer = torch.optim.AdamW(
            params, lr=config.learning_rate, betas=(config.adam_beta1, config.adam_beta2),
            eps=config.adam_epsilon, weight_decay=config.weight_decay,
        )
        self._clock: tuple[float, float] | None = None  # (perf_counter, elapsed_s) at train()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.ref_policy: CausalLMPolicy | None = None
        self.logger: MetricsLogger | None = None
        # async_rollouts (GRPO family): episodes from a producer process (agents.run.async_rollouts)
        self._async: Any = None
        if getattr(config, "async_rollouts", False):
            from agents.run.async_rollouts import AsyncRollouts

            self._async = AsyncRollouts(self)

    def _setup_env(self, env: Any, env_kwargs: dict[str, Any] | None,
                   eval_env_kwargs: dict[str, Any] | None) -> None:
        """``self.env`` (training), ``self.env_id``, ``self.env_kwargs``, ``self.eval_env_kwargs``."""
        self.env, self.env_id, self.env_kwargs = _make_env(env, env_kwargs)
        self.eval_env_kwargs = dict(eval_env_kwargs if eval_env_kwargs is not None
                                    else self.env_kwargs)

    def _make_sampler(self, dtype: str) -> TorchSampler:
        return TorchSampler(self.policy.model, stop_token_ids=self.policy.stop_token_ids,
                            pad_token_id=self.pad_token_id, dtype=dtype,
                            prefix_cache_tokens=_prefix_cache_tokens(self.config))

    def _use_backend(self, backend: GenerationBackend) -> None:
        self.backend = backend
        self.collector = RolloutCollector(self.backend, self.chat, self.sampling,
                                          self.config.max_episode_tokens,
                                          episode_timeout_s=self.config.episode_timeout_s)
        self.branched = self._make_branched_collector()

    # ----------------------------------------------------------------- algorithm hooks
    def make_samples(self) -> tuple[list[Sample], dict[str, Any]]:
        """Roll out one round; return training samples and rollout metrics."""
        raise NotImplementedError

    def plan(self, samples: list[Sample]) -> list[list[int]]:
        """Sample indices of each optimizer step of this round (in order)."""
        size = self.config.optimizer_batch_size
        steps = [list(range(k, min(k + size, len(samples)))) for k in range(0, len(samples), size)]
        return steps * self.config.num_iterations

    def prepare_step(self, samples: list[Sample], indices: list[int]) -> None:
        """Set per-token loss weights for one optimizer step (``tokens["weights"]``)."""

    def compute_loss(self, out: PolicyOutput, mb: MicroBatch) -> tuple[torch.Tensor,
                                                                        dict[str, float]]:
        """The (already normalised) loss of a micro-batch and summable statistics."""
        raise NotImplementedError

    def micro_batches(self, samples: list[Sample]) -> list[list[int]]:
        """How one optimizer step's samples are split into forward/backward passes (indices
        into ``samples``): similar lengths together, ``per_device_train_batch_size`` rows and
        ``max_micro_batch_tokens`` padded tokens at most (the loss does not depend on it)."""
        cfg = self.config
        return length_sorted_chunks(samples, cfg.per_device_train_batch_size,
                                    cfg.max_micro_batch_tokens)

    def step_record(self, step_stats: list[dict[str, float]]) -> dict[str, float]:
        """The round's metrics from its optimizer steps' summed statistics
        (:func:`agents.run.metrics.merge_step_stats`)."""
        return merge_step_stats(step_stats)

    def advance_reward_schedule(self, rollout_stats: dict[str, Any]) -> dict[str, Any]:
        """After a round: advance the environment's reward schedule (``advance(step=...,
        success_rate=...)``); returns the record entries naming the stage the round's rewards
        were under (``{"stage": ...}``, nothing without a staged schedule)."""
        schedule = self.reward_schedule
        stage = getattr(schedule, "stage", None)
        if schedule is not None:
            schedule.advance(step=self.state.global_step,
                             success_rate=rollout_stats.get("pass_rate"))
        return {"stage": stage} if stage is not None else {}  # no "stage": null noise

    def steps_per_round(self, num_updates: int) -> int:
        """How many ``global_step``s a round with ``num_updates`` optimizer updates counts for."""
        return num_updates

    def algorithm_state(self) -> dict[str, Any]:
        return {}

    def load_algorithm_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`algorithm_state` saved."""

    needs_entropy = True
    needs_values = False
    supports_branched_rollouts = False  # trainers that take a row's given advantages
    # scored episodes a group needs to train (group-relative advantages: 2; PPO's critic: 1)
    min_scored_per_group = 1

    # ----------------------------------------------------------------- public API
    @property
    def reward_schedule(self) -> Any:
        return getattr(self.env.unwrapped, "reward_schedule", None)

    def run_identity(self) -> dict[str, Any]:
        """What makes a run this run (``run.json``): algorithm, env, model, every setting that
        changes what is learned (``agents.run.checkpoint.run_identity``)."""
        peft = getattr(self.policy.model, "peft_config", None) or {}
        lora_r = getattr(peft.get("default"), "r", None) if isinstance(peft, dict) else None
        return run_identity(self.algorithm, self.env_id, self._identity_env_kwargs(),
                            str(getattr(self.policy, "name", "") or "unnamed"),
                            {**self.config.to_dict(), "lora_r": lora_r})

    def _identity_env_kwargs(self) -> dict[str, Any]:
        return self.env_kwargs

    def train(self) -> dict[str, Any]:
        """Run until ``max_steps``; returns a summary (last metrics, evaluations, paths)."""
        cfg = self.config
        if cfg.resume_from_checkpoint:
            self._resume_path()  # no checkpoint to resume: fail before anything is written
        writer = self.dp is None or self.dp.is_main  # data parallel: rank 0 writes
        if writer:
            prepare_output_dir(self.output_dir, self.run_identity(),
                               resume=bool(cfg.resume_from_checkpoint),
                               overwrite=cfg.overwrite_output_dir)
            self.output_dir.mkdir(parents=True, exist_ok=True)
        metrics_path = self.output_dir / "metrics.jsonl"
        resumed = self._maybe_resume(metrics_path)
        if writer and not resumed and metrics_path.exists():
            metrics_path.unlink()
        if self.dp is not None:
            self.dp.barrier()
        self.logger = MetricsLogger(metrics_path if writer else None, cfg.max_steps,
                                    self.state.global_step, cfg.progress and writer,
                                    desc=f"{self.algorithm} {self.env_id}",
                                    max_time_s=None if cfg.max_time_s is None
                                    else max(cfg.max_time_s - self.state.elapsed_s, 0.0))
        last: dict[str, Any] = {}
        self._clock = (time.perf_counter(), self.state.elapsed_s)
        try:
            if cfg.eval_episodes and self.state.last_eval_step < 0:
                self._evaluate()
            while self.state.global_step < cfg.max_steps:
                last = self._round()
                if self._due(cfg.eval_steps, self.state.last_eval_step) and cfg.eval_episodes:
                    self._evaluate()
                if self._due(cfg.save_every, self.state.last_save_step):
                    self.save()
                if cfg.max_time_s is not None and self._run_elapsed() > cfg.max_time_s:
                    break
            self._flush_logs()
            if cfg.eval_episodes and self.state.last_eval_step != self.state.global_step:
                self._evaluate()
            if cfg.save_final_checkpoint and self.state.last_save_step != self.state.global_step:
                self.save()
        finally:
            self.state.elapsed_s = self._elapsed()
            self._clock = None
            self.close_async()
            self.logger.close()
            self.logger = None
        return {
            "algorithm": self.algorithm,
            "env_id": self.env_id,
            "steps": self.state.global_step,
            "last": last,
            "evals": list(self.state.evals),
            "output_dir": str(self.output_dir),
            "metrics": str(metrics_path),
        }

    def step(self) -> dict[str, Any]:
        """One round outside :meth:`train` (no output folder, nothing written): collect,
        optimizer step(s), weight sync, reward schedule; returns the round's metrics record."""
        return self._round()

    def close_async(self) -> None:
        """Stop the rollout producer of ``async_rollouts`` (if any); the next round starts it
        again with the current weights."""
        if self._async is not None:
            self._async.close()

    def async_round_stale(self) -> bool:
        """Whether this round trains on an episode sampled by older weights (``async_rollouts``
        with ``max_staleness`` > 0): it then needs the sampler importance correction."""
        return self._async is not None and self._async.stale_in_round()

    def evaluate(self, episodes: int | None = None, seed: int | None = None) -> dict[str, Any]:
        """Greedy held-out evaluation (:func:`agents.run.evaluation.evaluate_policy`)."""
        from agents.run.evaluation import evaluate_policy

        cfg = self.config
        return evaluate_policy(
            PolicyChat(self.policy, self.backend), self.env_id, self.eval_env_kwargs,
            episodes=episodes or cfg.eval_episodes or 50,
            seed=cfg.eval_seed if seed is None else seed,
            max_new_tokens=cfg.eval_max_new_tokens or cfg.max_completion_length,
        )

    def save(self) -> Path:
        """Write a checkpoint of the current state (``checkpoint-<global_step>``)."""
        schedule = self.reward_schedule
        self.state.last_save_step = self.state.global_step
        self.state.elapsed_s = self._elapsed()  # the time spent up to this save counts on resume
        # every rank's RNG state (data parallel: gathered; rank 0 writes)
        rngs = [rng_state()] if self.dp is None else self.dp.gather(rng_state())
        payload = {
            "policy": self.policy.trainable_state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "trainer_state": asdict(self.state),
            "rng": rngs[0],
            "rng_by_rank": rngs,
            "reward_schedule": schedule.state_dict() if schedule is not None else None,
            "algorithm": self.algorithm_state(),
            "config": self.config.to_dict(),
            "generation_dtype": dtype_label(self.backend),
            "train_bf16": self.bf16,
        }
        path = self.output_dir / f"checkpoint-{self.state.global_step}"
        if self.dp is None or self.dp.is_main:
            path = save_checkpoint(self.output_dir, self.state.global_step, payload,
                                   keep=self.config.save_total_limit,
                                   meta={"algorithm": self.algorithm, "env_id": self.env_id})
        if self.dp is not None:
            self.dp.barrier()  # the checkpoint exists for every rank once save() returns
        return path

    # ----------------------------------------------------------------- the round
    def _round(self) -> dict[str, Any]:
        cfg = self.config
        started = time.perf_counter()
        self._rollout_metrics = []
        self._faults = FaultTally()
        self._round_deadline = Deadline(cfg.round_timeout_s)
        samples, rollout_stats = self.make_samples()
        self._round_deadline = None
        sleep = getattr(self.backend, "sleep", None)  # vLLM sleep mode: free it while training
        if callable(sleep):
            sleep()
        generated_at = time.perf_counter()
        steps = self.plan(samples) if samples else []
        # a round left with nothing to train (every episode unscored, or no group with 2 scored
        # ones) takes no optimizer step but counts one, so max_steps still ends the run
        counted = self.steps_per_round(len(steps)) if steps else 1
        stats_all: list[dict[str, float]] = []
        for indices in steps:
            self.prepare_step(samples, indices)
            stats_all.append(self._optimizer_step([samples[i] for i in indices]))
            if counted == len(steps):
                self.state.global_step += 1
                if self.state.global_step >= cfg.max_steps:
                    break
        if counted != len(steps) or not steps:
            self.state.global_step += counted
        self.backend.sync_weights(self.policy.model)
        self.state.rounds += 1
        ended = time.perf_counter()
        stage = self.advance_reward_schedule(rollout_stats)
        record = dict(rollout_stats)
        if self._async is not None:  # the producer gets the new weights every weight_sync_steps
            self._async.after_round()
            record.update(self._async.round_metrics())
        record.update(merge_rollout_metrics(self._rollout_metrics))
        record.update(self.step_record(stats_all) if stats_all else {})
        record.update(self._faults.metrics())
        if not steps:
            record["train/skipped_round"] = 1.0
        self._warn_zero_std(record)
        policy_tokens = rollout_stats.get("completions/policy_tokens", 0)
        record.update({
            "kind": "train",
            "step": self.state.global_step,
            "round": self.state.rounds,
            "learning_rate": self.scheduler.get_last_lr()[0],
            **stage,
            "time/generation": generated_at - started,
            "time/train": ended - generated_at,
            "time/step": (ended - started) / max(counted, 1),
            "tokens_per_second/generation": policy_tokens / max(generated_at - started, 1e-9),
            "tokens_per_second/total": policy_tokens / max(ended - started, 1e-9),
            "generation/dtype": dtype_label(self.backend),
            "train/dtype": "bfloat16" if self.bf16 else "float32",
            "cpu/capability": torch.backends.cpu.get_cpu_capability(),
        })
        self._log_round(record, counted)
        self._check_unscored(record)
        return record

    def _warn_zero_std(self, record: dict[str, Any]) -> None:
        """TRL's warning: every group of the round has the same reward for all its members, so
        no group-relative advantage is non-zero (logged once per run; the round's record gets
        ``warnings/all_groups_zero_std`` = 1)."""
        if record.get("frac_reward_zero_std") != 1.0:
            return
        record["warnings/all_groups_zero_std"] = 1.0
        if not self._warned_zero_std:
            self._warned_zero_std = True
            log.warning("all groups of round %d have zero reward std (frac_reward_zero_std = 1.0):"
                        " no sample has a non-zero advantage, the round learns nothing from its "
                        "rewards (tasks too easy or too hard, or too few generations per prompt)",
                        self.state.rounds)

    def _check_unscored(self, record: dict[str, Any]) -> None:
        """Stop a run that trains on noise: ``max_unscored_frac`` exceeded in each of the last
        ``unscored_window`` rounds raises :class:`UnscoredRewardsError` naming the causes (the
        metrics so far are written first)."""
        cfg = self.config
        frac = record.get("reward/unscored_frac")
        if frac is None:
            return
        window = self.state.unscored_fracs = (self.state.unscored_fracs + [float(frac)])[
            -cfg.unscored_window:]
        if cfg.max_unscored_frac is None or len(window) < cfg.unscored_window or \
                not all(f > cfg.max_unscored_frac for f in window):
            return
        self._flush_logs()
        causes = {k.removeprefix("reward/unscored/"): v for k, v in record.items()
                  if k.startswith("reward/unscored/")}
        named = ", ".join(f"{c}: {int(n)}" for c, n in sorted(causes.items(), key=lambda x: -x[1]))
        raise UnscoredRewardsError(
            f"the unscored reward fraction was above max_unscored_frac={cfg.max_unscored_frac} in "
            f"each of the last {cfg.unscored_window} rounds ({', '.join(f'{f:.2f}' for f in window)}"
            f"); last round's causes: {named or 'unknown'}. Training on what is left would be "
            "training on noise: fix the judge / sandbox / env (or raise round_timeout_s / "
            "episode_timeout_s for 'deadline') and resume", causes)

    def _log_round(self, record: dict[str, Any], counted: int) -> None:
        """Every ``logging_steps`` optimizer steps one ``metrics.jsonl`` line: the mean of the
        rounds since the last line (TRL's averaging; step, round, learning rate and stage are the
        last round's). Unwritten rounds are part of the checkpoint, so a resumed run writes the
        same lines as an uninterrupted one."""
        if self.logger is None:  # step() outside train()
            return
        self.logger.progress(record, advance=counted)
        self.state.pending_logs.append(record)
        every, step = self.config.logging_steps, self.state.global_step
        if step // every > (step - counted) // every or step >= self.config.max_steps:
            self._flush_logs()

    def _flush_logs(self) -> None:
        if self.state.pending_logs and self.logger is not None:
            self.logger.log(merge_logged_rounds(self.state.pending_logs))
            self.state.pending_logs = []

    def _optimizer_step(self, samples: list[Sample]) -> dict[str, float]:
        cfg = self.config
        self.policy.train()
        sums: dict[str, float] = {}
        chunks = self.micro_batches(samples)
        if self.dp is not None:  # this rank's micro-batches; the losses carry the full step's
            chunks = self.dp.my_micro_batches(chunks, samples)  # normalisation
        prefix = self._shared_prefix(samples, chunks, grad=True)
        for chunk in chunks:
            mb = collate([samples[i] for i in chunk], self.pad_token_id, chunk).to(self.device)
            with self._autocast():
                out = self.policy(mb.input_ids, mb.attention_mask, mb.position_ids,
                                  mb.completion_width, temperature=self._temperature,
                                  with_entropy=self.needs_entropy,
                                  entropy_grad=getattr(cfg, "entropy_coef", 0.0) != 0.0,
                                  with_values=self.needs_values,
                                  prefix=None if prefix is None else
                                  prefix.rows(chunk, self.device))
            loss, stats = self.compute_loss(out, mb)
            loss.backward()
            stats["loss"] = float(loss.detach())
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        if prefix is not None:  # the prompts' share of the gradient, once
            prefix.backward()
        params = [p for p in self.policy.parameters() if p.requires_grad]
        if self.dp is not None:  # summed over ranks: the gradient of one process on the step
            self.dp.all_reduce_gradients(params)
            sums = self.dp.sum_stats(sums)
        if cfg.max_grad_norm is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        else:
            norms = [p.grad.norm() for p in params if p.grad is not None]
            grad_norm = torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        sums["grad_norm"] = float(grad_norm)
        return sums

    def _shared_prefix(self, samples: list[Sample], chunks: list[list[int]],
                       grad: bool) -> PrefixState | None:
        """The step's distinct prompts encoded once (:mod:`agents.prefix`), or ``None`` where
        sharing is off, a value head reads the prompt's last position, or no prompt repeats."""
        if not getattr(self.config, "share_prompt_prefix", False) or self.needs_values:
            return None
        indices = [i for chunk in chunks for i in chunk]
        # the prompts' activations stay for the step: at most one physical micro-batch's worth
        if not indices or not shares_prompts(samples, indices,
                                             self.config.max_micro_batch_tokens):
            return None
        with self._autocast():
            return encode_prefixes(self.policy.model, samples, indices, self.pad_token_id,
                                   self.device, grad=grad)

    # ----------------------------------------------------------------- helpers for subclasses
    @property
    def _temperature(self) -> float:
        return self.config.temperature if self.config.temperature > 0 else 1.0

    def _autocast(self) -> Any:
        if self.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return torch.autocast(self.device.type, enabled=False)

    def forward_no_grad(self, samples: Sequence[Sample], reference: bool = False,
                        with_values: bool = False) -> list[PolicyOutput]:
        """Per-sample old or reference log-probs (and values), without gradients."""
        from agents.logprobs import score_samples

        def score(part: Sequence[Sample]) -> list[PolicyOutput]:
            return score_samples(
                self.policy, part, pad_token_id=self.pad_token_id,
                batch_size=self.config.per_device_train_batch_size,
                max_tokens=self.config.max_micro_batch_tokens, temperature=self._temperature,
                reference=self.ref_policy, use_reference=reference, with_values=with_values,
                autocast=self._autocast(),
                share_prefix=bool(getattr(self.config, "share_prompt_prefix", False)),
            )
        if self.dp is not None:  # sample i scored by rank i mod N, then gathered
            return self.dp.map_samples(score, samples)
        return score(samples)

    def setup_reference(self) -> None:
        """Frozen reference policy: the adapters switched off (LoRA) or a copy of the start."""
        from agents.logprobs import frozen_reference

        if self.ref_policy is None:
            self.ref_policy = frozen_reference(self.policy)

    def collect(self, num_prompts: int) -> list[Trajectory]:
        """Roll out ``num_prompts`` new training prompts (``config.rows_per_prompt`` rows each).

        Chain rollouts (``rollout.kind="chain"``, or a config without a rollout): ``num_generations``
        independent episodes per prompt; ``"tree"`` / ``"arpo"``:
        :class:`agents.rollout.branched.BranchedCollector` (rows carry their tree / ARPO
        advantages). ``rollout/*`` metrics of the call are added to the round's.
        """
        cfg = self.config
        seeds, sampling_seed = self._prompt_seeds(self.state.next_prompt, num_prompts)
        trajs = self.collect_groups(self.env, seeds, cfg.num_generations, seed=sampling_seed,
                                    first_group=self.state.next_group)
        self.state.next_prompt += num_prompts
        self.state.next_group += num_prompts
        if self._async is not None:  # the next calls' episodes, sampled while this round trains
            from agents.run.async_rollouts import RolloutRequest

            upcoming = []
            for k in range(self._async.prefetch):
                first = num_prompts * k
                seeds, sampling_seed = self._prompt_seeds(self.state.next_prompt + first,
                                                          num_prompts)
                upcoming.append(RolloutRequest(tuple(seeds), cfg.num_generations, sampling_seed,
                                               self.state.next_group + first))
            self._async.prefetch_after(upcoming)
        return self.settle(trajs)

    def _prompt_seeds(self, first_prompt: int, num_prompts: int) -> tuple[list[int], int]:
        """Task seeds and sampling seed of the ``num_prompts`` training prompts from prompt
        number ``first_prompt`` on (deterministic per prompt position, so a resumed run and an
        asynchronous producer sample the same episodes)."""
        cfg = self.config
        seeds = [cfg.train_seed + first_prompt + k for k in range(num_prompts)]
        return seeds, (cfg.seed * 7919 + first_prompt) % (2**62)

    def collect_groups(self, env: Any, seeds: Sequence[int], num_generations: int, *,
                       seed: int, first_group: int = 0, retry: bool = True) -> list[Trajectory]:
        """:meth:`rollout` of every prompt of ``seeds`` (group ``first_group + k`` for seed
        ``k``); its ``rollout/*`` metrics join the round's. Data parallel: each rank rolls out
        its share (:meth:`agents.run.distributed.DataParallel.collect`) and every rank gets
        all episodes, in group order."""
        if self.dp is None:
            trajs, metrics = self.rollout(env, seeds, num_generations, seed=seed,
                                          first_group=first_group, retry=retry)
            self._rollout_metrics.append(metrics)
            return trajs

        def shard(part: Sequence[int], rank_seed: int, first: int) -> tuple[Any, ...]:
            before = self._faults.retried
            trajs, metrics = self.rollout(env, part, num_generations, seed=rank_seed,
                                          first_group=first, retry=retry)
            return trajs, metrics, self._faults.retried - before

        before = self._faults.retried
        trajs, metrics, retried = self.dp.collect(shard, seeds, seed, first_group)
        self._faults.retried = before + sum(r or 0 for r in retried)
        self._rollout_metrics.extend(metrics)
        return trajs

    def rollout(self, env: Any, seeds: Sequence[int], num_generations: int, *, seed: int,
                first_group: int = 0, retry: bool = True
                ) -> tuple[list[Trajectory], dict[str, float]]:
        """This process's episodes of the prompts ``seeds`` and their ``rollout/*`` metrics:
        ``num_generations`` chain episodes each (unscored ones regenerated within the round's
        deadline when ``retry``; ``retry=False``: the collector's plain call, CGPO's, whose
        judges decide what is unscored), or the tree / ARPO collector's rows. The one place
        episodes are made: override it to feed a trainer fixed episodes. ``async_rollouts``:
        the training env's episodes come from the producer process (same request, same
        episodes for the same weights; :mod:`agents.run.async_rollouts`)."""
        if self._async is not None and env is self.env:
            from agents.run.async_rollouts import RolloutRequest

            trajs, metrics, retried = self._async.rollout(RolloutRequest(
                tuple(int(s) for s in seeds), num_generations, seed, first_group, retry))
            self._faults.retried += retried
            return trajs, metrics
        if self.branched is None:
            if not retry:
                trajs = self.collector.collect(env, seeds, num_generations, seed=seed,
                                               first_group=first_group)
                return trajs, rollout_metrics(trajs)
            trajs = self.collector.collect(env, seeds, num_generations, seed=seed,
                                           first_group=first_group,
                                           deadline=self._round_deadline)
            trajs = self.retry_unscored(trajs, seed)
            return trajs, rollout_metrics(trajs)
        trajs = self.branched.collect(env, seeds, seed=seed, first_group=first_group,
                                      deadline=self._round_deadline)
        return trajs, self.branched.last_metrics

    def retry_unscored(self, trajs: list[Trajectory], seed: int) -> list[Trajectory]:
        """``trajs`` with each unscored episode regenerated on its task (same group, same reset
        seed, another sampling seed) up to ``unscored_retries`` times while the round's budget
        lasts (chain rollouts; a tree / ARPO row shares its turns with others and is not
        retried alone)."""
        trajs = list(trajs)
        for attempt in range(1, self.config.unscored_retries + 1):
            bad = [i for i, t in enumerate(trajs) if not t.scored]
            if not bad or (self._round_deadline is not None and self._round_deadline.passed()):
                break
            fresh = self.collector.regenerate(self.env, [trajs[i] for i in bad],
                                              seed=(seed + 1_000_003 * attempt) % (2**62),
                                              deadline=self._round_deadline)
            self._faults.retried += len(bad)
            for i, t in zip(bad, fresh, strict=True):
                trajs[i] = t
        return trajs

    def settle(self, trajs: list[Trajectory]) -> list[Trajectory]:
        """Count the round's unscored episodes (``reward/unscored*``), then keep what a trainer
        may learn from: scored episodes, in groups with at least ``min_scored_per_group`` of
        them (:meth:`trainable`)."""
        self._faults.add(trajs)
        kept = self.trainable(trajs)
        self._faults.dropped_groups += len({t.group for t in trajs}) - len({t.group for t in kept})
        return kept

    def trainable(self, trajs: list[Trajectory]) -> list[Trajectory]:
        """The scored episodes of ``trajs`` whose group keeps at least ``min_scored_per_group``
        (at most its rows per prompt) scored episodes: faults never reach group statistics,
        advantages or the loss, and a group's size and normalisation follow what is left."""
        need = min(self.min_scored_per_group, self.config.rows_per_prompt)
        scored = [t for t in trajs if t.scored]
        size: dict[int, int] = {}
        for t in scored:
            size[t.group] = size.get(t.group, 0) + 1
        return [t for t in scored if size[t.group] >= need]

    def _make_branched_collector(self) -> Any:
        """``None`` for chain rollouts, else a validated tree / ARPO collector."""
        cfg = self.config
        kind = _rollout_kind(cfg)
        if kind == "chain":
            return None
        rollout = cfg.rollout
        if not self.supports_branched_rollouts:
            raise ValueError(f"rollout={kind!r} needs a trainer that trains on the rollout's own "
                             f"advantages (GRPOTrainer); {type(self).__name__} only supports "
                             f"rollout='chain'")
        if not callable(getattr(self.env.unwrapped, "clone", None)):
            raise TypeError(f"rollout={kind!r} branches episodes with env.unwrapped.clone(); "
                            f"{type(self.env.unwrapped).__name__} has no clone()")
        if kind == "arpo":
            import inspect

            if "top_logprobs" not in inspect.signature(self.backend.generate).parameters:
                raise ValueError(f"rollout='arpo' measures entropy from the sampler's top "
                                 f"log-probs; {type(self.backend).__name__}.generate() has no "
                                 f"top_logprobs (use judges.llm.sampler.TorchSampler)")
        from agents.rollout.branched import BranchedCollector

        return BranchedCollector(
            kind, self.backend, self.chat, self.sampling, self.policy.stop_token_ids[0],
            max_episode_tokens=cfg.max_episode_tokens,
            tree=cfg.tree_config() if kind == "tree" else None,
            arpo=cfg.arpo_config() if kind == "arpo" else None,
            entropy_tokens=rollout.entropy_tokens,
            entropy_top_logprobs=rollout.entropy_top_logprobs,
            entropy_temperature=cfg.temperature if cfg.temperature > 0 else 1.0,
            episode_timeout_s=cfg.episode_timeout_s)

    # ----------------------------------------------------------------- internals
    def _make_policy(self, policy: CausalLMPolicy | str) -> CausalLMPolicy:
        if isinstance(policy, CausalLMPolicy):
            if self.needs_values and policy.value_head is None:
                raise ValueError(f"{type(self).__name__} needs a policy with a value head: "
                                 "CausalLMPolicy.from_embedded(value_head=True)")
            return policy
        if policy in ("smollm2", "embedded", "default"):
            return CausalLMPolicy.from_embedded(value_head=self.needs_values)
        if isinstance(policy, str) and Path(policy).is_dir():
            return CausalLMPolicy.from_pretrained(policy, value_head=self.needs_values)
        raise ValueError(f"policy must be a CausalLMPolicy, 'smollm2' or a model folder, "
                         f"got {policy!r}")

    def _lr_factor(self, step: int) -> float:
        cfg = self.config
        warmup = cfg.warmup_steps or int(math.ceil(cfg.warmup_ratio * cfg.max_steps))
        if warmup and step < warmup:
            return (step + 1) / (warmup + 1)
        if cfg.lr_scheduler_type == "constant":
            return 1.0
        progress = (step - warmup) / max(1, cfg.max_steps - warmup)
        if cfg.max_time_s:  # a time budget: the schedule ends with whichever budget ends first
            progress = max(progress, self._run_elapsed() / cfg.max_time_s)
        progress = min(max(progress, 0.0), 1.0)
        if cfg.lr_scheduler_type == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    def _elapsed(self) -> float:
        """Seconds of :meth:`train` so far, earlier sessions of a resumed run included."""
        if self._clock is None:
            return self.state.elapsed_s
        started, before = self._clock
        return before + time.perf_counter() - started

    def _run_elapsed(self) -> float:
        """:meth:`_elapsed` for decisions every rank must take alike (a time budget's stop, a
        time-budgeted learning rate): rank 0's value under data parallelism."""
        return self._elapsed() if self.dp is None else float(self.dp.broadcast(self._elapsed()))

    def _due(self, every: int, last: int) -> bool:
        step = self.state.global_step
        if every <= 0 or step == last:
            return False
        return step // every > max(last, 0) // every or step >= self.config.max_steps

    def _evaluate(self) -> None:
        if self.logger is not None:
            self.logger.note(f"evaluating ({self.config.eval_episodes} episodes)")
        if self.dp is None:
            record = self.evaluate()
        else:  # rank 0 evaluates, the others take its record
            record = self.dp.broadcast(self.evaluate() if self.dp.is_main else None)
        record.update({"kind": "eval", "step": self.state.global_step})
        self.state.evals.append(record)
        self.state.last_eval_step = self.state.global_step
        assert self.logger is not None
        self.logger.log(record)

    def _resume_path(self) -> Path:
        """The checkpoint ``resume_from_checkpoint`` names (``True``/``"latest"``: the newest in
        ``output_dir``); ``FileNotFoundError`` "No valid checkpoint found in ..." when there is
        none (TRL raises the same instead of starting over)."""
        spec = self.config.resume_from_checkpoint
        if spec in (True, "latest"):
            path = latest_checkpoint(self.output_dir)
            if path is None:
                raise _missing_checkpoint(self.output_dir)
            return path
        path = Path(str(spec))
        if not (path / "state.pt").is_file():
            raise _missing_checkpoint(path)
        return path

    def _maybe_resume(self, metrics_path: Path) -> bool:
        if not self.config.resume_from_checkpoint:
            return False
        payload = load_checkpoint(self._resume_path())
        self.policy.load_trainable_state_dict(payload["policy"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.state = TrainerState(**payload["trainer_state"])
        schedule = self.reward_schedule
        if schedule is not None and payload.get("reward_schedule") is not None:
            schedule.load_state_dict(payload["reward_schedule"])
        self.load_algorithm_state(payload.get("algorithm") or {})
        by_rank = payload.get("rng_by_rank") or [payload["rng"]]
        rank = 0 if self.dp is None else self.dp.rank
        set_rng_state(by_rank[rank] if rank < len(by_rank) else payload["rng"])
        saved = payload.get("generation_dtype")
        if self._own_sampler and self.config.generation_dtype == "auto" and \
                saved in ("bfloat16", "float32") and saved != dtype_label(self.backend):
            # "auto" measured again in this process may pick the other dtype on a busy CPU;
            # the resumed run samples as the run it continues did
            self._use_backend(self._make_sampler(saved))
        if self.config.bf16 == "auto" and isinstance(payload.get("train_bf16"), bool):
            self.bf16 = payload["train_bf16"]  # likewise for the training passes' autocast
        self.backend.sync_weights(self.policy.model)
        if self.dp is None or self.dp.is_main:
            truncate_metrics(metrics_path, self.state.global_step,
                             keep_eval_at_step=self.state.last_eval_step == self.state.global_step)
        return True


def _missing_checkpoint(where: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"No valid checkpoint found in {where}: nothing to resume (TRL's rule: a resumed run "
        "never starts over silently over the folder's metrics); drop --resume / "
        "resume_from_checkpoint to start a new run, or point it at a checkpoint folder")


def _prefix_cache_tokens(config: TrainConfig) -> int:
    if config.prefix_cache_tokens is not None:
        return int(config.prefix_cache_tokens)
    return 16384 if _rollout_kind(config) != "chain" else 0


def _rollout_kind(config: TrainConfig) -> str:
    """``"chain"``, ``"tree"`` or ``"arpo"``: the config's rollout (configs without one: chain)."""
    rollout = getattr(config, "rollout", None)
    return "chain" if rollout is None else str(rollout.kind)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _make_env(env: Any, env_kwargs: dict[str, Any] | None) -> tuple[Any, str, dict[str, Any]]:
    import rlenvs

    if isinstance(env, str):
        kwargs = dict(env_kwargs or {})
        made = rlenvs.make(env, **kwargs)
        return made, made.spec.id if made.spec else env, kwargs
    if env_kwargs:
        raise ValueError("env_kwargs only applies when env is given as an id")
    if not hasattr(env, "unwrapped") or not hasattr(env.unwrapped, "clone"):
        raise TypeError(f"env must be an rlenvs id or environment, got {type(env).__name__}")
    spec = getattr(env, "spec", None)
    if spec is None:
        raise ValueError("pass an environment made with rlenvs.make (it needs a spec for "
                         "evaluation), or its id and env_kwargs")
    return env, spec.id, dict(spec.kwargs or {})


def train_bf16(setting: bool | str, device: torch.device) -> bool:
    """Whether the training passes autocast to bf16: ``True``/``False`` as given; ``"auto"``:
    on CUDA where the GPU supports bf16, on CPU where a LoRA-shaped forward+backward measures
    faster under bf16 autocast than in fp32 (:func:`judges.llm.cpu_dtype.fastest_training_dtype`,
    measured apart from the generation dtype, once per machine; ``RLENVS_GENERATION_DTYPE``
    forces both). On an AVX2-only CPU a SmolLM2 LoRA forward+backward of 8x110 tokens took 153 s
    under bf16 autocast and 9 s in fp32; with native bf16 (AVX-512-BF16) 5.1 s vs 7.9 s."""
    if setting != "auto":
        return bool(setting)
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        from judges.llm.cpu_dtype import fastest_training_dtype

        return fastest_training_dtype() == torch.bfloat16
    return False


