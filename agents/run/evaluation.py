"""Held-out evaluation of a policy during training, through ``rlenvs.evaluation.evaluate``.

Greedy decoding on task seeds ``seed, seed+1, ...`` (trainers default to 10,000,000 onwards, far
from the training seeds); accuracy is pass@1 (the judge's ``passed``), which does not depend on
the reward schedule.
"""

from __future__ import annotations

from typing import Any

__all__ = ["evaluate_policy"]


def evaluate_policy(policy: Any, env_id: str, env_kwargs: dict[str, Any] | None = None, *,
                    episodes: int = 50, seed: int = 10_000_000,
                    max_new_tokens: int = 256) -> dict[str, Any]:
    """Run ``episodes`` greedy episodes of ``env_id`` with ``policy`` (a chat model).

    Returns ``eval/pass@1``, ``eval/mean_reward`` (over the scored episodes; ``None`` when no
    episode could be judged), ``eval/episodes``, ``eval/unscored`` (episodes whose judge could
    not judge: faults, never counted as failures), ``eval/seed`` and ``eval/seconds``.
    """
    from judges.llm.base import SamplingParams
    from rlenvs.evaluation import evaluate

    result = evaluate(env_id, policy, episodes=episodes, seed=seed, env_kwargs=env_kwargs,
                      progress=False,
                      sampling=SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens,
                                              seed=seed))
    s = result.summary
    return {"eval/pass@1": s["pass_at_k"]["pass@1"], "eval/mean_reward": s["mean_reward"],
            "eval/episodes": s["episodes"], "eval/unscored": int(s.get("unscored") or 0),
            "eval/seed": seed, "eval/seconds": s["seconds"]}
