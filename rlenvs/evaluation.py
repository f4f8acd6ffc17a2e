"""Evaluate a policy on an environment: seeded episodes, k samples each, a summary and transcripts.

Episode ``i`` is ``reset(seed=seed + i)``, so the same seed gives the same tasks. The ``k``
samples of an episode are ``clone()``-s of the reset environment (the same task), which is what
``pass@k`` needs. Multi-turn episodes are stepped in lock-step rounds, each split into batches
of the policy's ``batch_size`` (the progress bar moves per batch: episodes done, replies
generated and the token rate; it stays on screen when done).

Reproducible: sample ``j`` of episode ``i`` draws its turn-``t`` reply with its own seed
(derived from ``seed, i, j, t``), so replies do not depend on the batch size or on which other
episodes are running. Crash-safe: ``out`` is checked before anything runs, every transcript is
appended to it as its episode ends, and ``<out>.summary.json`` records the full configuration
(env kwargs, sampling, seeds, versions) next to the numbers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from judges.llm.base import ChatModel, SamplingParams
from rlenvs.registration import make

__all__ = ["evaluate", "EvalResult", "pass_at_k", "pass_at_k_ks", "GROUP_KEYS", "check_out_path",
           "print_table", "policy_label", "run_seed", "versions", "hardware"]

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


def pass_at_k_ks(samples: int) -> list[int]:
    """The k reported for ``samples`` per episode: every power of two up to it, and itself."""
    return sorted({2**i for i in range(samples.bit_length()) if 2**i <= samples} | {samples})


def run_seed(seed: int, episode: int, sample: int, turn: int) -> int:
    """The sampling seed of one reply; depends on nothing but these four numbers."""
    return int(np.random.SeedSequence([seed, episode, sample, turn]).generate_state(1)[0])


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
        if s.get("finish_reasons"):
            rows.append(("finish reasons", ", ".join(f"{k} {v}" for k, v in
                                                     s["finish_reasons"].items())))
        rows.append(("seconds", f"{s['seconds']:.1f}"))
        return rows


def evaluate(
    env: Any,
    policy: ChatModel | Callable[[list[dict[str, Any]]], str],
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
        env: a registered id (``rlenvs list``) or an environment made with ``rlenvs.make``.
        policy: anything with ``generate(conversations, sampling)`` (``rlenvs.load_policy``),
            or a plain function ``messages -> reply`` (wrapped in ``FunctionPolicy``).
        out: append one JSON line per sample (transcript, rewards, verdicts, finish reasons,
            token counts) here as episodes end, and the summary to ``<out>.summary.json``.
        sampling: defaults to greedy for one sample, temperature 0.8 for several.
    """
    from rlenvs.policies import as_policy

    if episodes < 1 or samples < 1:
        raise ValueError(f"episodes and samples must be at least 1, got episodes={episodes}, "
                         f"samples={samples}")
    env_id, env_kwargs = _env_id(env, env_kwargs)
    policy = as_policy(policy)
    if sampling is None:
        sampling = SamplingParams(temperature=0.0 if samples == 1 else 0.8, seed=seed)
    elif sampling.seed is None:
        sampling = dataclasses.replace(sampling, seed=seed)
    if out is not None:
        out = check_out_path(out)
    started = time.perf_counter()
    base = make(env_id, **env_kwargs)
    runs: list[dict[str, Any]] = []
    for i in range(episodes):
        obs, info = base.reset(seed=seed + i)
        root = base.unwrapped
        for j in range(samples):
            runs.append({"env": root.clone(), "obs": obs, "episode": i, "sample": j,
                         "seed": seed + i, "task": info.get("task"), "rewards": [],
                         "infos": [], "finish_reasons": [], "completion_tokens": [],
                         "done": False})
    base.close()
    records: list[dict[str, Any]] = []
    sink = out.open("w", encoding="utf-8") if out is not None else None
    bar = _progress(len(runs), f"eval {env_id}", progress)
    tokens = replies = 0
    generating = time.perf_counter()
    try:
        turn = 0
        while active := [r for r in runs if not r["done"]]:
            size = max(1, int(getattr(policy, "batch_size", 16) or 16))
            for start in range(0, len(active), size):
                batch = active[start : start + size]
                seeds = [run_seed(sampling.seed, r["episode"], r["sample"], turn) for r in batch]
                for run, (reply, finish, used) in zip(
                        batch, _generate(policy, [r["obs"] for r in batch], sampling, seeds),
                        strict=True):
                    tokens += max(used, 0)
                    _step(run, reply, finish, used)
                    if run["done"]:
                        records.append(_record(env_id, run))
                        if sink is not None:
                            sink.write(json.dumps(records[-1], ensure_ascii=False,
                                                  default=str) + "\n")
                            sink.flush()
                replies += len(batch)
                bar.update(sum(r["done"] for r in batch))
                rate = tokens / max(time.perf_counter() - generating, 1e-9)
                # moves with every batch, also in a turn where no episode ends (multi-turn)
                bar.set_postfix_str(f"turn {turn + 1}, {replies} replies" +
                                    (f", {rate:.0f} tok/s" if tokens else ""))
            turn += 1
    finally:
        bar.close()
        if sink is not None:
            sink.close()
    records.sort(key=lambda r: (r["episode"], r["sample"]))
    summary = summarize(records, samples)
    summary["seconds"] = time.perf_counter() - started
    summary["completion_tokens"] = tokens
    summary["config"] = {
        "env_id": env_id, "env_kwargs": env_kwargs, "episodes": episodes, "samples": samples,
        "seed": seed, "task_seeds": [seed, seed + episodes - 1],
        "sampling": sampling.to_dict(), "per_reply_seed": "run_seed(seed, episode, sample, turn)",
        "policy": policy_label(policy), "versions": versions(), "hardware": hardware(policy),
    }
    result = EvalResult(env_id=env_id, policy=policy_label(policy), summary=summary,
                        records=records)
    if out is not None:
        write_summary(result, out)
    return result


def policy_label(policy: Any) -> str:
    """What a policy is called in results: its ``name`` (the model, and the URL for HTTP)."""
    name = str(getattr(policy, "name", "") or type(policy).__name__)
    url = getattr(policy, "base_url", None)
    return f"{name} @ {url}" if url and str(url) not in name else name


def _env_id(env: Any, env_kwargs: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    if isinstance(env, str):
        return env, dict(env_kwargs or {})
    spec = getattr(env, "spec", None)
    if spec is None or not getattr(spec, "id", None):
        raise TypeError("env must be an environment id or an environment made with rlenvs.make, "
                        f"got {type(env).__name__}")
    if env_kwargs:
        raise ValueError("env_kwargs only applies when env is given as an id")
    return spec.id, dict(spec.kwargs or {})


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


def _step(run: dict[str, Any], reply: str, finish: str | None, used: int) -> None:
    obs, reward, terminated, truncated, info = run["env"].step(reply)
    run["obs"] = obs
    run["rewards"].append(reward)
    run["infos"].append(info)
    run["finish_reasons"].append(finish)
    run["completion_tokens"].append(used if used >= 0 else None)
    run["done"] = bool(terminated or truncated)


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


def summarize(records: Sequence[dict[str, Any]], samples: int) -> dict[str, Any]:
    """Mean reward, unbiased pass@k, per-judge means and per-group pass@1."""
    by_episode: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_episode[r["episode"]].append(r)
    pass_k = {
        f"pass@{k}": float(np.mean([
            pass_at_k(len(rs), sum(x["passed"] for x in rs), k) for rs in by_episode.values()
        ]))
        for k in pass_at_k_ks(samples)
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
    finishes: dict[str, int] = defaultdict(int)
    for r in records:
        for reason in r.get("finish_reasons") or []:
            if reason is not None:
                finishes[reason] += 1
    return {
        "episodes": len(by_episode),
        "samples": samples,
        "mean_reward": float(np.mean([r["return"] for r in records])),
        "pass_at_k": pass_k,
        "components": {k: float(np.mean(v)) for k, v in sorted(components.items())},
        "groups": {
            g: {"pass@1": float(np.mean(v)), "episodes": len(v)} for g, v in sorted(groups.items())
        },
        "finish_reasons": dict(sorted(finishes.items())),
    }


def check_out_path(out: str | Path) -> Path:
    """Make sure transcripts can be written to ``out`` (and its summary beside it) before any
    work starts; raises ``ValueError`` with a one-line reason otherwise."""
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory; give a file name such as {out}/eval.jsonl")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a", encoding="utf-8"), Path(str(out) + ".summary.json").open("a"):
            pass
    except OSError as e:
        raise ValueError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    return out


def write_summary(result: EvalResult, out: str | Path) -> Path:
    path = Path(str(out) + ".summary.json")
    summary = {"env_id": result.env_id, "policy": result.policy, **result.summary}
    path.write_text(json.dumps(summary, indent=2, default=str))
    return path


def write_results(result: EvalResult, out: str | Path) -> None:
    """Write all transcripts and the summary at once (for results built in memory)."""
    out = check_out_path(out)
    with out.open("w", encoding="utf-8") as f:
        for record in result.records:
            f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    write_summary(result, out)


def hardware(policy: Any) -> dict[str, Any]:
    """The CPU an evaluation ran on, and the generation dtype of a local torch policy
    (``judges.llm.cpu_dtype.cpu_facts``); a remote policy's dtype is not known here."""
    from judges.llm.cpu_dtype import DTYPE_NAMES, cpu_facts

    dtype = getattr(getattr(policy, "model", None), "dtype", None)
    return cpu_facts(dtype if dtype in DTYPE_NAMES.values() else None)


def versions() -> dict[str, str]:
    """Versions of what decides an evaluation's numbers."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for dist in ("rlenvs", "gymnasium", "torch", "transformers", "math-verify", "openai",
                 "vllm"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return found


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, unit="episode", dynamic_ncols=True)


def print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    """Print metric rows as a rich table (as plain text: ``[...]`` is shown, not read as markup,
    so a row's ``[judge]`` label stays visible)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title))
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in rows:
        table.add_row(Text(k), Text(v))
    Console().print(table)
