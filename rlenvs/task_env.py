"""``TaskEnv``: a single- or multi-attempt environment = task source + prompt + judge."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from judges import Verdict
from rlenvs.core import LLMEnv, Turn
from rlenvs.tasks import TaskSource

__all__ = ["TaskEnv"]

JudgeFn = Callable[[str, Mapping[str, Any]], Verdict]


class TaskEnv(LLMEnv):
    """One prompt, one scored reply (``max_turns=1``), built from parts.

    Args:
        source: where tasks come from.
        prompt: ``task -> user message text``.
        judge: ``(reply, task) -> Verdict``.
        required_keys: keys a task pinned through ``options={"task": ...}`` must have.
        **kwargs: ``LLMEnv`` options (reward schedule, system prompt, ...).
    """

    def __init__(
        self,
        source: TaskSource,
        prompt: Callable[[dict[str, Any]], str],
        judge: JudgeFn,
        required_keys: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.prompt = prompt
        self.judge = judge
        self.required_keys = required_keys

    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        return self.source.sample(rng)

    def validate_task(self, task: Any) -> dict[str, Any]:
        task = super().validate_task(task)
        missing = [k for k in self.required_keys if k not in task]
        if missing:
            raise ValueError(
                f"options['task'] is missing {missing}; a task for {type(self).__name__} "
                f"needs the keys {list(self.required_keys)}"
            )
        return task

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"role": "user", "content": self.prompt(task)}]

    def respond(self, reply: str) -> Turn:
        verdict = self.judge(reply, self.task)
        components = verdict.details.get("components") if isinstance(verdict.details, dict) else None
        return Turn(
            verdict=verdict,
            terminated=True,
            reward_components=dict(components) if components else {"score": verdict.score},
        )
