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

A fault is not a reward: a completion whose verdict is *unscored* (the judge's backend failed,
the sandbox could not start, ...: ``info["reward_status"] == "unscored"``) gets ``None``, TRL's
value for a reward that does not apply (``GRPOTrainer`` turns it into NaN and leaves it out of
its nan-aware sums, group means and logged reward), never a 0 it would learn from. Under TRL the
function also logs ``rewards/<name>/unscored_frac`` (TRL's ``log_metric``).

Only the ``prompt`` column reaches the policy, and it is built from the task's public fields
(``env.public_task``). The ``task`` column holds the whole task, answer included: TRL hands
dataset columns other than the prompt to reward functions only (judge side, in-process), and
the reward function needs the reference to judge.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from judges.verdict import is_unscored
from rlenvs.adapters.final_answer import score_final_answer

__all__ = ["env_dataset", "env_reward_func", "prompt_without_tools"]


def prompt_without_tools(env: Any, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` (a reset observation) without a tool env's tool-calling instructions."""
    from rlenvs.tools.tool_env import ToolEnv

    inner = env.unwrapped
    if not isinstance(inner, ToolEnv) or not inner.instructions:
        return messages
    out = []
    for m in messages:
        if m["role"] == "system":
            content = m["content"].replace(inner.instructions, "").strip()
            if not content:
                continue
            m = {**m, "content": content}
        out.append(m)
    return out


def env_dataset(env_id: str, n: int, seed: int = 0, tool_prompt: bool = False,
                **env_kwargs: Any) -> Any:
    """A ``datasets.Dataset`` of ``n`` seeded episodes' prompts and tasks (seeds ``seed..``).

    For a tool environment the prompt leaves out the tool-calling instructions unless
    ``tool_prompt=True``: a single-turn trainer cannot return tool results, so a prompt offering
    tools only teaches the policy to call tools it never hears back from. (With TRL's
    ``environment_factory`` the chat template describes the tools; see
    :func:`rlenvs.adapters.trl_env.environment_factory`.)
    """
    import datasets

    import rlenvs

    if n < 1:
        raise ValueError("n must be at least 1")
    env = rlenvs.make(env_id, **env_kwargs)
    rows = []
    for i in range(n):
        obs, info = env.reset(seed=seed + i)
        if not tool_prompt:
            obs = prompt_without_tools(env, obs)
        rows.append({"prompt": obs, "task": json.dumps(info["task"]), "seed": seed + i})
    env.close()
    return datasets.Dataset.from_list(rows)


def env_reward_func(env_id: str, **env_kwargs: Any) -> Callable[..., list[float | None]]:
    """A TRL reward function scoring completions with ``env_id``'s judges and schedule.

    Rows need the ``task`` column made by :func:`env_dataset` (or any JSON task the env takes).
    A completion may be a whole tool conversation (tool call -> tool result -> final answer):
    only its final answer is judged and no tool runs again (``rlenvs.adapters.final_answer``);
    a conversation without a final answer scores 0.0 with a ``cannot judge:`` verdict (the
    policy's failure: a judgement). A completion whose verdict is unscored (a fault of the
    judge or the sandbox) gets ``None``, which TRL leaves out of the reward.
    The function's ``__name__`` is the env id with ``/`` replaced by ``_``
    (``rlenvs_Arithmetic-v0`` for ``rlenvs/Arithmetic-v0``): TRL names its metrics
    ``rewards/<__name__>/mean``, and a ``/`` inside the name would split that metric path. After
    each call, ``func.last_verdicts`` holds the verdicts (reasons, components) for inspection.
    """
    import rlenvs

    env = rlenvs.make(env_id, **env_kwargs).unwrapped

    def reward(prompts: Sequence[Any], completions: Sequence[Any],
               task: Sequence[str] | None = None, **kwargs: Any) -> list[float | None]:
        """Rewards of the completions' final answers (tools are not re-run); ``None`` where
        the verdict is unscored (a fault, not a judgement)."""
        if task is None:
            raise ValueError(
                f"{env_id} reward: the dataset needs a 'task' column (use rlenvs.adapters."
                "env_dataset to build it)"
            )
        rewards: list[float | None] = []
        verdicts = []
        for completion, task_json in zip(completions, task, strict=True):
            r, verdict = score_final_answer(env, json.loads(task_json), completion)
            rewards.append(None if is_unscored(verdict) else r)
            verdicts.append(verdict)
        reward.last_verdicts = verdicts  # type: ignore[attr-defined]
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and rewards:  # TRL's hook for a reward function's metrics
            unscored = sum(r is None for r in rewards) / len(rewards)
            log_metric(f"rewards/{reward.__name__}/unscored_frac", unscored)
        return rewards

    reward.__name__ = env_id.replace("/", "_")
    reward.last_verdicts = []  # type: ignore[attr-defined]
    return reward
