"""verl adapter: a ``compute_score`` reward function and a multi-turn interaction.

* ``compute_score(data_source, solution_str, ground_truth, extra_info=None)`` is verl's custom
  reward function signature (``custom_reward_function.path`` / ``.name`` in verl's config).
  ``data_source`` is an rlenvs env id; ``extra_info["task"]`` (a dict or JSON string, as
  written by :func:`verl_rows`) pins the exact task; without it the task is built from
  ``ground_truth`` for the env families whose task is a question + gold answer (math,
  arithmetic). Returns verl's dict form: ``{"score", "acc", "reason", "judgeable",
  "reward_status", "reward_cause"}`` (verl logs every key but ``score`` as reward extra info,
  one list per key, so every call returns the same keys).
* :class:`EnvInteraction` follows verl's ``BaseInteraction`` interface (async
  ``start_interaction`` / ``generate_response`` / ``calculate_score`` /
  ``finalize_interaction``), driving any multi-turn rlenvs env (tool envs, unary feedback).
  It does not import verl; subclass-free duck typing keeps verl optional.

What reaches the policy is the prompt (``verl_rows``' ``prompt``: the task's public fields only)
and the interaction's feedback text; the verdict's reason an interaction returns is withheld
when it names a private value (:mod:`rlenvs.serving.public`). ``reward_model.ground_truth`` and
``extra_info`` hold the whole task: verl hands them to the reward function only (judge side).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from rlenvs.adapters.final_answer import score_final_answer
from rlenvs.serving.public import PublicView

__all__ = ["compute_score", "verl_rows", "EnvInteraction"]

_ENVS: dict[tuple[str, str], Any] = {}
_PUBLIC = PublicView()


def _env(env_id: str, env_kwargs: dict[str, Any] | None = None) -> Any:
    import rlenvs

    key = (env_id, json.dumps(env_kwargs or {}, sort_keys=True))
    if key not in _ENVS:
        _ENVS[key] = rlenvs.make(env_id, **(env_kwargs or {})).unwrapped
    return _ENVS[key]


def _task(extra_info: dict[str, Any] | None, ground_truth: Any) -> dict[str, Any]:
    task = (extra_info or {}).get("task")
    if isinstance(task, str):
        task = json.loads(task)
    if isinstance(task, dict):
        return task
    if ground_truth is None:
        raise ValueError("need extra_info['task'] or a ground_truth")
    return {"question": (extra_info or {}).get("question", ""), "answer": str(ground_truth)}


def compute_score(data_source: str, solution_str: str, ground_truth: Any = None,
                  extra_info: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Score one verl rollout with the rlenvs environment named by ``data_source``.

    ``solution_str`` may be a whole decoded tool conversation: only its final answer is judged,
    no tool runs again. Extra keyword arguments verl passes (``reward_kwargs`` from the config,
    ``reward_router_address``, ``reward_model_tokenizer``) are accepted and ignored.
    ``judgeable`` is False (and ``reason`` starts with ``cannot judge:``) when the conversation
    has no final answer.

    A fault is not a reward: ``reward_status`` is ``"scored"`` or ``"unscored"`` (the judge's
    backend failed, the sandbox could not start, ...), ``reward_cause`` names the fault
    (``""`` when scored). verl has no "ignore this sample" value for ``score`` (a NaN would
    spread through its advantages), so an unscored sample's ``score`` is the placeholder 0.0
    and its ``acc`` False: filter or mask on ``reward_status`` (verl hands it to custom reward
    managers and logs it with the batch's reward extra info).
    """
    env_kwargs = (extra_info or {}).get("env_kwargs")
    env = _env(data_source, env_kwargs)
    reply = solution_str if isinstance(solution_str, str) else ""
    reward, verdict = score_final_answer(env, _task(extra_info, ground_truth), reply)
    return {"score": float(reward), "acc": bool(verdict.passed), "reason": verdict.reason,
            "judgeable": not verdict.details.get("unjudgeable", False),
            "reward_status": verdict.status, "reward_cause": verdict.cause or ""}


def verl_rows(env_id: str, n: int, seed: int = 0, **env_kwargs: Any) -> list[dict[str, Any]]:
    """Rows in verl's RL dataset layout (write them to parquet for ``data.train_files``)."""
    import rlenvs

    env = rlenvs.make(env_id, **env_kwargs)
    rows = []
    for i in range(n):
        obs, info = env.reset(seed=seed + i)
        task = info["task"]
        rows.append({
            "data_source": env_id,
            "prompt": obs,
            "ability": env_id.split("/")[-1],
            "reward_model": {"style": "rule", "ground_truth": str(task.get("answer", ""))},
            "extra_info": {"task": json.dumps(task), "index": i, "seed": seed + i,
                           "env_kwargs": env_kwargs or None},
        })
    return rows


class EnvInteraction:
    """verl ``BaseInteraction``-shaped driver of a multi-turn rlenvs environment.

    Config: ``{"name": ..., "env_id": ..., "env_kwargs": {...}}``. ``start_interaction`` takes
    ``task`` (dict or JSON) or ``seed``; ``generate_response`` steps the env with the last
    assistant message and returns ``(should_terminate, env_reply_text, turn_reward, info)``.
    """

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.name = config.get("name", "rlenvs")
        if "env_id" not in config:
            raise ValueError("EnvInteraction config needs 'env_id'")
        self._instances: dict[str, dict[str, Any]] = {}

    async def start_interaction(self, instance_id: str | None = None, **kwargs: Any) -> str:
        import rlenvs

        instance_id = instance_id or str(uuid.uuid4())
        env = rlenvs.make(self.config["env_id"], **self.config.get("env_kwargs", {})).unwrapped
        task = kwargs.get("task")
        if isinstance(task, str):
            task = json.loads(task)
        options = {"task": task} if task else None
        env.reset(seed=kwargs.get("seed"), options=options)
        self._instances[instance_id] = {"env": env, "rewards": [], "done": False}
        return instance_id

    async def generate_response(self, instance_id: str, messages: list[dict[str, Any]],
                                **kwargs: Any) -> tuple[bool, str, float, dict[str, Any]]:
        state = self._instances.get(instance_id)
        if state is None:
            raise KeyError(f"unknown interaction {instance_id!r}; call start_interaction first")
        if state["done"]:
            return True, "", 0.0, {"reason": "episode already ended"}
        reply = next((m.get("content", "") for m in reversed(messages)
                      if m.get("role") == "assistant"), "")
        seen = len(state["env"].episode.messages) + 1  # + the reply being stepped
        obs, reward, terminated, truncated, info = state["env"].step(reply or "")
        state["rewards"].append(float(reward))
        state["done"] = terminated or truncated
        feedback = "" if state["done"] else "\n".join(
            m["content"] for m in obs[seen:] if m["role"] != "assistant")
        return state["done"], feedback, float(reward), {
            "reason": _PUBLIC.text(state["env"], info["verdict"].reason),
            "passed": info["verdict"].passed,
            "reward_components": info["reward_components"],
            "reward_status": info.get("reward_status", "scored"),
            "reward_cause": info.get("reward_cause") or "",
        }

    async def calculate_score(self, instance_id: str | None = None, **kwargs: Any) -> float:
        """The episode's total reward so far (the last one started, if no id is given)."""
        if instance_id is None and self._instances:
            instance_id = next(reversed(self._instances))
        state = self._instances.get(instance_id or "")
        return float(sum(state["rewards"])) if state else 0.0

    async def finalize_interaction(self, instance_id: str | None = None, **kwargs: Any) -> None:
        if instance_id is None:
            self._instances.clear()
        else:
            self._instances.pop(instance_id, None)
