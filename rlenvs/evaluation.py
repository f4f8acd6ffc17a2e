"""Evaluate a policy on an environment: seeded episodes, k samples each, a summary and transcripts.

Episode ``i`` is ``reset(seed=seed + i)``, so the same seed gives the same tasks. The ``k``
samples of an episode are ``clone()``-s of the reset environment (the same task), which is what
``pass@k`` needs. Multi-turn episodes are stepped in lock-step rounds, each split into batches
of the policy's ``batch_size`` (the progress bar moves per batch: transcripts done, replies
generated and the token rate; it stays on screen when done).

Reproducible: sample ``j`` of episode ``i`` draws its turn-``t`` reply with its own seed
(derived from ``seed, i, j, t``), so replies do not depend on the batch size or on which other
episodes are running -- nor on whether the run was resumed.

Faults apart: a transcript whose reward is a fault (``status: "unscored"`` with its ``cause``)
is counted apart and left out of pass@k and the means (:mod:`rlenvs.eval_summary`).

Deadlines: ``episode_timeout`` bounds each transcript's own work (the generation calls it was
part of, its resets and steps), ``run_timeout`` the whole run; a transcript past either is
recorded unscored, cause ``"deadline"``, and the rest go on. A policy, judge or environment that
never answers holds nothing past its budget (:mod:`rlenvs.deadlines`).

Crash-safe: ``out`` is checked before anything runs, every transcript is appended to it as its
episode ends, and ``<out>.summary.json`` is valid JSON from the start (marked ``partial`` until
the run ends; an interruption rewrites it with what was kept). ``resume=True`` keeps the scored
transcripts of an earlier run at ``out`` and runs exactly the unscored and unfinished ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judges.llm.base import ChatModel, SamplingParams
from rlenvs.deadlines import Budget
from rlenvs.eval_files import (
    check_out_path,
    read_summary,
    read_transcripts,
    rewrite_transcripts,
    write_summary_dict,
)
from rlenvs.eval_loop import play, record_of, run_seed, start_runs
from rlenvs.eval_summary import (
    GROUP_KEYS,
    pass_at_k,
    pass_at_k_ks,
    record_scored,
    summarize,
    summary_rows,
    unscored_note,
)
from rlenvs.registration import make

__all__ = ["evaluate", "EvalResult", "pass_at_k", "pass_at_k_ks", "GROUP_KEYS", "check_out_path",
           "print_table", "policy_label", "run_seed", "versions", "hardware", "summarize",
           "unscored_note", "judge_label", "write_summary", "write_results"]


@dataclass
class EvalResult:
    """Summary numbers plus one record per (episode, sample)."""

    env_id: str
    policy: str
    summary: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)

    def table_rows(self) -> list[tuple[str, str]]:
        return summary_rows(self.summary)


def evaluate(
    env: Any,
    policy: ChatModel | Callable[[list[dict[str, Any]]], str],
    episodes: int = 20,
    samples: int | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    env_kwargs: dict[str, Any] | None = None,
    sampling: SamplingParams | None = None,
    progress: bool = True,
    *,
    num_generations: int | None = None,
    episode_timeout: float | None = None,
    run_timeout: float | None = None,
    resume: bool = False,
    **env_options: Any,
) -> EvalResult:
    """Run ``episodes`` seeded episodes with ``samples`` samples each and summarise.

    Args:
        env: a registered id (``rlenvs list``) or an environment made with ``rlenvs.make``.
        policy: anything with ``generate(conversations, sampling)`` (``rlenvs.load_policy``),
            or a plain function ``messages -> reply`` (wrapped in ``FunctionPolicy``).
        samples: samples per episode (default 1); ``num_generations`` is the same (the CLI's
            and TRL's name).
        out: append one JSON line per sample (transcript, rewards, verdicts, status, finish
            reasons, token counts) here as episodes end, and the summary to
            ``<out>.summary.json``. An existing ``out`` is replaced unless ``resume``.
        env_kwargs: environment options; options may also be given as keywords
            (``evaluate("rlenvs/Arithmetic-v0", policy, level=1)``).
        sampling: defaults to greedy for one sample, temperature 0.8 for several.
        episode_timeout: wall-clock seconds each transcript may take (its generation calls,
            resets and steps); past it the transcript is unscored, cause ``"deadline"``.
        run_timeout: wall-clock seconds for the whole run; what is unfinished then is unscored,
            cause ``"deadline"``.
        resume: keep the scored transcripts already in ``out`` (same env, kwargs, seed, samples
            and sampling) and run only the unscored and missing ones.
    """
    from rlenvs.policies import as_policy

    samples = _samples(samples, num_generations)
    if episodes < 1 or samples < 1:
        raise ValueError(f"episodes and samples must be at least 1, got episodes={episodes}, "
                         f"samples={samples}")
    for name, value in (("episode_timeout", episode_timeout), ("run_timeout", run_timeout)):
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    env_id, env_kwargs = _env_id(env, env_kwargs, env_options)
    policy = as_policy(policy)
    if sampling is None:
        sampling = SamplingParams(temperature=0.0 if samples == 1 else 0.8, seed=seed)
    elif sampling.seed is None:
        sampling = dataclasses.replace(sampling, seed=seed)
    config = {
        "env_id": env_id, "env_kwargs": env_kwargs, "episodes": episodes, "samples": samples,
        "seed": seed, "task_seeds": [seed, seed + episodes - 1],
        "sampling": sampling.to_dict(), "per_reply_seed": "run_seed(seed, episode, sample, turn)",
        "episode_timeout": episode_timeout, "run_timeout": run_timeout,
        "policy": policy_label(policy), "versions": versions(), "hardware": hardware(policy),
    }
    kept: dict[tuple[int, int], dict[str, Any]] = {}
    if out is not None:
        out = check_out_path(out)
        if resume:
            kept = _resumable(out, config)
            rewrite_transcripts(out, [kept[k] for k in sorted(kept)])
    elif resume:
        raise ValueError("resume=True needs out= (the transcripts of the run to resume)")
    started = time.perf_counter()
    run_budget = Budget(run_timeout)
    base = make(env_id, **env_kwargs)
    scored_by = judge_label(base)
    records: list[dict[str, Any]] = [kept[k] for k in sorted(kept)]
    state = {"records": records, "env_id": env_id, "policy": policy_label(policy),
             "scored_by": scored_by, "config": config, "planned": episodes * samples,
             "samples": samples, "started": started, "tokens": 0, "kept": len(kept)}
    if out is not None:
        out.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n"
                               for r in records), encoding="utf-8")
        write_summary_dict(out, _summary(state, partial=True, why="running"))
    sink = out.open("ab", buffering=0) if out is not None else None

    def emit(run: dict[str, Any]) -> None:
        records.append(record_of(env_id, run))
        if sink is not None:
            _append_line(sink, out, records[-1], len(records) - 1)

    unit = "episode" if samples == 1 else "sample"
    desc = f"eval {env_id}" + (f" ({episodes} episodes x {samples} samples)" if samples > 1
                               else "") + (f", resumed: {len(kept)} kept" if kept else "")
    bar = None
    finished = False
    try:
        runs = start_runs(env_id, env_kwargs, base, episodes, samples, seed, kept,
                           episode_timeout, run_budget, emit)
        bar = _progress(len(runs), desc, progress, unit)
        bar.update(sum(r["done"] for r in runs))
        state["tokens"] = play(runs, policy, sampling, episode_timeout, run_budget, emit, bar)
        finished = True
    finally:
        if bar is not None:
            bar.close()
        if sink is not None:
            sink.close()
        if not finished and out is not None:  # interrupted or crashed: keep a valid summary
            import sys

            why = type(sys.exc_info()[1]).__name__ if sys.exc_info()[1] else "stopped"
            try:
                write_summary_dict(out, _summary(state, partial=True, why=why))
            except OSError:  # e.g. the disk is full: the error being raised says so already
                pass
    records.sort(key=lambda r: (r["episode"], r["sample"]))
    summary = _summary(state, partial=False)
    result = EvalResult(env_id=env_id, policy=policy_label(policy), summary=summary,
                        records=records)
    if out is not None:
        if kept:  # kept and re-run transcripts in (episode, sample) order again
            rewrite_transcripts(out, records)
        write_summary(result, out)
    return result


def _append_line(sink: Any, out: Path, record: dict[str, Any], index: int) -> None:
    """Append one transcript line whole or not at all: a write that fails (disk full, file-size
    limit) is cut back to the line before, and the error names the file and what was kept."""
    data = memoryview((json.dumps(record, ensure_ascii=False, default=str) + "\n").encode())
    start = sink.tell()
    try:
        while data:
            written = sink.write(data)
            data = data[written:]
    except OSError as e:
        try:
            sink.truncate(start)
        except OSError:
            pass
        raise OSError(e.errno, f"cannot write transcript {index + 1} to {out}: "
                      f"{e.strerror or e}; the {index} before it are kept (free space, then "
                      f"rlenvs eval ... --resume)") from e


def _summary(state: dict[str, Any], partial: bool, why: str = "") -> dict[str, Any]:
    records = sorted(state["records"], key=lambda r: (r["episode"], r["sample"]))
    summary = summarize(records, state["samples"])
    summary.update({
        "scored_by": state["scored_by"],
        "partial": partial,
        "planned": state["planned"],
        "seconds": time.perf_counter() - state["started"],
        "completion_tokens": state["tokens"],
        "config": state["config"],
    })
    if partial:
        summary["stopped_by"] = why
    if state["kept"]:
        summary["resumed"] = {"kept": state["kept"],
                              "rerun": len(records) - state["kept"]}
    return {"env_id": state["env_id"], "policy": state["policy"], **summary}


def _samples(samples: int | None, num_generations: int | None) -> int:
    if samples is not None and num_generations is not None and samples != num_generations:
        raise ValueError(f"samples={samples} and num_generations={num_generations} are the same "
                         "setting; give one")
    value = samples if samples is not None else num_generations
    return 1 if value is None else int(value)


def _resumable(out: Path, config: dict[str, Any]) -> dict[tuple[int, int], dict[str, Any]]:
    """The transcripts of ``out`` a resumed run keeps: scored, and of this run's settings."""
    old = read_summary(out)
    records = read_transcripts(out) if out.is_file() and out.stat().st_size else []
    if old is None and not records:
        raise ValueError(f"--resume: {out} holds no evaluation to resume (run without --resume "
                         "to start one)")
    before = (old or {}).get("config") or {}
    now = json.loads(json.dumps(config, default=str))
    for key in ("env_id", "env_kwargs", "seed", "samples", "sampling"):
        if key in before and before[key] != now[key]:
            raise ValueError(f"--resume: {out} was evaluated with {key}={before[key]!r}, this "
                             f"run asks for {now[key]!r}; resume with the same settings, or "
                             "start over with --overwrite (or another --out)")
    if not before and records and records[0].get("env_id") not in (None, config["env_id"]):
        raise ValueError(f"--resume: {out} holds transcripts of {records[0]['env_id']}, not "
                         f"{config['env_id']}")
    seed, episodes, samples = config["seed"], config["episodes"], config["samples"]
    return {(int(r["episode"]), int(r["sample"])): r for r in records
            if record_scored(r) and int(r["episode"]) < episodes and int(r["sample"]) < samples
            and r.get("seed", seed + int(r["episode"])) == seed + int(r["episode"])}


def judge_label(env: Any) -> str:
    """What scores ``env``'s replies, for results' "scored by": the judge's ``label`` or
    ``name`` when it has one, else its qualified name (``rlenvs.envs.math.make_math_judge``)."""
    unwrapped = getattr(env, "unwrapped", env)
    judge = getattr(unwrapped, "judge", None)
    inner = getattr(unwrapped, "inner", None)
    if judge is None and inner is not None:
        judge = getattr(inner, "judge", None)
    if judge is None:
        return f"{type(unwrapped).__module__}.{type(unwrapped).__qualname__}.respond"
    for attr in ("label", "name"):
        value = getattr(judge, attr, None)
        if isinstance(value, str) and value:
            return value
    target = judge if inspect.isfunction(judge) or inspect.ismethod(judge) else type(judge)
    qualname = getattr(target, "__qualname__", type(judge).__name__)
    qualname = qualname.replace(".<locals>", "").removesuffix(".judge")
    return f"{getattr(target, '__module__', '')}.{qualname}".lstrip(".")


def policy_label(policy: Any) -> str:
    """What a policy is called in results: its ``name`` (the model, and the URL for HTTP)."""
    name = str(getattr(policy, "name", "") or type(policy).__name__)
    url = getattr(policy, "base_url", None)
    return f"{name} @ {url}" if url and str(url) not in name else name



def _env_id(env: Any, env_kwargs: dict[str, Any] | None,
            options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(env, str):
        merged = dict(env_kwargs or {})
        if clash := sorted(set(merged) & set(options)):
            raise TypeError(f"{', '.join(clash)} given both in env_kwargs and as a keyword")
        _check_options(env, options)
        return env, {**merged, **options}
    spec = getattr(env, "spec", None)
    if spec is None or not getattr(spec, "id", None):
        raise TypeError("env must be an environment id or an environment made with rlenvs.make, "
                        f"got {type(env).__name__}")
    if env_kwargs or options:
        raise ValueError(f"environment options ({', '.join({**(env_kwargs or {}), **options})}) "
                         "only apply when env is given as an id")
    return spec.id, dict(spec.kwargs or {})


def _check_options(env_id: str, options: dict[str, Any]) -> None:
    """A keyword that is neither the environment's nor close to one of its options but close to
    one of ``evaluate``'s own parameters is a typo of the latter: say so."""
    if not options or env_id.startswith(("http://", "https://", "ws://", "wss://")):
        return
    from rlenvs.registration import env_kwargs as known_kwargs

    try:
        known = set(known_kwargs(env_id))
    except Exception:  # noqa: BLE001 - an unknown id is reported by make, with its suggestions
        return
    own = [p for p in inspect.signature(evaluate).parameters if p != "env_options"]
    for key in options:
        if key in known or difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6):
            continue
        close = difflib.get_close_matches(key, own, n=1, cutoff=0.6)
        if close:
            raise TypeError(f"evaluate() got an unexpected keyword argument {key!r} (did you "
                            f"mean {close[0]!r}?); other keywords are environment options "
                            f"(env_kwargs)")


def write_summary(result: EvalResult, out: str | Path) -> Path:
    return write_summary_dict(out, {"env_id": result.env_id, "policy": result.policy,
                                    **result.summary})


def write_results(result: EvalResult, out: str | Path) -> None:
    """Write all transcripts and the summary at once (for results built in memory)."""
    out = check_out_path(out)
    rewrite_transcripts(out, result.records)
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


def _progress(total: int, desc: str, enabled: bool, unit: str = "episode") -> Any:
    """The bar counts transcripts: episodes, or samples (episodes x samples) when several."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, unit=unit, dynamic_ncols=True)


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
