"""``rlenvs compare RUN_A RUN_B``: per environment, pass@1 of two runs and the difference
``B - A`` with a bootstrap 95% confidence interval; a difference whose interval excludes 0 is
flagged significant.

A run is an ``rlenvs eval --out`` transcript file or a folder of them (``eval --suite
--out-dir``, the main job's ``--output-dir``). Environments are matched by id and kwargs (from
each file's ``.summary.json``; the file's name where there is none). Only scored transcripts
count: an unscored one (a fault, not a failure) is left out and counted.

Paired or not: when both runs hold the same ``(episode, sample)`` transcripts with the same task
seeds, the difference is paired -- each pair's ``passed_B - passed_A``, over the pairs scored in
both runs. Otherwise the two runs are resampled independently. The bootstrap resamples whole
episodes (a cluster bootstrap: the samples of one episode are not independent), with a fixed RNG
seed, so the same runs always print the same intervals.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load_run", "compare_runs", "compare_env", "print_comparison", "add_compare_parser"]

RESAMPLES = 10_000


def _key(env_id: str, kwargs: dict[str, Any]) -> str:
    return env_id + (" " + json.dumps(kwargs, sort_keys=True, default=str) if kwargs else "")


def load_run(path: str | Path) -> dict[str, dict[str, Any]]:
    """``{key: {"label", "env_id", "env_kwargs", "records", "source"}}`` for each transcript file
    of ``path`` (a file, or a folder's ``*.jsonl``)."""
    from rlenvs.eval_files import NotTranscripts, read_summary, read_transcripts

    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = [p for p in sorted(path.glob("*.jsonl"))
                 if not p.name.endswith(".reverified.jsonl")]
    else:
        raise FileNotFoundError(f"{path}: no such file or folder (an `rlenvs eval --out` "
                                "transcript file, or a suite's or the main job's folder)")
    run: dict[str, dict[str, Any]] = {}
    for f in files:
        try:
            records = read_transcripts(f)
        except NotTranscripts:
            continue  # another JSON-lines file in the folder
        if not records:
            continue
        summary = read_summary(f) or {}
        config = summary.get("config") or {}
        env_id = summary.get("env_id") or records[0].get("env_id") or f.stem
        kwargs = config.get("env_kwargs") or {}
        key = _key(env_id, kwargs)
        if key in run:  # two files of the same env and kwargs: told apart by their names
            key = f"{key} [{f.stem}]"
        run[key] = {"label": f.stem if path.is_dir() else env_id, "env_id": env_id,
                    "env_kwargs": kwargs, "records": records, "source": str(f)}
    if not run:
        raise ValueError(f"{path} holds no `rlenvs eval` transcripts")
    return run


def _cluster_means(sums: np.ndarray, counts: np.ndarray, rng: np.random.Generator,
                   resamples: int) -> np.ndarray:
    """Bootstrap means of per-episode (sum, count): resample episodes with replacement."""
    idx = rng.integers(0, len(sums), size=(resamples, len(sums)))
    num, den = sums[idx].sum(axis=1), counts[idx].sum(axis=1)
    return num / den


def _by_episode(values: dict[tuple[int, int], float]) -> tuple[np.ndarray, np.ndarray]:
    sums: dict[int, float] = defaultdict(float)
    counts: dict[int, int] = defaultdict(int)
    for (episode, _), v in values.items():
        sums[episode] += v
        counts[episode] += 1
    order = sorted(sums)
    return (np.array([sums[e] for e in order], dtype=float),
            np.array([counts[e] for e in order], dtype=float))


def compare_env(records_a: list[dict[str, Any]], records_b: list[dict[str, Any]], *,
                seed: int = 0, resamples: int = RESAMPLES, confidence: float = 0.95,
                paired: bool | None = None) -> dict[str, Any]:
    """pass@1 of A and B over their scored transcripts, ``diff = B - A`` and its bootstrap CI.
    ``paired=None``: paired when both runs have the same (episode, sample) keys and task seeds."""
    from rlenvs.eval_summary import record_scored

    def index(records: list[dict[str, Any]]) -> dict[tuple[int, int], dict[str, Any]]:
        return {(int(r["episode"]), int(r.get("sample", 0))): r for r in records}

    a, b = index(records_a), index(records_b)
    same = bool(a) and a.keys() == b.keys() and all(
        a[k].get("seed") == b[k].get("seed") for k in a)
    if paired is None:
        paired = same
    elif paired and not same:
        raise ValueError("a paired comparison needs both runs to hold the same (episode, sample) "
                         "transcripts with the same task seeds")
    scored_a = {k: float(bool(r["passed"])) for k, r in a.items() if record_scored(r)}
    scored_b = {k: float(bool(r["passed"])) for k, r in b.items() if record_scored(r)}
    out: dict[str, Any] = {
        "paired": paired, "transcripts_a": len(a), "transcripts_b": len(b),
        "unscored_a": len(a) - len(scored_a), "unscored_b": len(b) - len(scored_b),
        "confidence": confidence, "resamples": resamples, "rng_seed": seed,
    }
    lo_q, hi_q = 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2
    rng = np.random.default_rng(seed)
    if paired:
        both = sorted(scored_a.keys() & scored_b.keys())
        out["pairs"] = len(both)
        out["left_out_unpaired"] = len(a) - len(both)  # unscored in one run or the other
        if not both:
            return {**out, "pass@1_a": None, "pass@1_b": None, "n_a": 0, "n_b": 0,
                    "diff": None, "ci": None, "significant": False}
        pa = float(np.mean([scored_a[k] for k in both]))
        pb = float(np.mean([scored_b[k] for k in both]))
        sums, counts = _by_episode({k: scored_b[k] - scored_a[k] for k in both})
        boots = _cluster_means(sums, counts, rng, resamples)
        n_a = n_b = len(both)
    else:
        n_a, n_b = len(scored_a), len(scored_b)
        if not scored_a or not scored_b:
            return {**out, "pass@1_a": float(np.mean(list(scored_a.values()))) if n_a else None,
                    "pass@1_b": float(np.mean(list(scored_b.values()))) if n_b else None,
                    "n_a": n_a, "n_b": n_b, "diff": None, "ci": None, "significant": False}
        pa, pb = float(np.mean(list(scored_a.values()))), float(np.mean(list(scored_b.values())))
        sa, ca = _by_episode(scored_a)
        sb, cb = _by_episode(scored_b)
        boots = _cluster_means(sb, cb, rng, resamples) - _cluster_means(sa, ca, rng, resamples)
    lo, hi = (float(x) for x in np.percentile(boots, [lo_q, hi_q]))
    diff = pb - pa
    return {**out, "pass@1_a": pa, "pass@1_b": pb, "n_a": n_a, "n_b": n_b, "diff": diff,
            "ci": [lo, hi], "significant": bool(lo > 0 or hi < 0)}


def compare_runs(run_a: str | Path, run_b: str | Path, *, seed: int = 0,
                 resamples: int = RESAMPLES, confidence: float = 0.95) -> dict[str, Any]:
    """Every env the two runs share, compared (:func:`compare_env`); envs in one run only are
    listed apart."""
    a, b = load_run(run_a), load_run(run_b)
    if len(a) == 1 and len(b) == 1 and a.keys() != b.keys():
        # two single transcript files: compare them whatever their kwargs (the user chose them)
        (ka, ea), (_, eb) = next(iter(a.items())), next(iter(b.items()))
        if ea["env_id"] == eb["env_id"]:
            a, b = {ka: ea}, {ka: eb}
    envs = []
    for key in [k for k in a if k in b]:
        row = compare_env(a[key]["records"], b[key]["records"], seed=seed, resamples=resamples,
                          confidence=confidence)
        envs.append({"env": a[key]["label"], "env_id": a[key]["env_id"],
                     "env_kwargs": a[key]["env_kwargs"], **row})
    return {"run_a": str(run_a), "run_b": str(run_b), "difference": "B - A", "envs": envs,
            "only_in_a": [a[k]["label"] for k in a if k not in b],
            "only_in_b": [b[k]["label"] for k in b if k not in a]}


def _num(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def print_comparison(result: dict[str, Any]) -> None:
    """The comparison as a table on stdout."""
    import os

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=160)
    table = Table(title=Text(f"A = {result['run_a']}   B = {result['run_b']}"))
    table.add_column("environment", no_wrap=True)
    level = result["envs"][0]["confidence"] if result["envs"] else 0.95
    for name in ("pass@1 A", "n A", "pass@1 B", "n B", "B - A", f"{level:.0%} CI"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("notes", overflow="fold")
    for row in result["envs"]:
        notes = ["paired" if row["paired"] else "unpaired"]
        if row["unscored_a"] or row["unscored_b"]:
            notes.append(f"unscored left out: A {row['unscored_a']}, B {row['unscored_b']}")
        ci = row["ci"]
        cells = (row["env"], _num(row["pass@1_a"]), str(row["n_a"]), _num(row["pass@1_b"]),
                 str(row["n_b"]), "—" if row["diff"] is None else f"{row['diff']:+.3f}",
                 "—" if ci is None else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]",
                 "significant" if row["significant"] else "", "; ".join(notes))
        table.add_row(*(Text(c) for c in cells))
    console.print(table)
    for side in ("a", "b"):
        if result[f"only_in_{side}"]:
            print(f"only in {side.upper()} (not compared): {', '.join(result[f'only_in_{side}'])}")
    if not result["envs"]:
        print("no environment in both runs: nothing compared")


def _run_compare(args: Any) -> int:
    from rlenvs.cli_args import UsageError

    for run in (args.run_a, args.run_b):
        if not Path(run).exists():
            raise UsageError(f"{run}: no such file or folder (an `rlenvs eval --out` transcript "
                             "file, or a suite's or the main job's folder)")
    if not 0 < args.confidence < 1:
        raise UsageError(f"--confidence must be between 0 and 1, got {args.confidence}")
    result = compare_runs(args.run_a, args.run_b, seed=args.seed, resamples=args.resamples,
                          confidence=args.confidence)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_comparison(result)
    return 0


def add_compare_parser(sub: Any) -> Any:
    """Add ``compare`` to the ``rlenvs`` sub-commands."""
    from rlenvs.cli_args import positive_int

    p = sub.add_parser("compare", help="per-env pass@1 of two evaluation runs, their "
                       "difference with bootstrap confidence intervals, significance flagged")
    p.add_argument("run_a", metavar="RUN_A", help="transcript file or suite/main-job folder")
    p.add_argument("run_b", metavar="RUN_B", help="the other run (difference: B - A)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("--resamples", type=positive_int, default=RESAMPLES,
                   help="bootstrap resamples")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the CI")
    p.add_argument("--seed", type=int, default=0,
                   help="bootstrap RNG seed (fixed: the same runs print the same intervals)")
    p.set_defaults(func=_run_compare)
    return p
