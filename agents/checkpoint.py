"""Checkpoints that resume exactly: model, optimizer, scheduler, RNG states, reward schedule,
data position and algorithm state, written atomically (a ``kill -9`` mid-save leaves the
previous checkpoint intact).

Layout: ``<output_dir>/checkpoint-<step>/state.pt`` (+ ``meta.json``). A folder is complete
once renamed from its ``.tmp`` name; incomplete ones are ignored and cleaned up.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "rng_state",
           "set_rng_state", "list_checkpoints"]

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
