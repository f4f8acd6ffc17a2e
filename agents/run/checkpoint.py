"""Checkpoints that resume exactly: model, optimizer, scheduler, RNG states, reward schedule,
data position and algorithm state, written atomically (a ``kill -9`` mid-save leaves the
previous checkpoint intact).

Layout: ``<output_dir>/checkpoint-<step>/state.pt`` (+ ``meta.json``). A folder is complete
once renamed from its ``.tmp`` name; incomplete ones are ignored and cleaned up. ``run.json``
records which run a folder holds (:func:`prepare_output_dir`), so a resume never picks up another
run's checkpoint and a fresh run never silently mixes with an old one.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "rng_state",
           "set_rng_state", "list_checkpoints", "RunMismatch", "run_identity",
           "prepare_output_dir"]

_PREFIX = "checkpoint-"


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states."""
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints in ``output_dir``, oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        if p.is_dir() and p.name.startswith(_PREFIX) and p.name[len(_PREFIX):].isdigit() \
                and (p / "state.pt").is_file():
            found.append(p)
    return sorted(found, key=lambda p: int(p.name[len(_PREFIX):]))


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1] if found else None


def save_checkpoint(output_dir: str | Path, step: int, payload: dict[str, Any],
                    keep: int | None = None, meta: dict[str, Any] | None = None) -> Path:
    """Write ``payload`` as ``checkpoint-<step>`` atomically; keep the newest ``keep``."""
    root = Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{_PREFIX}*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    final = root / f"{_PREFIX}{step}"
    tmp = root / f"{_PREFIX}{step}.tmp"
    tmp.mkdir()
    torch.save(payload, tmp / "state.pt")
    (tmp / "meta.json").write_text(json.dumps({"step": step, **(meta or {})}, indent=2,
                                              default=str))
    _fsync_dir(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    if keep is not None and keep > 0:
        for old in list_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    state = path / "state.pt" if path.is_dir() else path
    if not state.is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (expected {state})")
    return torch.load(state, map_location="cpu", weights_only=False)


def _fsync_dir(path: Path) -> None:
    for f in [*path.iterdir(), path] if path.is_dir() else [path]:
        try:
            fd = os.open(f, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


# ----------------------------------------------------------------- the run a folder belongs to

RUN_FILE = "run.json"
# Settings that steer a run without changing what it learns: they may differ on resume.
_RUN_CONTROL = frozenset({
    "max_steps", "output_dir", "progress", "resume_from_checkpoint", "save_steps",
    "save_total_limit", "save_final_checkpoint", "eval_steps", "eval_episodes",
    "eval_max_new_tokens", "torch_num_threads", "max_time_s", "logging_steps",
    "overwrite_output_dir",
    # where and how the vLLM engine runs (same weights, same sampling): a resumed run may move
    "vllm_server_base_url", "vllm_server_host", "vllm_server_port", "vllm_server_timeout",
    "vllm_server_weights_dir", "vllm_gpu_memory_utilization", "vllm_enable_sleep_mode",
})
_RUN_OUTPUTS = ("metrics.jsonl", "curves.png", RUN_FILE)


class RunMismatch(ValueError):
    """The output folder holds a different run than the one asked for (or any run at all)."""


def run_identity(algorithm: str, env_id: str, env_kwargs: dict[str, Any], model: str,
                 settings: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run: algorithm, env (+ kwargs), model and a fingerprint of
    every setting that changes what is learned (step budget, logging and paths excluded).
    Nested settings (``rollout``) are recorded by dotted name (``rollout.ts_m``), so a
    mismatch names the one that differs."""
    learned = {k: v for k, v in _dotted(settings).items() if k not in _RUN_CONTROL}
    blob = json.dumps({"env_kwargs": env_kwargs, "settings": learned}, sort_keys=True,
                      default=str)
    return {"algorithm": algorithm, "env_id": env_id, "env_kwargs": env_kwargs, "model": model,
            "fingerprint": hashlib.sha256(blob.encode()).hexdigest()[:16],
            "settings": learned}


def _dotted(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def prepare_output_dir(output_dir: str | Path, identity: dict[str, Any], resume: bool,
                       overwrite: bool = False, check_only: bool = False) -> None:
    """Check ``output_dir``, then record ``identity`` in ``run.json`` (``Trainer.train`` calls
    this; the CLI calls it with ``check_only`` before any model loads).

    * ``resume``: the folder's run (``run.json``, else the latest checkpoint's ``meta.json``)
      must match ``identity`` on algorithm, env, model and fingerprint; a mismatch raises
      :class:`RunMismatch` naming each difference.
    * a fresh run into a folder with a previous run's checkpoints or metrics raises unless
      ``overwrite``, which deletes them first.
    """
    root = Path(output_dir)
    previous = _previous_run(root)
    if resume and previous is not None:
        diffs = _differences(previous, identity)
        if diffs:
            raise RunMismatch(f"--resume: {root} holds a different run ({'; '.join(diffs)}); "
                              "use another --output-dir, or --overwrite "
                              "(overwrite_output_dir=True) to start over there")
    elif not resume:
        leftovers = _leftovers(root)
        if leftovers and not overwrite:
            raise RunMismatch(f"{root} already holds a run ({', '.join(leftovers)}); pass "
                              "--resume to continue it or --overwrite to start over (in a "
                              "config: resume_from_checkpoint=True / overwrite_output_dir=True)")
        if check_only:
            return
        for name in leftovers:
            target = root / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()
    if check_only:
        return
    root.mkdir(parents=True, exist_ok=True)
    (root / RUN_FILE).write_text(json.dumps(identity, indent=2, default=str))


def _leftovers(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    names = [p.name for p in sorted(root.glob(f"{_PREFIX}*"), key=lambda p: p.name) if p.is_dir()]
    return names + [n for n in _RUN_OUTPUTS if (root / n).exists()]


def _previous_run(root: Path) -> dict[str, Any] | None:
    """The run recorded in ``root``: ``run.json``, else the latest checkpoint's ``meta.json``."""
    if (root / RUN_FILE).is_file():
        return json.loads((root / RUN_FILE).read_text())
    latest = latest_checkpoint(root)
    if latest is not None and (latest / "meta.json").is_file():
        return json.loads((latest / "meta.json").read_text())
    return None


def _differences(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    diffs = []
    for key in ("algorithm", "env_id", "env_kwargs", "model", "fingerprint"):
        if key in previous and previous[key] != current.get(key):
            diffs.append(f"{key}: {previous[key]!r} there, {current.get(key)!r} now")
    if any(d.startswith("fingerprint") for d in diffs):
        old, new = previous.get("settings") or {}, current.get("settings") or {}
        changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        if changed:
            diffs.append("settings changed: " + ", ".join(
                f"{k}={old.get(k)!r}->{new.get(k)!r}" for k in changed))
    return diffs
