"""``TaskEnv``: a single- or multi-attempt environment = task source + prompt + judge.

The prompt function sees only the task's public fields (``public_fields``), so a prompt cannot
show the policy a private field (answer, tests, reference) by construction. A ``TaskEnv`` that
declares no public fields derives them per task: the fields its prompt function reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
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
        public_fields: the task fields the policy may see (the prompt is built from them
            only); default: the class's ``public_fields``, else the fields ``prompt`` reads.
        **kwargs: ``LLMEnv`` options (reward schedule, system prompt, ...).
    """

    def __init__(
        self,
        source: TaskSource,
        prompt: Callable[[dict[str, Any]], str],
        judge: JudgeFn,
        required_keys: tuple[str, ...] = (),
        public_fields: tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.prompt = prompt
        self.judge = judge
        self.required_keys = required_keys
        if public_fields is not None:
            self.public_fields = tuple(public_fields)

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

    def public_task(self, task: dict[str, Any]) -> dict[str, Any]:
        if self.public_fields:
            return super().public_task(task)
        reads = _Reads(task)
        self.prompt(reads)  # type: ignore[arg-type]
        return {k: task[k] for k in task if k in reads.seen}

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        public = self.public_task(task)
        try:
            return [{"role": "user", "content": self.prompt(public)}]
        except KeyError as e:
            if e.args and e.args[0] in task and e.args[0] not in public:
                raise KeyError(f"the prompt of {type(self).__name__} reads the task field "
                               f"{e.args[0]!r}, which is not one of its public_fields "
                               f"{list(self.public_fields)}: declare it public if the policy "
                               "may see it, or build the prompt without it") from None
            raise

    def respond(self, reply: str) -> Turn:
        verdict = self.judge(reply, self.task)
        components = verdict.details.get("components") if isinstance(verdict.details, dict) else None
        return Turn(
            verdict=verdict,
            terminated=True,
            reward_components=dict(components) if components else {"score": verdict.score},
        )


class _Reads(Mapping[str, Any]):
    """A read-only task that records which fields are read (iterating it reads them all)."""

    def __init__(self, task: Mapping[str, Any]) -> None:
        self._task, self.seen = task, set[str]()

    def __getitem__(self, key: str) -> Any:
        self.seen.add(key)
        return self._task[key]

    def __iter__(self) -> Iterator[str]:
        self.seen.update(self._task)
        return iter(self._task)

    def __len__(self) -> int:
        return len(self._task)
