"""Mixture of Judges (CGPO): a reward that counts only when every constraint judge passes.

``MixtureOfJudges(reward, constraints)`` is a judge. For a response ``a`` to prompt ``s``:

* every constraint judge (rule-based -- math answer, unit tests, instruction checks -- or
  LLM-based, e.g. ``YesNoJudge``) is run; ``passed`` is their AND with the reward judge's own
  ``passed`` (an unparseable or failed reward -- a GRM whose samples did not parse -- fails the
  mixture; give the reward judge ``pass_threshold=0`` to use it purely as a score);
* the reward is ``r(s, a)`` from the reward judge, or, with a baseline response ``ā`` in
  ``task[baseline_key]``, the **calibrated reward** ``σ(scale · (r(s, a) − r(s, ā)))`` -- about
  ``P(a ≻ ā)``, comparable across prompts;
* the score is that reward if all constraints pass, else ``violation_score`` (0). A baseline
  the reward judge could not score (``details["unscored"]``) fails the mixture too: its
  fallback score would otherwise calibrate any response upwards.

``details["components"]`` has the reward, the calibrated reward and each constraint's score by
name; ``details["parts"]`` each full verdict; ``details["violations"]`` the failed constraints.
``per_task`` routes each task to its own mixture (CGPO stratifies tasks).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from judges.verdict import Verdict

__all__ = ["MixtureOfJudges", "per_task", "math_constraint", "ifeval_constraint"]

JudgeFn = Callable[[str, Mapping[str, Any]], Verdict]


class MixtureOfJudges:
    """Constraint-gated (optionally calibrated) reward.

    Args:
        reward: judge whose score is ``r(s, a)``.
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
        self.baseline_key = baseline_key
        self.calibrate = calibrate
        self.scale = scale
        self.violation_score = violation_score
        self.name = name

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        parts = {name: judge(response, task) for name, judge in self.constraints.items()}
        violations = [name for name, v in parts.items() if not v.passed]
        components: dict[str, float] = {name: v.score for name, v in parts.items()}
        reward = self.reward(response, task)
        parts[self.name] = reward
        components[self.name] = reward.score
        if not reward.passed:
            violations.append(self.name)
        value, how = reward.score, "reward"
        if self.calibrate and self.baseline_key in task:
            base = self.reward(str(task[self.baseline_key]), task)
            parts[f"{self.name}_baseline"] = base
            if base.details.get("unscored"):
                violations.append(f"{self.name}_baseline")
            value = 1.0 / (1.0 + math.exp(-self.scale * (reward.score - base.score)))
            components[f"{self.name}_calibrated"] = value
            how = f"calibrated reward σ({self.scale:g}·({reward.score:.3f} − {base.score:.3f}))"
        details: dict[str, Any] = {
            "components": components,
            "parts": {name: v.to_dict() for name, v in parts.items()},
            "violations": violations,
        }
        if violations:
            reasons = "; ".join(f"{n}: {parts[n].reason}" for n in violations)
            return Verdict(self.violation_score, False, f"constraint failed ({reasons})", details)
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
    """Rule-based constraint: ``judges.ifeval.check_instructions`` on the task's instructions."""

    def judge(response: str, task: Mapping[str, Any]) -> Verdict:
        from judges.ifeval import check_instructions

        return check_instructions(response, task["instruction_id_list"], task["kwargs"],
                                  prompt=task.get("prompt"), loose=loose)

    return judge
