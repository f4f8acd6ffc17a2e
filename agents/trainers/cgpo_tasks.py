"""CGPO's tasks and their scoring: a task's judges, calibrated reward and baseline responses
``ā`` (arXiv 2409.20370; the rules are in :mod:`agents.trainers.cgpo`'s docstring).

:class:`CGPOTask` is one task ``D_l``; :class:`TaskScoring` is the part of
:class:`~agents.trainers.cgpo.CGPOTrainer` that turns a generation into ``(r, passed, R_calib)``
and judges each prompt's ``ā``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agents.rollout.chain import Trajectory
from agents.rollout.deadline import step_status
from judges.verdict import UNSCORED

__all__ = ["CGPOTask", "TaskScoring", "Scored", "Baseline", "BaselineSource", "OPTIMIZERS",
           "task_identity"]

OPTIMIZERS = ("crpg", "crraft", "codpo")

BaselineSource = str | Callable[[Mapping[str, Any]], "str | None"]
"""Where a prompt's baseline response ``ā`` comes from: a task-data key or ``task -> str``."""


@dataclass
class CGPOTask:
    """One CGPO task (``D_l`` with its judges, optimizer and hyperparameters).

    ``num_generations``: ``K_l`` (``None``: the config's ``num_generations``, TRL PR's k = 4).
    ``prompts_per_step``: ``B_l``, prompts per update. ``weight``: ``ρ_l``.
    ``baseline``: the prompt's baseline response ``ā`` -- a key of the task data (e.g.
    ``"solution"``) or a callable ``task -> str | None`` (``None``/missing: no baseline for that
    prompt). ``baseline_reward``: ``r(s, ā)`` used for calibration when there is no ``ā``.
    """

    env: str
    optimizer: str = "crraft"
    judge: Callable[[str, Mapping[str, Any]], Any] | None = None
    num_generations: int | None = None
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
        for key in ("num_generations", "prompts_per_step"):
            value = getattr(self, key)
            if value is None and key == "num_generations":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"num_generations, prompts_per_step and kl_threshold must be "
                                 f"> 0; {key}={value!r} (a whole number)")
        if not isinstance(self.kl_threshold, (int, float)) or not self.kl_threshold > 0:
            raise ValueError("num_generations, prompts_per_step and kl_threshold must be > 0; "
                             f"kl_threshold={self.kl_threshold!r}")
        if not isinstance(self.weight, (int, float)) or not 0 <= self.weight < math.inf:
            raise ValueError(f"weight (ρ_l) must be a finite number >= 0, got {self.weight!r}")
        if not isinstance(self.env_kwargs, dict):
            raise TypeError(f"env_kwargs must be a dict, got {type(self.env_kwargs).__name__}")
        self.name = self.name or f"{self.env}:{self.optimizer}"


def task_identity(task: CGPOTask) -> dict[str, Any]:
    """What a task contributes to a run's identity (``run.json``): its settings, with judge and
    baseline named by their config-file spec or their import path."""
    out = {f.name: getattr(task, f.name) for f in dataclasses.fields(task)}
    out["judge"], out["baseline"] = _describe(task.judge), _describe(task.baseline)
    return out


class Scored(NamedTuple):
    """One generation's score: ``r``, whether every constraint passed, ``R_calib``, and whether
    the judge could not judge it (``details["unscored"]``: a fault, which no optimizer trains
    on -- it is neither a violation nor a reward)."""

    reward: float
    passed: bool
    calibrated: float
    unscored: bool = False


class TaskScoring:
    """Scoring of generations and baselines (needs ``self.config.calibration_scale``)."""

    config: Any

    def score(self, task: CGPOTask, traj: Trajectory,
              baseline: Baseline | None = None) -> Scored:
        """``(r, passed, R_calib, unscored)`` of one generation (see the module docstring); ``baseline``
        is the prompt's judged ``ā`` when the task has one."""
        return self._judge(task, _last_reply(traj), traj.task or {}, baseline,
                           env_result=(traj.total_reward, traj.passed, not traj.scored))

    def score_all(self, task: CGPOTask, trajs: Sequence[Trajectory],
                  baselines: Sequence[Baseline | None]) -> list[Scored]:
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
               baseline: Baseline | None,
               env_result: tuple[float, bool, bool] | None = None) -> Scored:
        if task.judge is None:  # the env's reward: ``env_result`` = (return, passed, unscored)
            if env_result is None:
                raise ValueError("without a judge the environment's result is needed")
            r, passed, unscored = env_result
            unscored |= baseline is not None and baseline.unscored  # calibrated on a fault
            base_r = baseline.reward if baseline is not None else task.baseline_reward
            return Scored(r, passed and not unscored,
                          _sigmoid(self.config.calibration_scale * (r - base_r)), unscored)
        verdict = task.judge(text, self._judge_task(task, info, baseline))
        return self._from_verdict(task, verdict, baseline)

    def _from_verdict(self, task: CGPOTask, verdict: Any,
                      baseline: Baseline | None) -> Scored:
        """``(r, passed, R_calib, unscored)`` from a judge's verdict: ``r`` is the judge's raw
        reward component (``details["components"][judge.name]``, else the score); ``R_calib``
        its calibrated component, else ``σ(scale · (r − r(ā)))``; ``unscored`` its
        ``details["unscored"]`` (a fault: never passed, whatever the verdict says)."""
        base_r = baseline.reward if baseline is not None else task.baseline_reward
        comps = verdict.details.get("components", {})
        name = getattr(task.judge, "name", "reward")
        r = float(comps.get(name, verdict.score))
        cal = comps.get(f"{name}_calibrated")
        unscored = bool(verdict.details.get("unscored"))
        if cal is None:
            cal = _sigmoid(self.config.calibration_scale * (r - base_r))
            unscored |= baseline is not None and baseline.unscored  # calibrated on a fault
        return Scored(r, bool(verdict.passed) and not unscored, float(cal), unscored)

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
            r, passed, _, unscored = self._judge(task, text, info or {}, None)
        else:
            env.reset(seed=seed)
            _, reward, _, _, step_info = env.step(text)
            verdict = step_info.get("verdict")
            unscored = step_status(step_info)[0] == UNSCORED  # the env could not judge ā
            r, passed = float(reward), bool(getattr(verdict, "passed", False)) and not unscored
        return Baseline(text=text, reward=r, passed=passed, unscored=unscored)


@dataclass
class Baseline:
    """A prompt's judged baseline response ``ā``: its text, ``r(s, ā)``, constraint pass and
    whether its judge could not judge it (then it never passes: CRRAFT does not fall back to
    it)."""

    text: str
    reward: float
    passed: bool
    unscored: bool = False


def _last_reply(traj: Trajectory) -> str:
    return str(next((m.get("content", "") for m in reversed(traj.messages)
                     if m.get("role") == "assistant"), ""))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _describe(obj: Any) -> Any:
    """A judge or baseline source for ``run.json``: its config-file spec (``obj.spec``), a
    task-data key, or ``module:qualname`` of a function / the object's type."""
    if obj is None or isinstance(obj, str):
        return obj
    spec = getattr(obj, "spec", None)
    if spec is not None:
        return spec
    named = obj if hasattr(obj, "__qualname__") else type(obj)
    return f"{getattr(named, '__module__', '?')}:{named.__qualname__}"
