"""An example plugin: ``reverse/Reverse-v0`` asks the policy to spell a word backwards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import rlenvs
from judges import Verdict

WORDS = ["gymnasium", "reward", "policy", "verifier", "rollout", "gradient", "token", "judge"]


def _task(rng: np.random.Generator) -> dict[str, Any]:
    word = WORDS[int(rng.integers(len(WORDS)))]
    return {"id": word, "word": word, "answer": word[::-1]}


def _judge(reply: str, task: Mapping[str, Any]) -> Verdict:
    guess = reply.strip().strip(".").lower()
    if guess == task["answer"]:
        return Verdict.ok()
    return Verdict.fail(f"expected {task['answer']!r}, got {guess[:40]!r}")


class ReverseEnv(rlenvs.TaskEnv):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            source=rlenvs.ProceduralSource(_task),
            prompt=lambda t: f"Write the word '{t['word']}' backwards. Reply with the word only.",
            judge=_judge,
            required_keys=("word", "answer"),
            **kwargs,
        )


def register_envs() -> None:
    rlenvs.register("reverse/Reverse-v0", entry_point="rlenvs_reverse:ReverseEnv")
