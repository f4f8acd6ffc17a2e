"""Reward schedules: how a judge's ``Verdict`` becomes the scalar reward an agent sees.

A schedule is explicit state. Environments call it on every scored reply; trainers advance it
(``advance(step=..., success_rate=...)``) and save/restore it with ``state_dict`` /
``load_state_dict`` alongside their checkpoints. Environments report both the scheduled reward
and the raw verdict, so a schedule never hides what the judge said.
"""

from __future__ import annotations

from typing import Any

from judges import Verdict

__all__ = ["RewardSchedule", "BinaryReward", "DenseReward", "make_schedule", "SCHEDULES"]


class RewardSchedule:
    """Base class: maps a verdict to a reward; carries state a trainer may advance."""

    name = "base"

    def __call__(self, verdict: Verdict) -> float:
        raise NotImplementedError

    def advance(self, *, step: int | None = None, success_rate: float | None = None) -> None:
        """Tell the schedule about training progress (no-op for stateless schedules)."""

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state is for schedule {state.get('name')!r}, not {self.name!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BinaryReward(RewardSchedule):
    """1.0 when the verdict passed, else 0.0."""

    name = "binary"

    def __call__(self, verdict: Verdict) -> float:
        return 1.0 if verdict.passed else 0.0


class DenseReward(RewardSchedule):
    """The verdict's score in [0, 1] (partial credit, format credit, fraction of tests)."""

    name = "dense"

    def __call__(self, verdict: Verdict) -> float:
        return float(verdict.score)


SCHEDULES: dict[str, type[RewardSchedule]] = {"binary": BinaryReward, "dense": DenseReward}


def make_schedule(spec: str | RewardSchedule) -> RewardSchedule:
    """A schedule from its name (``"binary"``, ``"dense"``, ...) or an instance."""
    if isinstance(spec, RewardSchedule):
        return spec
    if isinstance(spec, str) and spec in SCHEDULES:
        return SCHEDULES[spec]()
    raise ValueError(f"unknown reward schedule {spec!r}; choose one of {sorted(SCHEDULES)}")
