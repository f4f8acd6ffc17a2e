"""The evaluation loop: seeded episodes stepped in lock-step turns under wall-clock budgets.

Used by :func:`rlenvs.evaluation.evaluate` (read its docstring first). Each *run* is one
(episode, sample): a clone of the reset environment, its conversation so far, rewards, infos and
the seconds of work it has used. Every call that may never return (a reset, a batch's generation,
a step) gets what the runs it serves have left of their budgets (:mod:`rlenvs.deadlines`); a run
past its budget is ended as unscored, cause ``"deadline"``, and the others go on.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from judges import Verdict
from judges.llm.base import SamplingParams
from rlenvs.deadlines import Budget, DeadlineExceeded, call_with_deadline
from rlenvs.registration import make

__all__ = ["run_seed", "start_runs", "play", "record_of"]


def start_runs(env_id: str, env_kwargs: dict[str, Any], base: Any, episodes: int,
               samples: int, seed: int, kept: dict[tuple[int, int], Any],
               episode_timeout: float | None, run_budget: Budget,
               emit: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    """One run per (episode, sample) not kept; an episode whose reset runs past its budget is
    recorded as a deadline for each of its samples (and the next episode gets a fresh env)."""
    runs: list[dict[str, Any]] = []
    try:
        for i in range(episodes):
            needed = [j for j in range(samples) if (i, j) not in kept]
            if not needed:
                continue
            fresh = [{"env": None, "obs": [], "episode": i, "sample": j, "seed": seed + i,
                      "task": None, "rewards": [], "infos": [], "finish_reasons": [],
                      "completion_tokens": [], "done": False, "elapsed": 0.0, "fault": None}
                     for j in needed]
            runs.extend(fresh)
            began = time.monotonic()
            try:
                obs, info = call_with_deadline(base.reset, _limit(fresh, episode_timeout,
                                                                  run_budget),
                                               seed=seed + i, what="reset")
            except DeadlineExceeded as e:
                for run in fresh:
                    _fault(run, e, episode_timeout, run_budget)
                    emit(run)
                base = make(env_id, **env_kwargs)  # the stuck one is left behind
                continue
            root = base.unwrapped
            for run in fresh:
                run.update(env=root.clone(), obs=obs, task=info.get("task"),
                           elapsed=time.monotonic() - began)
    finally:
        base.close()
    return runs


def _limit(runs: Sequence[dict[str, Any]], episode_timeout: float | None,
           run_budget: Budget) -> float | None:
    """Seconds the next call for ``runs`` may take: the least any of them has left."""
    lefts = [episode_timeout - r["elapsed"] for r in runs] if episode_timeout is not None else []
    if (left := run_budget.left()) is not None:
        lefts.append(left)
    return max(min(lefts), 0.0) if lefts else None


def _fault(run: dict[str, Any], error: BaseException, episode_timeout: float | None,
           run_budget: Budget) -> None:
    """Mark ``run`` ended by its deadline."""
    if run_budget.spent() or episode_timeout is None:
        reason = f"the run's budget of {run_budget.seconds:g} s ran out ({error})"
    else:
        reason = f"the episode's budget of {episode_timeout:g} s ran out ({error})"
    run["fault"] = Verdict.unscored(f"unscored: {reason}", "deadline")
    run["done"] = True


def play(runs: list[dict[str, Any]], policy: Any, sampling: SamplingParams,
         episode_timeout: float | None, run_budget: Budget,
         emit: Callable[[dict[str, Any]], None], bar: Any) -> int:
    """Step every run to its end in lock-step turns; returns the completion tokens used."""
    tokens = replies = 0
    generating = time.perf_counter()
    turn = 0
    while active := [r for r in runs if not r["done"]]:
        size = max(1, int(getattr(policy, "batch_size", 16) or 16))
        for start in range(0, len(active), size):
            batch = active[start : start + size]
            seeds = [run_seed(sampling.seed, r["episode"], r["sample"], turn) for r in batch]
            began = time.monotonic()
            try:
                made = call_with_deadline(_generate, _limit(batch, episode_timeout, run_budget),
                                          policy, [r["obs"] for r in batch], sampling, seeds,
                                          what="generation")
            except DeadlineExceeded as e:
                for run in batch:
                    _fault(run, e, episode_timeout, run_budget)
                    emit(run)
                bar.update(len(batch))
                continue
            spent = time.monotonic() - began
            for run, (reply, finish, used) in zip(batch, made, strict=True):
                run["elapsed"] += spent
                tokens += max(used, 0)
                began = time.monotonic()
                try:
                    stepped = call_with_deadline(run["env"].step,
                                                 _limit([run], episode_timeout, run_budget),
                                                 reply, what="env step")
                except DeadlineExceeded as e:
                    run["obs"] = [*run["obs"], {"role": "assistant", "content": reply}]
                    run["finish_reasons"].append(finish)
                    run["completion_tokens"].append(used if used >= 0 else None)
                    _fault(run, e, episode_timeout, run_budget)
                else:
                    _apply(run, stepped, finish, used)
                run["elapsed"] += time.monotonic() - began
                if run["done"]:
                    emit(run)
            replies += len(batch)
            bar.update(sum(r["done"] for r in batch))
            rate = tokens / max(time.perf_counter() - generating, 1e-9)
            # moves with every batch, also in a turn where no episode ends (multi-turn)
            bar.set_postfix_str(f"turn {turn + 1}, {replies} replies" +
                                (f", {rate:.0f} tok/s" if tokens else ""))
        turn += 1
    return tokens


def _apply(run: dict[str, Any], stepped: tuple, finish: str | None, used: int) -> None:
    obs, reward, terminated, truncated, info = stepped
    run["obs"] = obs
    run["rewards"].append(reward)
    run["infos"].append(info)
    run["finish_reasons"].append(finish)
    run["completion_tokens"].append(used if used >= 0 else None)
    run["done"] = bool(terminated or truncated)


def _generate(policy: Any, conversations: list[Any], sampling: SamplingParams,
              seeds: list[int]) -> list[tuple[str, str | None, int]]:
    """(reply, finish reason, completion tokens) per conversation, each with its own seed."""
    detailed = getattr(policy, "generate_completions", None)
    if detailed is not None:
        done = detailed(conversations, sampling, seeds=seeds)
        out = [(c.text, c.finish_reason, c.completion_tokens) for c in done]
    elif sampling.temperature > 0:  # one call per seed keeps each reply independent
        out = [(policy.generate([conv], dataclasses.replace(sampling, seed=s))[0], None, -1)
               for conv, s in zip(conversations, seeds, strict=True)]
    else:
        out = [(text, None, -1) for text in policy.generate(conversations, sampling)]
    if len(out) != len(conversations):
        raise RuntimeError(f"policy returned {len(out)} replies for {len(conversations)} prompts")
    return out



def record_of(env_id: str, run: dict[str, Any]) -> dict[str, Any]:
    """One transcript line. ``status`` is ``"unscored"`` when any turn's reward was a fault or
    the episode ran past its deadline (``cause`` and ``unscored_reason`` say which)."""
    fault = run["fault"]
    if fault is None:
        fault = next((info["verdict"] for info in run["infos"]
                      if info.get("reward_status", "scored") != "scored"), None)
    last = run["infos"][-1] if run["infos"] else {}
    verdict = fault if run["fault"] is not None or not last else last["verdict"]
    return {
        "env_id": env_id,
        "episode": run["episode"],
        "sample": run["sample"],
        "seed": run["seed"],
        "task": run["task"],
        "messages": run["obs"],
        "rewards": run["rewards"],
        "return": float(sum(run["rewards"])),
        "passed": bool(verdict.passed) and fault is None,
        "status": "scored" if fault is None else "unscored",
        **({"cause": fault.cause, "unscored_reason": fault.reason} if fault is not None else {}),
        "verdict": verdict.to_dict(),
        "reward_components": last.get("reward_components", {}),
        "turns": len(run["rewards"]),
        "finish_reasons": run["finish_reasons"],
        "completion_tokens": run["completion_tokens"],
        **({"tool_calls": calls} if (calls := _tool_calls(run["infos"])) or
           "tool_calls" in last else {}),
        **({"step_rewards": last["step_rewards"]} if last.get("step_rewards") else {}),
        **({"tool_call_errors": errors} if (errors := [
            e for info in run["infos"] for e in info.get("tool_call_errors") or []]) else {}),
    }


def _tool_calls(infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tool call of the episode, each with the turn it was made in."""
    return [{"turn": turn, **call} for turn, info in enumerate(infos, 1)
            for call in info.get("tool_calls") or [] if isinstance(call, dict)]


def run_seed(seed: int, episode: int, sample: int, turn: int) -> int:
    """The sampling seed of one reply; depends on nothing but these four numbers."""
    return int(np.random.SeedSequence([seed, episode, sample, turn]).generate_state(1)[0])
