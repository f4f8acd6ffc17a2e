"""TRL adapter: any rlenvs environment as a ``GRPOTrainer`` dataset + reward function.

>>> from trl import GRPOTrainer, GRPOConfig
>>> from rlenvs.adapters import env_dataset, env_reward_func
>>> data = env_dataset("rlenvs/Arithmetic-v0", n=256, seed=0, level=1)
>>> reward = env_reward_func("rlenvs/Arithmetic-v0", level=1, lenient=True)
>>> GRPOTrainer(model, reward_funcs=reward, train_dataset=data, args=GRPOConfig(...)).train()

The dataset has TRL's conversational ``prompt`` column (the environment's reset observation)
and a ``task`` column (the task as JSON). The reward function pins each completion's task with
``reset(options={"task": ...})`` and returns the environment's reward for the completion, so
the environment's judges and reward schedule decide, exactly as in rlenvs' own trainers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["env_dataset", "env_reward_func"]


def env_dataset(env_id: str, n: int, seed: int = 0, **env_kwargs: Any) -> Any:
    """A ``datasets.Dataset`` of ``n`` seeded episodes' prompts and tasks (seeds ``seed..``)."""
    import datasets

    import rlenvs

    if n < 1:
        raise ValueError("n must be at least 1")
    env = rlenvs.make(env_id, **env_kwargs)
    rows = []
    for i in range(n):
        obs, info = env.reset(seed=seed + i)
        rows.append({"prompt": obs, "task": json.dumps(info["task"]), "seed": seed + i})
    env.close()
    return datasets.Dataset.from_list(rows)


def _completion_text(completion: Any) -> str:
    """TRL passes plain strings, or (conversational) a list of message dicts."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion
                       if isinstance(m, dict) and m.get("role", "assistant") == "assistant")
    raise TypeError(f"unsupported completion type {type(completion).__name__}")


def env_reward_func(env_id: str, **env_kwargs: Any) -> Callable[..., list[float]]:
    """A TRL reward function scoring completions with ``env_id``'s judges and schedule.

    Rows need the ``task`` column made by :func:`env_dataset` (or any JSON task the env takes).
    The function's ``__name__`` is the env id, so TRL logs ``rewards/<env id>``. After each
    call, ``func.last_verdicts`` holds the verdicts (reasons, components) for inspection.
    """
    import rlenvs

    env = rlenvs.make(env_id, **env_kwargs).unwrapped

    def reward(prompts: Sequence[Any], completions: Sequence[Any],
               task: Sequence[str] | None = None, **kwargs: Any) -> list[float]:
        if task is None:
            raise ValueError(
                f"{env_id} reward: the dataset needs a 'task' column (use rlenvs.adapters."
                "env_dataset to build it)"
            )
        rewards, verdicts = [], []
        for completion, task_json in zip(completions, task, strict=True):
            env.reset(options={"task": json.loads(task_json)})
            _, r, _, _, info = env.step(_completion_text(completion))
            rewards.append(float(r))
            verdicts.append(info["verdict"])
        reward.last_verdicts = verdicts  # type: ignore[attr-defined]
        return rewards

    reward.__name__ = env_id.replace("/", "_")
    reward.last_verdicts = []  # type: ignore[attr-defined]
    return reward
