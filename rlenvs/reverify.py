"""``rlenvs eval --reverify RUN``: re-score stored transcripts with the current judges.

Each transcript is replayed on the environment as it is now: ``reset`` pinned to the stored task
(``options={"task": ...}``, the stored seed) and the stored replies stepped in order, so the
environment's current judge scores the stored reply (and a multi-turn environment answers with
its current feedback and tools). Nothing is generated; no policy is needed.

What changed is counted by kind -- ``pass -> fail`` (a pass the current judges refuse: a hack
closed), ``fail -> pass``, ``unscored -> scored`` (a fault now judged), ``scored -> unscored``,
``still unscored``, ``score changed`` and ``unchanged`` -- and written, with examples, into the
new summary. The original run is never touched: the re-scored transcripts go to ``out``
(default ``RUN`` with ``.reverified`` before its suffix) and its ``.summary.json``.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from rlenvs.deadlines import DeadlineExceeded, call_with_deadline
from rlenvs.eval_files import (
    check_out_path,
    read_summary,
    read_transcripts,
    rewrite_transcripts,
    write_summary_dict,
)
from rlenvs.eval_loop import record_of
from rlenvs.eval_summary import record_scored, summarize
from rlenvs.registration import make

__all__ = ["reverify", "default_reverify_out", "CHANGE_KINDS"]

CHANGE_KINDS = ("pass -> fail", "fail -> pass", "unscored -> scored", "scored -> unscored",
                "still unscored", "score changed", "unchanged")


def default_reverify_out(run: str | Path) -> Path:
    run = Path(run)
    return run.with_name(f"{run.stem}.reverified{run.suffix or '.jsonl'}")


def reverify(run: str | Path, out: str | Path | None = None, *,
             episode_timeout: float | None = None, progress: bool = True) -> dict[str, Any]:
    """Re-score the transcripts of ``run`` (an ``rlenvs eval --out`` file) with the current
    judges; write them to ``out`` and return the new summary (``summary["reverified"]`` holds
    the changes)."""
    from tqdm.auto import tqdm

    from rlenvs.evaluation import judge_label, versions

    run = Path(run)
    if not run.is_file():
        raise ValueError(f"--reverify {run}: no such transcript file (an `rlenvs eval --out` file)")
    records = read_transcripts(run)
    if not records:
        raise ValueError(f"--reverify {run}: no transcripts in it")
    before = read_summary(run) or {}
    config = dict(before.get("config") or {})
    env_id = config.get("env_id") or records[0].get("env_id")
    if not env_id:
        raise ValueError(f"--reverify {run}: its transcripts do not name their environment")
    env_kwargs = dict(config.get("env_kwargs") or {})
    out = Path(out) if out is not None else default_reverify_out(run)
    if out.resolve() == run.resolve():
        raise ValueError("--reverify writes beside the run it re-scores; give another --out "
                         "(the original transcripts are kept as they are)")
    out = check_out_path(out)
    started = time.perf_counter()
    env = make(env_id, **env_kwargs)
    scored_by = judge_label(env)
    fresh: list[dict[str, Any]] = []
    kinds: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    for old in tqdm(records, desc=f"reverify {env_id}", disable=not progress, unit="transcript"):
        new, env = _rescore(env_id, env_kwargs, env, old, episode_timeout)
        kind = change_kind(old, new)
        kinds[kind] += 1
        if kind not in ("unchanged", "still unscored") and len(examples) < 20:
            examples.append({"episode": old["episode"], "sample": old["sample"], "change": kind,
                             "before": _state(old), "after": _state(new),
                             "reason": (new.get("verdict") or {}).get("reason", "")})
        fresh.append(new)
    env.close()
    samples = int(config.get("samples") or max(int(r["sample"]) for r in records) + 1)
    summary = summarize(fresh, samples)
    summary.update({
        "scored_by": scored_by,
        "partial": bool(before.get("partial", False)),
        "planned": before.get("planned", len(records)),
        "seconds": time.perf_counter() - started,
        "config": {**config, "env_id": env_id, "env_kwargs": env_kwargs,
                   "reverified_with": versions()},
        "reverified": {"source": str(run), "transcripts": len(records),
                       "changes": {k: kinds[k] for k in CHANGE_KINDS if kinds[k]},
                       "examples": examples,
                       "before": {k: before.get(k) for k in ("pass_at_k", "mean_reward",
                                                             "unscored") if k in before}},
    })
    summary = {"env_id": env_id, "policy": before.get("policy", ""), **summary}
    rewrite_transcripts(out, fresh)
    write_summary_dict(out, summary)
    summary["out"] = str(out)
    return summary


def _replies(record: dict[str, Any]) -> list[str]:
    return [str(m.get("content", "")) for m in record.get("messages") or []
            if isinstance(m, dict) and m.get("role") == "assistant"]


def _rescore(env_id: str, env_kwargs: dict[str, Any], env: Any, old: dict[str, Any],
             episode_timeout: float | None) -> tuple[dict[str, Any], Any]:
    """The transcript replayed on ``env`` (and the env to use next: a fresh one after a stuck
    call)."""
    replies = _replies(old)
    if old.get("cause") == "deadline" or not replies:
        kept = dict(old)
        kept["reverify_note"] = ("not re-scored: the episode never finished (it ran past its "
                                 "deadline); `rlenvs eval --resume` runs it again")
        return kept, env
    run = {"episode": old["episode"], "sample": old["sample"], "seed": old.get("seed"),
           "task": old.get("task"), "obs": old.get("messages"), "rewards": [], "infos": [],
           "finish_reasons": [], "completion_tokens": [], "fault": None}
    from judges import Verdict

    began = time.monotonic()
    try:
        left = None if episode_timeout is None else episode_timeout
        _, info = call_with_deadline(env.reset, left, seed=old.get("seed"),
                                     options={"task": old.get("task")}, what="reset")
        done = False
        for reply in replies:
            if episode_timeout is not None:
                left = episode_timeout - (time.monotonic() - began)
            obs, reward, terminated, truncated, info = call_with_deadline(
                env.step, left, reply, what="env step")
            run["obs"] = obs
            run["rewards"].append(reward)
            run["infos"].append(info)
            done = bool(terminated or truncated)
            if done:
                break
        if not done:
            run["fault"] = Verdict.unscored(
                "unscored: the current environment asks for more turns than the transcript "
                f"has ({len(replies)})", "env")
    except DeadlineExceeded as e:
        run["fault"] = Verdict.unscored(f"unscored: re-scoring ran past its budget of "
                                        f"{episode_timeout:g} s ({e})", "deadline")
        env = make(env_id, **env_kwargs)
    n = len(run["rewards"])
    run["finish_reasons"] = list(old.get("finish_reasons") or [None] * n)[:n]
    run["completion_tokens"] = list(old.get("completion_tokens") or [None] * n)[:n]
    new = record_of(env_id, run)
    if run["fault"] is not None and not run["infos"]:
        new["messages"] = old.get("messages")
    new["reverified_from"] = _state(old)
    return new, env


def _state(record: dict[str, Any]) -> dict[str, Any]:
    scored = record_scored(record)
    return {"status": "scored" if scored else "unscored", "passed": bool(record.get("passed")),
            "return": record.get("return"),
            **({} if scored else {"cause": record.get("cause") or
                                  (record.get("verdict") or {}).get("cause")})}


def change_kind(old: dict[str, Any], new: dict[str, Any]) -> str:
    """How a transcript's judgement changed (one of :data:`CHANGE_KINDS`)."""
    was, now = record_scored(old), record_scored(new)
    if not was:
        return "unscored -> scored" if now else "still unscored"
    if not now:
        return "scored -> unscored"
    if bool(old.get("passed")) != bool(new.get("passed")):
        return "pass -> fail" if old.get("passed") else "fail -> pass"
    if abs(float(old.get("return") or 0.0) - float(new.get("return") or 0.0)) > 1e-9:
        return "score changed"
    return "unchanged"
