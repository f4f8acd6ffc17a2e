"""Reward schedules: how a judge's ``Verdict`` becomes the scalar reward an agent sees.

A schedule is explicit state. Environments call it on every scored reply; trainers advance it
(``advance(step=..., success_rate=...)``) and save/restore it with ``state_dict`` /
``load_state_dict`` alongside their checkpoints. Environments report both the scheduled reward
and the raw verdict, so a schedule never hides what the judge said.
"""

from __future__ import annotations

from typing import Any

from judges import Verdict

__all__ = [
    "RewardSchedule",
    "BinaryReward",
    "DenseReward",
    "DenseThenBinary",
    "OverlongShaping",
    "LengthPenalty",
    "make_schedule",
    "SCHEDULES",
]


class RewardSchedule:
    """Base class: maps a verdict to a reward; carries state a trainer may advance."""

    name = "base"

    def __call__(self, verdict: Verdict, reply: str | None = None) -> float:
        """The reward for ``verdict`` (``reply`` is the text judged, for length shaping)."""
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

    def __call__(self, verdict: Verdict, reply: str | None = None) -> float:
        return 1.0 if verdict.passed else 0.0


class DenseReward(RewardSchedule):
    """The verdict's score in [0, 1] (partial credit, format credit, fraction of tests)."""

    name = "dense"

    def __call__(self, verdict: Verdict, reply: str | None = None) -> float:
        return float(verdict.score)


class DenseThenBinary(RewardSchedule):
    """DELTA's two-stage schedule: dense reward first, binary after a trigger.

    The switch happens when ``advance`` reports ``step >= switch_step`` or a running success
    rate (mean of the last ``window`` reported rates) of at least ``switch_success_rate``;
    whichever is set and fires first. Once switched it stays switched (and survives
    ``state_dict``/``load_state_dict``).
    """

    name = "dense_then_binary"

    def __init__(
        self,
        switch_step: int | None = None,
        switch_success_rate: float | None = None,
        window: int = 5,
    ) -> None:
        if switch_step is None and switch_success_rate is None:
            raise ValueError("set switch_step and/or switch_success_rate")
        self.switch_step = switch_step
        self.switch_success_rate = switch_success_rate
        self.window = window
        self.switched = False
        self.switched_at: int | None = None
        self.step = 0
        self._rates: list[float] = []

    @property
    def stage(self) -> str:
        return "binary" if self.switched else "dense"

    def __call__(self, verdict: Verdict, reply: str | None = None) -> float:
        if self.switched:
            return 1.0 if verdict.passed else 0.0
        return float(verdict.score)

    def advance(self, *, step: int | None = None, success_rate: float | None = None) -> None:
        self.step = self.step + 1 if step is None else int(step)
        if success_rate is not None:
            self._rates = (self._rates + [float(success_rate)])[-self.window :]
        if self.switched:
            return
        by_step = self.switch_step is not None and self.step >= self.switch_step
        by_rate = (
            self.switch_success_rate is not None
            and len(self._rates) >= min(self.window, 1)
            and sum(self._rates) / len(self._rates) >= self.switch_success_rate
        )
        if by_step or by_rate:
            self.switched = True
            self.switched_at = self.step

    def state_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "switch_step": self.switch_step,
            "switch_success_rate": self.switch_success_rate,
            "window": self.window,
            "switched": self.switched,
            "switched_at": self.switched_at,
            "step": self.step,
            "rates": list(self._rates),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.switch_step = state["switch_step"]
        self.switch_success_rate = state["switch_success_rate"]
        self.window = state["window"]
        self.switched = state["switched"]
        self.switched_at = state["switched_at"]
        self.step = state["step"]
        self._rates = list(state["rates"])

    def __repr__(self) -> str:
        return (
            f"DenseThenBinary(switch_step={self.switch_step}, "
            f"switch_success_rate={self.switch_success_rate}, stage={self.stage!r})"
        )


class _LengthShaped(RewardSchedule):
    """Base of schedules that add a length term to another schedule's reward."""

    def __init__(self, base: str | dict[str, Any] | RewardSchedule = "binary",
                 tokenizer: Any = None) -> None:
        self.base = make_schedule(base)
        self.tokenizer = tokenizer

    def length(self, reply: str) -> int:
        """Length of ``reply``: tokens with ``tokenizer`` (anything with ``encode``), else chars."""
        if self.tokenizer is None:
            return len(reply)
        return len(self.tokenizer.encode(reply, add_special_tokens=False))

    def penalty(self, length: int) -> float:
        raise NotImplementedError

    def __call__(self, verdict: Verdict, reply: str | None = None) -> float:
        reward = self.base(verdict, reply)
        return reward if reply is None else reward + self.penalty(self.length(reply))

    def advance(self, *, step: int | None = None, success_rate: float | None = None) -> None:
        self.base.advance(step=step, success_rate=success_rate)

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.base.load_state_dict(state["base"])


class OverlongShaping(_LengthShaped):
    """DAPO's soft overlong punishment added to a base schedule's reward.

    With ``L_max = max_length`` and ``L_cache = cache_length``::

        R_len(|y|) = 0                                   if |y| <= L_max - L_cache
                   = ((L_max - L_cache) - |y|) / L_cache  if L_max - L_cache < |y| <= L_max
                   = -1                                  if |y| > L_max

    times ``penalty_factor``. Length is in tokens when a ``tokenizer`` is given, else characters.
    """

    name = "overlong"

    def __init__(self, base: str | dict[str, Any] | RewardSchedule = "binary",
                 max_length: int = 4096, cache_length: int = 1024, penalty_factor: float = 1.0,
                 tokenizer: Any = None) -> None:
        if not 0 < cache_length <= max_length:
            raise ValueError("need 0 < cache_length <= max_length")
        if penalty_factor < 0:  # a negative factor pays for length: wrong and long beats right
            raise ValueError(f"penalty_factor must be >= 0, got {penalty_factor}")
        super().__init__(base, tokenizer)
        self.max_length, self.cache_length = max_length, cache_length
        self.penalty_factor = penalty_factor

    def penalty(self, length: int) -> float:
        soft_start = self.max_length - self.cache_length
        if length <= soft_start:
            return 0.0
        if length <= self.max_length:
            return self.penalty_factor * (soft_start - length) / self.cache_length
        return -self.penalty_factor


class LengthPenalty(_LengthShaped):
    """A linear penalty for replies longer than ``target_length``, capped at ``max_penalty``:
    ``-min(max_penalty, coef * max(0, |y| - target_length) / target_length)``."""

    name = "length_penalty"

    def __init__(self, base: str | dict[str, Any] | RewardSchedule = "binary",
                 target_length: int = 1024, coef: float = 0.5, max_penalty: float = 0.5,
                 tokenizer: Any = None) -> None:
        if target_length <= 0 or coef < 0 or max_penalty < 0:
            raise ValueError("need target_length > 0, coef >= 0 and max_penalty >= 0")
        super().__init__(base, tokenizer)
        self.target_length, self.coef, self.max_penalty = target_length, coef, max_penalty

    def penalty(self, length: int) -> float:
        excess = max(0, length - self.target_length) / self.target_length
        return -min(self.max_penalty, self.coef * excess)


SCHEDULES: dict[str, type[RewardSchedule]] = {
    "binary": BinaryReward,
    "dense": DenseReward,
    "dense_then_binary": DenseThenBinary,
    "overlong": OverlongShaping,
    "length_penalty": LengthPenalty,
}


def make_schedule(spec: str | dict[str, Any] | RewardSchedule) -> RewardSchedule:
    """A schedule from its name, a dict ``{"name": ..., **kwargs}``, or an instance.

    ``"dense_then_binary"`` alone switches after 50 steps; pass a dict to choose the trigger.
    Length shaping wraps another schedule: ``{"name": "overlong", "base": "dense",
    "max_length": 512, "cache_length": 128}``.
    """
    if isinstance(spec, RewardSchedule):
        return spec
    if isinstance(spec, dict):
        kwargs = dict(spec)
        name = kwargs.pop("name", None)
        if name in SCHEDULES:
            return SCHEDULES[name](**kwargs)
        spec = name
    if spec == "dense_then_binary":
        return DenseThenBinary(switch_step=50)
    if isinstance(spec, str) and spec in SCHEDULES:
        return SCHEDULES[spec]()
    raise ValueError(f"unknown reward schedule {spec!r}; choose one of {sorted(SCHEDULES)}")
