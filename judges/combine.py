"""Combine judge scores: weights, per-component caps, and per-task mixes.

``combine({"helpful": (pointwise, 0.7), "format": (format_judge, 0.3)}, caps={"helpful": 0.8})``
is a judge whose score is ``sum(w_i * min(score_i, cap_i)) / sum(w_i)``; every part is reported
by name in ``details["components"]`` (the capped value) and ``details["parts"]``. ``gates`` are
judges that must pass for the combined score to count (else ``gate_score``). ``mix_per_task``
chooses weights by ``task[key]`` so one environment can weigh judges differently per task type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from judges.verdict import Verdict, fault_of

__all__ = ["combine", "mix_per_task"]

JudgeFn = Callable[[str, Mapping[str, Any]], Verdict]


def combine(
    parts: Mapping[str, tuple[JudgeFn, float]],
    caps: Mapping[str, float] | None = None,
    gates: Mapping[str, JudgeFn] | None = None,
    gate_score: float = 0.0,
    pass_threshold: float = 0.5,
) -> JudgeFn:
    """Weighted, capped mixture of judges, optionally gated by pass/fail judges."""
    if not parts:
        raise ValueError("combine needs at least one part")
    if any(w < 0 for _, w in parts.values()) or sum(w for _, w in parts.values()) <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    caps = dict(caps or {})
    unknown = set(caps) - set(parts)
    if unknown:
        raise ValueError(f"caps name unknown parts {sorted(unknown)}")
    gates = dict(gates or {})
    total = sum(w for _, w in parts.values())

    def judge(response: str, task: Mapping[str, Any]) -> Verdict:
        verdicts = {name: j(response, task) for name, j in gates.items()}
        closed = [n for n in gates if not verdicts[n].passed and verdicts[n].scored]
        verdicts.update({name: j(response, task) for name, (j, _) in parts.items()})
        components = {n: verdicts[n].score for n in gates}
        score = 0.0
        for name, (_, weight) in parts.items():
            value = min(verdicts[name].score, caps.get(name, 1.0))
            components[name] = value
            score += weight * value / total
        details = {"components": components,
                   "parts": {n: v.to_dict() for n, v in verdicts.items()}}
        if closed:
            reason = "; ".join(f"{n}: {verdicts[n].reason}" for n in closed)
            return Verdict(gate_score, False, f"gate failed ({reason})", details)
        fault = fault_of(verdicts, **details)  # a gate or a part that could not judge
        if fault is not None:
            return fault
        return Verdict(score, score >= pass_threshold, f"combined score {score:.3f}", details)

    return judge


def mix_per_task(
    judges: Mapping[str, JudgeFn],
    weights: Mapping[str, Mapping[str, float]],
    key: str = "task_type",
    default: str | None = None,
    caps: Mapping[str, float] | None = None,
) -> JudgeFn:
    """Per task type ``task[key]``, combine ``judges`` with ``weights[type]`` (zero = skipped)."""
    combined = {}
    for kind, mix in weights.items():
        unknown = set(mix) - set(judges)
        if unknown:
            raise ValueError(f"weights[{kind!r}] names unknown judges {sorted(unknown)}")
        used = {n: (judges[n], w) for n, w in mix.items() if w > 0}
        combined[kind] = combine(used, caps={n: c for n, c in (caps or {}).items() if n in used})

    def judge(response: str, task: Mapping[str, Any]) -> Verdict:
        kind = task.get(key, default)
        if kind not in combined:
            return Verdict.fail(f"no mix for {key}={kind!r}; known: {sorted(combined)}")
        verdict = combined[kind](response, task)
        verdict.details["task_type"] = kind
        return verdict

    return judge
