"""Asynchronous rollouts with bounded staleness (issue 32): a mode of :class:`RLTrainer`'s round.

With ``async_rollouts=True`` (GRPO family) the round's episodes come from a *producer*: a
separate process (``torch.multiprocessing``, spawn) holding its own copy of the policy, its own
:class:`~judges.llm.sampler.TorchSampler` and its own environment, which generates and judges
prompt groups while the trainer optimises. The trainer's round is unchanged -- only
:meth:`RLTrainer.rollout` asks the producer instead of sampling in-process:

* **Requests.** A request is exactly what the synchronous trainer would roll out (task seeds,
  generations per prompt, sampling seed, first group), so with the same weights the producer
  returns the same episodes. After each request the trainer queues the next ``async_prefetch``
  requests ahead (default ``max_staleness - weight_sync_steps + 1``); the producer works on them
  while the trainer trains.
* **Versions.** The policy version is the trainer's round count (``TrainerState.rounds``).
  Every ``weight_sync_steps`` rounds the trainable parameters (and the reward schedule's state)
  are pushed through the request queue; every episode carries the version it was sampled with
  (``Trajectory.policy_version``).
* **Bounded staleness.** An episode consumed at version ``v`` that was sampled at ``v - s`` has
  staleness ``s``; ``s > max_staleness`` drops the request's episodes (``async/dropped``), pushes
  the current weights and regenerates them. Stale episodes get the truncated importance-sampling
  correction (:mod:`agents.algorithms.tis`, behaviour log-probs = the producer's).
* **Faults.** A producer that dies is restarted (``async_producer_restarts`` times per run) and
  its in-flight requests are sent again; past that the trainer raises
  :class:`ProducerDiedError` naming the exit code -- never a hang. A checkpoint holds no
  in-flight episodes: a resumed run starts a fresh producer and regenerates them.

With ``max_staleness=0`` nothing is prefetched and weights are pushed every round: the run equals
the synchronous one exactly (same seed, same episodes, same updates).
"""

from __future__ import annotations

import os
import queue
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = ["AsyncRollouts", "ProducerDiedError", "RolloutRequest", "check_async_support"]

# seconds between liveness checks while the trainer waits for the producer
_POLL_S = 0.5
# seconds a fresh producer may take to load the policy and build its environment
_START_TIMEOUT_S = 600.0


class ProducerDiedError(RuntimeError):
    """The rollout producer process died (more often than ``async_producer_restarts``) or
    raised; the message names its exit code or its traceback."""


@dataclass(frozen=True)
class RolloutRequest:
    """What the synchronous trainer would roll out in one :meth:`RLTrainer.rollout` call."""

    seeds: tuple[int, ...]
    num_generations: int
    seed: int
    first_group: int
    retry: bool = True


@dataclass
class _RoundStats:
    staleness: list[int] = field(default_factory=list)  # one per consumed episode
    dropped: int = 0
    producer_idle_s: float = 0.0
    trainer_idle_s: float = 0.0
    generation_s: float = 0.0


def check_async_support(trainer: Any) -> None:
    """Refuse, with the reason, what the producer cannot do (yet)."""
    cfg = trainer.config
    if trainer.dp is not None:
        raise ValueError("async_rollouts does not combine with data-parallel training (torchrun "
                         "WORLD_SIZE > 1) yet: run one of the two")
    if not trainer._own_sampler or cfg.use_vllm:
        raise ValueError("async_rollouts samples in a producer process with its own TorchSampler; "
                         "a given backend / use_vllm is not supported by it yet")
    for hook in ("collect", "rollout"):  # e.g. EEPO samples its own two stages in-process
        # RLTrainer's own method, named rather than imported (agents.trainers.base imports us)
        if getattr(type(trainer), hook).__qualname__ != f"RLTrainer.{hook}":
            raise ValueError(f"async_rollouts: {type(trainer).__name__} makes its episodes with "
                             f"its own {hook}(), which the producer cannot run; train it "
                             "synchronously")
    if trainer.env.spec is None or trainer.env.spec.id != trainer.env_id:
        raise ValueError("async_rollouts rebuilds the environment in the producer from its id: "
                         "pass an env id or an env made with rlenvs.make")


class AsyncRollouts:
    """The trainer's side of the producer (see the module docstring).

    Args:
        trainer: the :class:`~agents.trainers.base.RLTrainer` whose rollouts this produces.
    """

    def __init__(self, trainer: Any) -> None:
        check_async_support(trainer)
        self.trainer = trainer
        cfg = trainer.config
        self.max_staleness = int(cfg.max_staleness)
        self.weight_sync_steps = int(cfg.weight_sync_steps)
        self.prefetch = (int(cfg.async_prefetch) if cfg.async_prefetch is not None
                         else self.max_staleness - self.weight_sync_steps + 1)
        self.restarts_left = int(cfg.async_producer_restarts)
        self.restarts = 0
        self._ctx = torch.multiprocessing.get_context("spawn")
        self._proc: Any = None
        self._requests: Any = None
        self._results: Any = None
        self._snapshot: Path | None = None
        self._pending: list[RolloutRequest] = []  # sent, not yet answered (FIFO)
        self._done: dict[RolloutRequest, tuple[Any, ...]] = {}
        self._version = -1  # the version the producer holds (last pushed)
        self._stats = _RoundStats()

    # ----------------------------------------------------------------- the trainer's calls
    def rollout(self, request: RolloutRequest) -> tuple[list[Any], dict[str, float], int]:
        """The episodes of ``request`` (trajectories, ``rollout/*`` metrics, retried count),
        sampled at most ``max_staleness`` versions ago."""
        self._ensure_started()
        version = self.trainer.state.rounds
        while True:
            if request not in self._done and request not in self._pending:
                self._send_request(request)
            trajs, metrics, retried, sampled_at, idle_s, gen_s = self._wait_for(request)
            staleness = version - sampled_at
            self._stats.producer_idle_s += idle_s
            self._stats.generation_s += gen_s
            if staleness <= self.max_staleness:
                break
            self._stats.dropped += len(trajs)  # too old: regenerate with today's weights
            self.push_weights()
        self._stats.staleness.extend([staleness] * len(trajs))
        return trajs, metrics, retried

    def prefetch_after(self, upcoming: list[RolloutRequest]) -> None:
        """Queue the requests the trainer will make next (at most ``prefetch`` of them)."""
        for request in upcoming[: max(self.prefetch, 0)]:
            if request not in self._done and request not in self._pending:
                self._send_request(request)

    def after_round(self) -> None:
        """Push the weights when ``weight_sync_steps`` rounds have passed since the last push."""
        if self._proc is None:
            return
        if self.trainer.state.rounds - self._version >= self.weight_sync_steps:
            self.push_weights()

    def push_weights(self) -> None:
        """Send the trainable parameters and the reward schedule's state (version = rounds)."""
        version = self.trainer.state.rounds
        if version == self._version:
            return
        self._send(("weights", version, self._weights_payload()))
        self._version = version

    def round_metrics(self) -> dict[str, float]:
        """``async/*`` metrics of the round so far, then reset for the next round."""
        s = self._stats
        self._stats = _RoundStats()
        out = {
            "async/staleness_mean": (sum(s.staleness) / len(s.staleness)) if s.staleness else 0.0,
            "async/staleness_max": float(max(s.staleness, default=0)),
            "async/dropped": float(s.dropped),
            "async/producer_idle_s": s.producer_idle_s,
            "async/trainer_idle_s": s.trainer_idle_s,
            "async/producer_generation_s": s.generation_s,
            "async/policy_version": float(self.trainer.state.rounds),
            "async/producer_restarts": float(self.restarts),
        }
        return out

    def stale_in_round(self) -> bool:
        """Whether an episode of the round so far was sampled by older weights."""
        return any(s > 0 for s in self._stats.staleness)

    @property
    def producer_pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def close(self) -> None:
        """Stop the producer (in-flight requests are lost; a resumed run regenerates them)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                self._requests.put(("stop",))
            except (OSError, ValueError):
                pass
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=10)
        for q in (self._requests, self._results):
            if q is not None:
                q.close()
                q.join_thread()
        self._requests = self._results = None
        self._pending.clear()
        self._done.clear()
        self._version = -1
        if self._snapshot is not None:
            self._snapshot.unlink(missing_ok=True)
            self._snapshot = None

    # ----------------------------------------------------------------- internals
    def _weights_payload(self) -> dict[str, Any]:
        schedule = self.trainer.reward_schedule
        return {"policy": self.trainer.policy.trainable_state_dict(),  # clones: never shared
                "reward_schedule": schedule.state_dict() if schedule is not None else None}

    def _producer_config(self) -> dict[str, Any]:
        from agents.run.metrics import dtype_label

        cfg = self.trainer.config.to_dict()
        cfg.update(async_rollouts=False, eval_episodes=0, progress=False, beta=0.0,
                   resume_from_checkpoint=None,
                   # the producer samples as the trainer's own sampler would
                   generation_dtype=dtype_label(self.trainer.backend),
                   torch_num_threads=cfg.get("async_producer_threads") or None)
        return cfg

    def _ensure_started(self) -> None:
        if self._proc is not None:
            return
        trainer = self.trainer
        fd, name = tempfile.mkstemp(prefix="rlenvs-async-policy-", suffix=".pt")
        os.close(fd)
        self._snapshot = Path(name)
        torch.save(trainer.policy, self._snapshot)  # the policy as it is now, frozen parts too
        self._requests = self._ctx.Queue()
        self._results = self._ctx.Queue()
        spec = {"cls": type(trainer), "policy_path": str(self._snapshot),
                "env_spec": trainer.env.spec, "env_id": trainer.env_id,
                "env_kwargs": dict(trainer.env_kwargs), "config": self._producer_config()}
        self._proc = self._ctx.Process(target=producer_main, name="rlenvs-rollout-producer",
                                       args=(spec, self._requests, self._results), daemon=True)
        self._proc.start()
        self._version = -1
        self.push_weights()
        self._await_ready()

    def _await_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            message = self._get(deadline)
            if message[0] == "ready":  # the snapshot is loaded: a restart writes a new one
                if self._snapshot is not None:
                    self._snapshot.unlink(missing_ok=True)
                    self._snapshot = None
                return
            self._handle_other(message)

    def _send(self, message: tuple[Any, ...]) -> None:
        self._requests.put(message)

    def _send_request(self, request: RolloutRequest) -> None:
        self._pending.append(request)
        self._send(("rollout", request))

    def _wait_for(self, request: RolloutRequest) -> tuple[Any, ...]:
        started = time.perf_counter()
        try:
            while request not in self._done:
                message = self._get(None)
                if message[0] != "rollout":
                    self._handle_other(message)
                    continue
                _, answered, *result = message
                if answered in self._pending:
                    self._pending.remove(answered)
                self._done[answered] = tuple(result)
            return self._done.pop(request)
        finally:
            self._stats.trainer_idle_s += time.perf_counter() - started

    def _get(self, deadline: float | None) -> tuple[Any, ...]:
        """The producer's next message; restarts a dead producer (or raises)."""
        while True:
            try:
                return self._results.get(timeout=_POLL_S)
            except queue.Empty:
                pass
            if not self._proc.is_alive():
                self._restart(f"exit code {self._proc.exitcode}")
            elif deadline is not None and time.monotonic() > deadline:
                self._proc.kill()
                raise ProducerDiedError(f"the rollout producer did not start within "
                                        f"{_START_TIMEOUT_S:.0f} s")

    def _handle_other(self, message: tuple[Any, ...]) -> None:
        if message[0] == "error":
            self._proc.join(timeout=10)
            raise ProducerDiedError(f"the rollout producer failed:\n{message[1]}")
        if message[0] != "ready":
            raise RuntimeError(f"unexpected message from the rollout producer: {message[0]!r}")

    def _restart(self, why: str) -> None:
        if self.restarts_left <= 0:
            self._proc = None
            raise ProducerDiedError(
                f"the rollout producer died ({why}) and async_producer_restarts="
                f"{self.trainer.config.async_producer_restarts} restart(s) are used up")
        self.restarts_left -= 1
        self.restarts += 1
        replay = list(self._pending)  # in flight: regenerated
        old = self._proc
        old.join(timeout=1)
        for q in (self._requests, self._results):
            q.cancel_join_thread()
            q.close()
        self._proc = None
        self._pending = []
        if self._snapshot is not None:  # died before loading it
            self._snapshot.unlink(missing_ok=True)
        self._ensure_started()  # pushes today's weights: the replayed requests are fresh
        for request in replay:
            self._send_request(request)


def producer_main(spec: dict[str, Any], requests: Any, results: Any) -> None:
    """The producer process: build a synchronous trainer of the same class on the same policy
    and environment, then answer requests in order (weights updates in between)."""
    try:
        import gymnasium as gym

        from agents.rollout.deadline import Deadline
        from agents.run.metrics import FaultTally

        config = dict(spec["config"])
        if config.get("torch_num_threads"):
            torch.set_num_threads(int(config["torch_num_threads"]))
        if spec["env_id"] not in gym.registry and spec["env_spec"] is not None:
            gym.registry[spec["env_id"]] = spec["env_spec"]  # e.g. registered at run time
        policy = torch.load(spec["policy_path"], weights_only=False)
        cls = spec["cls"]
        worker = cls(policy, spec["env_id"], cls.config_class.from_dict(config),
                     env_kwargs=spec["env_kwargs"])
        results.put(("ready", os.getpid()))
        version = -1
        idle = 0.0
        while True:
            waited = time.perf_counter()
            message = requests.get()
            idle += time.perf_counter() - waited
            if message[0] == "stop":
                return
            if message[0] == "weights":
                _, version, payload = message
                policy.load_trainable_state_dict(payload["policy"])
                worker.backend.sync_weights(policy.model)
                schedule = worker.reward_schedule
                if schedule is not None and payload["reward_schedule"] is not None:
                    schedule.load_state_dict(payload["reward_schedule"])
                continue
            request = message[1]
            started = time.perf_counter()
            worker._faults = FaultTally()
            worker._round_deadline = Deadline(worker.config.round_timeout_s)
            trajs, metrics = worker.rollout(worker.env, list(request.seeds),
                                            request.num_generations, seed=request.seed,
                                            first_group=request.first_group, retry=request.retry)
            for t in trajs:
                t.policy_version = version
            results.put(("rollout", request, trajs, metrics, worker._faults.retried, version,
                         idle, time.perf_counter() - started))
            idle = 0.0
    except BaseException:  # noqa: BLE001 -- reported to the trainer, which raises it
        results.put(("error", traceback.format_exc()))
        raise
