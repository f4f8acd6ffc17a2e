"""GHPO hints: difficulty-aware guidance from reference solutions (Liu et al. 2025, "GHPO:
Adaptive Guidance for Stable and Efficient LLM Reinforcement Learning", arXiv 2507.10628).

*Difficulty detection.* A group of ``G`` rollouts of question ``q`` in which no rollout is
correct (the reference code: every accuracy reward ``<= 0``; here: no rollout passes its judge)
gives GRPO nothing to learn from: every advantage is zero.

*Adaptive prompt refinement.* Such a group is sampled again from a refined question that
carries the first part of the task's reference solution ``h``::

    q~(w) = q + P + h[: round(w * |h|)]

with ``P`` the instruction "The following text is the beginning part of the answer, which you
can refer to for solving the problem:" and the hint ratio ``w`` running through a schedule of
stages ``w_1 < w_2 < ...`` (0.25, 0.5, 0.75 in the reference code): stage ``k`` is tried only
if every rollout of stage ``k - 1`` failed, so a problem gets the least guidance under which
the policy solves it at least once. ``|h|`` counts characters and ``round`` is Python's
(half to even), as in the reference code.

The group is then trained on the rollouts of the last stage it was sampled at, with the
refined question as its prompt: the hint is prompt text, so it is never in the loss — the
policy learns only from the tokens it sampled itself (imitation enters through the
conditioning, not through a likelihood term on the reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "HINT_INSTRUCTION",
    "DEFAULT_HINT_RATIOS",
    "hint_prefix",
    "with_hint",
    "reference_solution",
    "all_wrong_groups",
    "check_hint_ratios",
]

# The reference code's wording (``ghpo_trainer.py``), leading space and newlines included.
HINT_INSTRUCTION = ("\n The following text is the beginning part of the answer, which you can "
                    "refer to for solving the problem:\n")
DEFAULT_HINT_RATIOS: tuple[float, ...] = (0.25, 0.5, 0.75)


def hint_prefix(solution: str, ratio: float) -> str:
    """The first ``round(ratio * len(solution))`` characters of ``solution``."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"hint ratio must be in [0, 1], got {ratio!r}")
    return solution[: round(len(solution) * ratio)]


def with_hint(messages: Sequence[dict[str, Any]], hint: str,
              instruction: str = HINT_INSTRUCTION) -> list[dict[str, Any]]:
    """A copy of a conversation whose first user message (the question ``q``) becomes
    ``q + instruction + hint`` (``hint = hint_prefix(h, w)``: the refined question ``q~(w)``).

    Later turns (tool results, retry feedback) are left as they are; applying this to every
    observation of an episode keeps the conversation a growing prefix."""
    out = [dict(m) for m in messages]
    for m in out:
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            m["content"] = m["content"] + instruction + hint
            return out
    raise ValueError("cannot place a hint: the conversation has no user message with text")


def reference_solution(task: Any) -> str | None:
    """The task's worked solution (``task["solution"]``: GSM8K and MATH rows, Arithmetic-v0),
    or ``None`` when it has none."""
    if not isinstance(task, dict):
        return None
    solution = task.get("solution")
    return solution if isinstance(solution, str) and solution.strip() else None


def all_wrong_groups(passed: Sequence[bool], groups: Sequence[int]) -> list[int]:
    """Groups (in first-seen order) in which no rollout passed."""
    if len(passed) != len(groups):
        raise ValueError(f"{len(passed)} outcomes for {len(groups)} group ids")
    any_pass: dict[int, bool] = {}
    for ok, g in zip(passed, groups, strict=True):
        any_pass[int(g)] = any_pass.get(int(g), False) or bool(ok)
    return [g for g, ok in any_pass.items() if not ok]


def check_hint_ratios(ratios: Sequence[float]) -> tuple[float, ...]:
    """The schedule as a tuple; ``ValueError`` unless it is non-empty, within (0, 1] and
    strictly increasing (each stage gives more of the solution than the last)."""
    values = tuple(float(r) for r in ratios)
    if not values:
        raise ValueError("hint_ratios needs at least one stage, e.g. [0.25, 0.5, 0.75]")
    if any(not 0.0 < r <= 1.0 for r in values):
        raise ValueError(f"every hint ratio must be in (0, 1], got {list(values)}")
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ValueError(f"hint_ratios must increase from stage to stage, got {list(values)}")
    return values
