"""Evaluate a policy on an environment: seeded episodes, k samples each, a summary and transcripts.

Episode ``i`` is ``reset(seed=seed + i)``, so the same seed gives the same tasks. The ``k``
samples of an episode are ``clone()``-s of the reset environment (the same task), which is what
``pass@k`` needs. Multi-turn episodes are stepped in lock-step batches: every policy call covers
all episodes still running.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from judges.llm.base import ChatModel, SamplingParams
from rlenvs.registration import make

__all__ = ["evaluate", "EvalResult", "pass_at_k", "GROUP_KEYS"]

# Task keys that, when present, split the summary into groups (difficulty etc.).
GROUP_KEYS = ("level", "difficulty", "source")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator (Chen et al. 2021): ``1 - C(n-c, k) / C(n, k)``."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"k={k} is larger than the number of samples n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


@dataclass
class EvalResult:
    """Summary numbers plus one record per (episode, sample)."""

    env_id: str
    policy: str
    summary: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)

    def table_rows(self) -> list[tuple[str, str]]:
        s = self.summary
        rows = [("episodes x samples", f"{s['episodes']} x {s['samples']}")]
        rows.append(("mean reward", f"{s['mean_reward']:.3f}"))
        for key, value in s["pass_at_k"].items():
            rows.append((key, f"{value:.3f}"))
        for name, value in s["components"].items():
            rows.append((f"judge: {name}", f"{value:.3f}"))
        for group, stats in s["groups"].items():
            rows.append((f"{group}", f"pass@1 {stats['pass@1']:.3f}  (n={stats['episodes']})"))
        rows.append(("seconds", f"{s['seconds']:.1f}"))
        return rows


def evaluate(
    env_id: str,
    policy: ChatModel,
    episodes: int = 20,
    samples: int = 1,
    seed: int = 0,
    out: str | Path | None = None,
    env_kwargs: dict[str, Any] | None = None,
    sampling: SamplingParams | None = None,
    progress: bool = True,
) -> EvalResult:
    """Run ``episodes`` seeded episodes with ``samples`` samples each and summarise.

    Args:
        env_id: a registered id (``rlenvs list``).
        policy: anything with ``generate(conversations, sampling)`` (``rlenvs.load_policy``).
        out: write one JSON line per sample (transcript, rewards, verdicts) here, and the
            summary to ``<out>.summary.json``.
        sampling: defaults to greedy for one sample, temperature 0.8 for several.
    """
    if episodes < 1 or samples < 1:
        raise ValueError("episodes and samples must be at least 1")
    if sampling is None:
        sampling = SamplingParams(temperature=0.0 if samples == 1 else 0.8, seed=seed)
    elif sampling.seed is None:
        sampling = dataclasses.replace(sampling, seed=seed)
    started = time.perf_counter()
    base = make(env_id, **(env_kwargs or {}))
    runs: list[dict[str, Any]] = []
    for i in range(episodes):
        obs, info = base.reset(seed=seed + i)
        root = base.unwrapped
        for j in range(samples):
            runs.append(
                {
                    "env": root.clone(),
                    "obs": obs,
                    "episode": i,
                    "sample": j,
                    "seed": seed + i,
                    "task": info.get("task"),
                    "rewards": [],
                    "infos": [],
                    "done": False,
                }
            )
    base.close()
    bar = _progress(len(runs), f"eval {env_id}", progress)
    round_ = 0
    while True:
        active = [r for r in runs if not r["done"]]
        if not active:
            break
        params = dataclasses.replace(sampling, seed=sampling.seed + 1_000_003 * round_)
        replies = policy.generate([r["obs"] for r in active], params)
        if len(replies) != len(active):
            raise RuntimeError(f"policy returned {len(replies)} replies for {len(active)} prompts")
        for run, reply in zip(active, replies, strict=True):
            obs, reward, terminated, truncated, info = run["env"].step(reply)
            run["obs"] = obs
            run["rewards"].append(reward)
            run["infos"].append(info)
            if terminated or truncated:
                run["done"] = True
                bar.update(1)
        round_ += 1
    bar.close()
    records = [_record(env_id, r) for r in runs]
    summary = summarize(records, samples)
    summary["seconds"] = time.perf_counter() - started
    result = EvalResult(env_id=env_id, policy=getattr(policy, "name", "policy"),
                        summary=summary, records=records)
    if out is not None:
        write_results(result, out)
    return result


def _record(env_id: str, run: dict[str, Any]) -> dict[str, Any]:
    last = run["infos"][-1]
    verdict = last["verdict"]
    return {
        "env_id": env_id,
        "episode": run["episode"],
        "sample": run["sample"],
        "seed": run["seed"],
        "task": run["task"],
        "messages": run["obs"],
        "rewards": run["rewards"],
        "return": float(sum(run["rewards"])),
        "passed": bool(verdict.passed),
        "verdict": verdict.to_dict(),
        "reward_components": last.get("reward_components", {}),
        "turns": len(run["rewards"]),
        **({"tool_calls": last["tool_calls"]} if "tool_calls" in last else {}),
    }


def summarize(records: Sequence[dict[str, Any]], samples: int) -> dict[str, Any]:
    """Mean reward, unbiased pass@k, per-judge means and per-group pass@1."""
    by_episode: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_episode[r["episode"]].append(r)
    ks = sorted({1, samples})
    pass_k = {
        f"pass@{k}": float(np.mean([
            pass_at_k(len(rs), sum(x["passed"] for x in rs), k) for rs in by_episode.values()
        ]))
        for k in ks
    }
    components: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for name, value in r["reward_components"].items():
            if isinstance(value, (int, float)) and not math.isnan(value):
                components[name].append(float(value))
    groups: dict[str, list[float]] = defaultdict(list)
    for rs in by_episode.values():
        task = rs[0]["task"] or {}
        for key in GROUP_KEYS:
            if key in task and isinstance(task[key], (str, int)):
                groups[f"{key}={task[key]}"].append(np.mean([x["passed"] for x in rs]))
    return {
        "episodes": len(by_episode),
        "samples": samples,
        "mean_reward": float(np.mean([r["return"] for r in records])),
        "pass_at_k": pass_k,
        "components": {k: float(np.mean(v)) for k, v in sorted(components.items())},
        "groups": {
            g: {"pass@1": float(np.mean(v)), "episodes": len(v)} for g, v in sorted(groups.items())
        },
    }


def write_results(result: EvalResult, out: str | Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for record in result.records:
            f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    summary = {"env_id": result.env_id, "policy": result.policy, **result.summary}
    Path(str(out) + ".summary.json").write_text(json.dumps(summary, indent=2))


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)
