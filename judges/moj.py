"""Mixture of Judges (CGPO, Xu et al. 2024): constraint judges gate, the reward model rewards.

``MixtureOfJudges(reward, constraints)`` is a judge. For a response ``a`` to prompt ``s``:

* every **constraint judge** (rule-based -- math answer, unit tests, instruction checks -- or
  LLM-based, e.g. ``YesNoJudge``) is run; its ``passed`` is its constraint. The response is in
  the feasible set ``Σ`` exactly when every constraint passes.
* the **reward judge** gives ``r(s, a)``; only its score is read. Its own ``passed`` (a
  pass threshold of a pointwise LLM judge, say) is *not* a constraint: a reward of 4/10 that
  beats a 2/10 baseline is a good calibrated reward, not a violation.
* with a baseline response ``ā`` in ``task[baseline_key]``, the reward is the **calibrated
  reward** ``σ(scale · (r(s, a) − r(s, ā)))`` -- about ``P(a ≻ ā)``, comparable across prompts.

The verdict is exactly one of (checked in this order):

``violated``
    some constraint failed, or raised (an exception is a clear failing verdict with the
    constraint's name and the exception as the reason -- a task without an instruction list
    is misconfigured, not a fault to skip). Score ``violation_score`` (0), not passed;
    ``details["violations"]`` names them, ``details["errors"]`` has each exception.
``error``
    the reward judge raised on the response or on ``ā``: not passed, score 0, the exception
    in ``details["errors"]``; never unscored (a crash is a bug to see, not a fault to skip).
``unscored``
    no constraint failed, but a judge could not judge (``details["unscored"]`` on a constraint,
    on the reward of ``a`` or on the reward of ``ā``: a backend timeout, an unparseable
    judgement). A fault is not a reward: score 0, not passed, ``details["unscored"] = True``,
    ``details["faults"]`` names them; trainers skip it. A violation elsewhere outranks a
    fault: the response is outside ``Σ`` whatever the unscored judge would have said.
``passed``
    every constraint passed and every judge scored: the score is the (calibrated) reward.

``details["components"]`` has the reward, the calibrated reward and each constraint's score by
name; ``details["parts"]`` each full verdict. ``per_task`` routes each task to its own mixture
(CGPO stratifies tasks).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from judges.verdict import Verdict

__all__ = ["MixtureOfJudges", "per_task", "math_constraint", "ifeval_constraint"]

JudgeFn = Callable[[str, Mapping[str, Any]], Verdict]


def _run(judge: JudgeFn, response: str, task: Mapping[str, Any]) -> tuple[Verdict, str | None]:
    """``judge(response, task)``, or a failing verdict and the exception's description."""
    try:
        verdict = judge(response, task)
        if not isinstance(verdict, Verdict):
            raise TypeError(f"a judge must return a Verdict, got {type(verdict).__name__}")
    except Exception as exc:  # noqa: BLE001 -- every exception becomes the verdict's reason
        error = f"{type(exc).__name__}: {str(exc).strip()[:300] or 'no message'}"
        return Verdict.fail(f"raised {error}"), error
    return verdict, None


def _unscored(verdict: Verdict) -> bool:
    return bool(verdict.details.get("unscored"))


class MixtureOfJudges:
    """Constraint-gated, optionally calibrated reward (see the module docstring).

    Args:
        reward: judge whose score is ``r(s, a)`` (its ``passed`` is not read).
        constraints: ``{name: judge}``; each judge's ``passed`` is its constraint.
        baseline_key: task key of the baseline response ``ā`` (calibration is used when the
            task has it; set ``calibrate=False`` to ignore it).
        scale: multiplies the reward difference inside the sigmoid (rewards in ``[0, 1]`` have
            differences in ``[-1, 1]``; a larger scale spreads the calibrated reward).
        violation_score: the score when a constraint fails.
        name: component name of the reward.
    """

    def __init__(
        self,
        reward: JudgeFn,
        constraints: Mapping[str, JudgeFn] | None = None,
        baseline_key: str = "baseline",
        calibrate: bool = True,
        scale: float = 4.0,
        violation_score: float = 0.0,
        name: str = "reward",
    ) -> None:
        self.reward = reward
        self.constraints = dict(constraints or {})
        if name in self.constraints or f"{name}_baseline" in self.constraints:
            raise ValueError(f"constraint names must differ from the reward's name {name!r}")
        self.baseline_key = baseline_key
        self.calibrate = calibrate
        self.scale = scale
        self.violation_score = violation_score
        self.name = name

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        parts: dict[str, Verdict] = {}
        errors: dict[str, str] = {}
        for cname, judge in self.constraints.items():
            parts[cname], error = _run(judge, response, task)
            if error is not None:
                errors[cname] = error
        violations = [n for n, v in parts.items()
                      if n in errors or (not v.passed and not _unscored(v))]
        faults = [n for n, v in parts.items() if n not in errors and _unscored(v)]
        components: dict[str, float] = {n: v.score for n, v in parts.items()}

        reward_names = [self.name]
        parts[self.name], error = _run(self.reward, response, task)
        if error is not None:
            errors[self.name] = error
        value, how = parts[self.name].score, "reward"
        components[self.name] = value
        if self.calibrate and self.baseline_key in task:
            base_name = f"{self.name}_baseline"
            reward_names.append(base_name)
            parts[base_name], error = _run(self.reward, str(task[self.baseline_key]), task)
            if error is not None:
                errors[base_name] = error
            r, r_base = parts[self.name].score, parts[base_name].score
            value = 1.0 / (1.0 + math.exp(-self.scale * (r - r_base)))
            components[f"{self.name}_calibrated"] = value
            how = f"calibrated reward σ({self.scale:g}·({r:.3f} − {r_base:.3f}))"
        faults += [n for n in reward_names if n not in errors and _unscored(parts[n])]

        details: dict[str, Any] = {
            "components": components,
            "parts": {n: v.to_dict() for n, v in parts.items()},
            "violations": violations,
            "faults": faults,
            "errors": errors,
        }
        if violations:
            reasons = "; ".join(f"{n}: {parts[n].reason}" for n in violations)
            return Verdict(self.violation_score, False, f"constraint failed ({reasons})", details)
        if errors:
            reasons = "; ".join(f"{n}: {e}" for n, e in errors.items())
            return Verdict(0.0, False, f"reward judge raised ({reasons})", details)
        if faults:
            reasons = "; ".join(f"{n}: {parts[n].reason}" for n in faults)
            details["unscored"] = True
            return Verdict(0.0, False, f"not scored: a judge could not judge ({reasons})",
                           details, status="unscored", cause=parts[faults[0]].cause)
        return Verdict(value, True, f"all {len(self.constraints)} constraints passed; {how}",
                       details)


def per_task(mixes: Mapping[str, JudgeFn], key: str = "task_type",
             default: JudgeFn | None = None) -> JudgeFn:
    """Route each task to ``mixes[task[key]]`` (``default`` when absent); reports the route."""

    def judge(response: str, task: Mapping[str, Any]) -> Verdict:
        kind = task.get(key)
        chosen = mixes.get(kind, default) if isinstance(kind, str) else default
        if chosen is None:
            return Verdict.fail(f"no judge for {key}={kind!r}; known: {sorted(mixes)}")
        verdict = chosen(response, task)
        verdict.details.setdefault("task_type", kind)
        return verdict

    return judge


def math_constraint(gold_key: str = "answer", **verify_opts: Any) -> JudgeFn:
    """Rule-based constraint: ``judges.math.verify_math(response, task[gold_key])``."""

    def judge(response: str, task: Mapping[str, Any]) -> Verdict:
        from judges.math import verify_math

        if gold_key not in task:
            return Verdict.fail(f"task has no {gold_key!r}")
        return verify_math(response, str(task[gold_key]), **verify_opts)

    return judge


def ifeval_constraint(loose: bool = False) -> JudgeFn:
    """Rule-based constraint: ``judges.ifeval.check_instructions`` on the task's instructions
    (``task["instruction_id_list"]``, ``task.get("kwargs")``). A task without an instruction
    list, or with instructions the checker refuses (unknown id, bad kwargs), is misconfigured:
    a failing verdict that says so, not an exception out of the trainer."""

    def judge(response: str, task: Mapping[str, Any]) -> Verdict:
        from judges.ifeval import check_instructions

        ids = task.get("instruction_id_list")
        if not isinstance(ids, (list, tuple)) or not ids:
            return Verdict.fail("misconfigured task: no 'instruction_id_list' (a non-empty "
                                f"list of instruction ids); got {ids!r}"[:300])
        try:
            return check_instructions(response, ids, task.get("kwargs"),
                                      prompt=task.get("prompt"), loose=loose)
        except (TypeError, ValueError) as exc:
            return Verdict.fail(f"misconfigured task: {type(exc).__name__}: {exc}"[:300])

    return judge
