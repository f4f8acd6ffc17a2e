"""Judges as a pool of Ray actors, for expensive (LLM) judging next to training.

``RayJudgePool(factory, num_actors)`` builds one judge per actor by calling ``factory()``
*inside* the actor (a model loads where it runs, once) and is itself a judge:
``pool(response, task) -> Verdict``, so it drops in wherever a judge is used -- a constraint or
the reward of a :class:`judges.moj.MixtureOfJudges`, an environment's judge. For many
responses, :meth:`RayJudgePool.score_batch` (alias :meth:`~RayJudgePool.judge_batch`) splits the
batch into chunks, spreads them over the actors and returns the verdicts **in input order**. An
actor whose judge has ``score_batch`` (the LLM judges of :mod:`judges.llmjudge`,
:mod:`judges.grm`) scores a chunk in one backend call; otherwise it calls the judge per item.

Failures never lose or hang an item:

* an actor that **dies** (process killed, node lost, out of memory) is replaced by a fresh one
  and its in-flight chunk is retried (``max_retries`` times, once by default);
* a chunk running longer than ``timeout_s`` has its actor killed and replaced, and is retried;
* a chunk that still fails gets, per item, an *unscored* verdict (cause ``judge_backend``; a
  fault, not a reward; its score ``failure_score`` is a placeholder) with
  ``details["remote_failure"]`` naming what happened.

An exception *raised by the judge* is not an actor failure: it propagates like a local judge's
(``on_error="raise"``), or becomes an unscored verdict (cause ``verifier_error``) with the error
as reason (``on_error="verdict"``).

Ray is optional (``pip install 'rlenvs[ray]'``); the pool starts a local Ray when none is running
(``ray.init(address=...)`` first to use a cluster).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judges.verdict import Verdict

__all__ = ["RayJudgePool", "ensure_ray"]

JudgeFactory = Callable[[], Any]


def ensure_ray(ray_init: Mapping[str, Any] | None = None, who: str = "this") -> Any:
    """The ``ray`` module, with a local Ray started (``ray_init`` arguments) if none is running.

    ``who`` names the caller in the error raised when Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise ImportError(f"{who} needs Ray: pip install 'rlenvs[ray]'") from None
    if not ray.is_initialized():
        ray.init(**{"include_dashboard": False, "log_to_driver": False,
                    "configure_logging": False, **(ray_init or {})})
    return ray


class _JudgeActor:
    """One judge inside a Ray actor."""

    def __init__(self, factory: JudgeFactory) -> None:
        self.judge = factory()
        if not callable(self.judge) and not hasattr(self.judge, "judge"):
            raise TypeError(f"the factory built {type(self.judge).__name__}, which is not a judge"
                            " (a callable (response, task) -> Verdict or an object with .judge)")

    def score(self, responses: list[str], tasks: list[Mapping[str, Any]],
              on_error: str) -> list[Verdict]:
        try:
            if hasattr(self.judge, "score_batch"):
                return list(self.judge.score_batch(responses, tasks))
            call = self.judge if callable(self.judge) else self.judge.judge
            return [call(r, t) for r, t in zip(responses, tasks, strict=True)]
        except Exception as e:
            if on_error == "raise":
                raise
            reason = f"judge raised {type(e).__name__}: {e}"
            return [Verdict.unscored(reason, "verifier_error", judge_error=type(e).__name__)
                    for _ in responses]

    def describe(self) -> dict[str, Any]:
        """The judge's ``name`` and ``baseline_key`` (a Mixture of Judges has both)."""
        return {k: getattr(self.judge, k) for k in ("name", "baseline_key")
                if isinstance(getattr(self.judge, k, None), str)}

    def pid(self) -> int:
        import os

        return os.getpid()


@dataclass
class _Chunk:
    start: int
    responses: list[str]
    tasks: list[Mapping[str, Any]]
    attempts: int = 0


class RayJudgePool:
    """A judge whose work runs on ``num_actors`` Ray actors (see the module docstring).

    Args:
        factory: zero-argument callable building the judge inside each actor (must pickle;
            ``lambda: PointwiseJudge(...)`` does). :meth:`from_judge` wraps a ready judge.
        num_actors: actors in the pool.
        num_cpus / num_gpus: Ray resources reserved per actor (``num_gpus=1`` puts each
            judge model on its own GPU).
        timeout_s: wall-clock limit of one chunk on one actor (``None``: no limit).
        max_retries: re-runs of a chunk whose actor died or timed out.
        batch_size: items per chunk; default splits a batch evenly over the actors.
        failure_score: score of the verdict given to an item that could not be judged.
        on_error: ``"raise"`` (default) or ``"verdict"`` for exceptions raised by the judge.
        actor_options: more ``ray.remote`` options (``resources``, ``runtime_env``...).
        ray_init: ``ray.init`` arguments used when Ray is not running yet.
        name: the pool's ``name`` (a Mixture of Judges and the CGPO trainer read it); default:
            the wrapped judge's ``name``, else ``"remote_judge"``. The wrapped judge's
            ``baseline_key`` is mirrored too, so a pooled Mixture of Judges behaves as a local one.
    """

    def __init__(
        self,
        factory: JudgeFactory,
        num_actors: int = 2,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        timeout_s: float | None = 300.0,
        max_retries: int = 1,
        batch_size: int | None = None,
        failure_score: float = 0.0,
        on_error: str = "raise",
        actor_options: Mapping[str, Any] | None = None,
        ray_init: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        ray = ensure_ray(ray_init, "RayJudgePool")
        if num_actors < 1:
            raise ValueError(f"num_actors must be >= 1, got {num_actors}")
        if on_error not in ("raise", "verdict"):
            raise ValueError(f"on_error must be 'raise' or 'verdict', got {on_error!r}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._ray = ray
        self.factory = factory
        self.num_actors = num_actors
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.batch_size = batch_size
        self.failure_score = failure_score
        self.on_error = on_error
        self.restarts = 0
        options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_restarts": 0,
                   **(actor_options or {})}
        self._actor_cls = ray.remote(**options)(_JudgeActor)
        self._actors = [self._actor_cls.remote(factory) for _ in range(num_actors)]
        self._closed = False
        try:  # surface a failing factory here, not as lost items later
            described = ray.get(self._actors[0].describe.remote())
            self.actor_pids()
        except ray.exceptions.RayActorError as e:
            self.close()
            raise RuntimeError(f"a judge actor failed to start: {e}") from e
        self.name = name or described.get("name", "remote_judge")
        if "baseline_key" in described:
            self.baseline_key = described["baseline_key"]

    @classmethod
    def from_judge(cls, judge: Any, num_actors: int = 2, **kwargs: Any) -> RayJudgePool:
        """A pool of copies of a ready (picklable) judge."""
        return cls(_Constant(judge), num_actors=num_actors, **kwargs)

    # ------------------------------------------------------------------ the judge protocol
    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        return self.score_batch([response], [task])[0]

    def judge(self, response: str, task: Mapping[str, Any]) -> Verdict:
        """Same as calling the pool."""
        return self(response, task)

    def judge_batch(self, responses: Sequence[str],
                    tasks: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[Verdict]:
        """Alias of :meth:`score_batch`."""
        return self.score_batch(responses, tasks)

    def score_batch(self, responses: Sequence[str],
                    tasks: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[Verdict]:
        """One verdict per response, in input order (``tasks``: one per response, or one
        mapping shared by all)."""
        if self._closed:
            raise RuntimeError("this RayJudgePool is closed; create a new one")
        task_list = [tasks] * len(responses) if isinstance(tasks, Mapping) else list(tasks)
        if len(task_list) != len(responses):
            raise ValueError(f"{len(responses)} responses but {len(task_list)} tasks")
        n = len(responses)
        if n == 0:
            return []
        size = self.batch_size or math.ceil(n / self.num_actors)
        pending = deque(_Chunk(i, [str(r) for r in responses[i:i + size]],
                               [dict(t) for t in task_list[i:i + size]])
                        for i in range(0, n, size))
        results: list[Verdict | None] = [None] * n
        self._run(pending, results)
        missing = [i for i, v in enumerate(results) if v is None]
        if missing:  # cannot happen: every chunk ends judged or with a failure verdict
            raise RuntimeError(f"items {missing[:5]} were not judged")
        return list(results)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ scheduling
    def _run(self, pending: deque[_Chunk], results: list[Verdict | None]) -> None:
        ray = self._ray
        idle = list(range(self.num_actors))
        running: dict[Any, tuple[int, _Chunk, float]] = {}  # ref -> (slot, chunk, deadline)
        while pending or running:
            while pending and idle:
                slot, chunk = idle.pop(), pending.popleft()
                ref = self._actors[slot].score.remote(chunk.responses, chunk.tasks, self.on_error)
                deadline = math.inf if self.timeout_s is None else time.monotonic() + self.timeout_s
                running[ref] = (slot, chunk, deadline)
            wait_s = min(d for _, _, d in running.values()) - time.monotonic()
            ready, _ = ray.wait(list(running), num_returns=1,
                                timeout=None if math.isinf(wait_s) else max(wait_s, 0.0))
            for ref in ready:
                slot, chunk, _ = running.pop(ref)
                try:
                    verdicts = ray.get(ref)
                except ray.exceptions.RayTaskError as e:
                    self._abandon(running)
                    cause = getattr(e, "cause", None)
                    raise (cause if isinstance(cause, BaseException) else e) from None
                except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError,
                        ray.exceptions.WorkerCrashedError) as e:
                    self._replace(slot)
                    self._retry_or_fail(chunk, pending, results,
                                        f"judge actor died ({type(e).__name__})")
                else:
                    if len(verdicts) != len(chunk.responses):
                        raise RuntimeError(f"the judge returned {len(verdicts)} verdicts for "
                                           f"{len(chunk.responses)} responses")
                    results[chunk.start:chunk.start + len(verdicts)] = verdicts
                idle.append(slot)
            now = time.monotonic()
            for ref, (slot, chunk, deadline) in list(running.items()):
                if deadline <= now and ref not in ready:
                    running.pop(ref)
                    self._kill(self._actors[slot])
                    self._replace(slot)
                    self._retry_or_fail(chunk, pending, results,
                                        f"judge timed out after {self.timeout_s:g}s")
                    idle.append(slot)

    def _retry_or_fail(self, chunk: _Chunk, pending: deque[_Chunk],
                       results: list[Verdict | None], reason: str) -> None:
        chunk.attempts += 1
        if chunk.attempts <= self.max_retries:
            pending.appendleft(chunk)
            return
        for j in range(len(chunk.responses)):
            results[chunk.start + j] = Verdict(
                self.failure_score, False,
                f"unscored: {reason}; gave up after {chunk.attempts} attempt(s)",
                {"remote_failure": reason, "attempts": chunk.attempts,
                 "components": {self.name: self.failure_score}},
                status="unscored", cause="judge_backend")

    def _replace(self, slot: int) -> None:
        self._actors[slot] = self._actor_cls.remote(self.factory)
        self.restarts += 1

    def _abandon(self, running: dict[Any, Any]) -> None:
        for ref in running:
            try:
                self._ray.cancel(ref, force=False)
            except Exception:  # noqa: BLE001 - best effort; the results are ignored anyway
                pass
        running.clear()

    def _kill(self, actor: Any) -> None:
        try:
            self._ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass

    # ------------------------------------------------------------------ lifecycle
    @property
    def actors(self) -> list[Any]:
        """The current actor handles (a replaced actor's handle changes)."""
        return list(self._actors)

    def actor_pids(self) -> list[int]:
        """Process id of every actor (waits for them to start)."""
        return list(self._ray.get([a.pid.remote() for a in self._actors]))

    def close(self) -> None:
        """Kill the actors (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for actor in self._actors:
            self._kill(actor)

    def __enter__(self) -> RayJudgePool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"RayJudgePool({self.factory!r}, num_actors={self.num_actors}, "
                f"timeout_s={self.timeout_s}, restarts={self.restarts})")


class _Constant:
    """Picklable zero-argument factory returning a fixed judge."""

    def __init__(self, judge: Any) -> None:
        self.judge = judge

    def __call__(self) -> Any:
        return self.judge

    def __repr__(self) -> str:
        return f"from_judge({self.judge!r})"
