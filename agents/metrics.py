"""JSONL metrics with a progress bar.

One JSON object per line in ``<output_dir>/metrics.jsonl``: ``{"kind": "train", "step": ...}``
for optimizer steps and ``{"kind": "eval", ...}`` for evaluations. On resume the file is cut
back to the checkpoint's step, so a resumed run's file equals an uninterrupted run's (timings
aside).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["MetricsLogger", "read_metrics", "truncate_metrics", "merge_step_stats"]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


class MetricsLogger:
    """Appends metric records to a JSONL file and drives a tqdm bar."""

    def __init__(self, path: str | Path, total_steps: int, initial_step: int = 0,
                 progress: bool = True, desc: str = "train") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total_steps, initial=initial_step, desc=desc, disable=not progress,
                        dynamic_ncols=True)

    def log(self, record: dict[str, Any], advance: int = 0) -> None:
        clean = {k: _clean(v) for k, v in record.items()}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")
            f.flush()
        if advance:
            self.bar.update(advance)
        if clean.get("kind") == "train":
            shown = {k: clean[k] for k in ("reward", "pass_rate", "stage") if k in clean}
            self.bar.set_postfix({k: (f"{v:.3f}" if isinstance(v, float) else v)
                                  for k, v in shown.items()})

    def close(self) -> None:
        self.bar.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a metrics file (a torn last line from a killed run is skipped)."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_metrics(path: str | Path, step: int, keep_eval_at_step: bool = True) -> None:
    """Drop records after ``step`` (a killed run may have logged past its checkpoint); with
    ``keep_eval_at_step=False`` also an evaluation logged at ``step`` itself."""
    path = Path(path)
    if not path.exists():
        return
    kept = [r for r in read_metrics(path) if int(r.get("step", 0)) <= step]
    if not keep_eval_at_step:
        kept = [r for r in kept if not (r.get("kind") == "eval" and r.get("step") == step)]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")


def merge_step_stats(stats: list[dict[str, float]]) -> dict[str, float]:
    """Combine the summed statistics of a round's optimizer steps.

    Keys ending in ``_sum`` are token sums: they become means per loss token (``tokens``);
    ``loss`` and ``grad_norm`` are averaged over steps.
    """
    if not stats:
        return {}
    total: dict[str, float] = {}
    for s in stats:
        for k, v in s.items():
            total[k] = total.get(k, 0.0) + v
    tokens = max(total.get("tokens", 0.0), 1.0)
    out = {}
    for k, v in total.items():
        if k.endswith("_sum"):
            out[k[: -len("_sum")]] = v / tokens
        elif k in ("loss", "grad_norm"):
            out[k] = v / len(stats)
    out["optimizer_steps"] = float(len(stats))
    return out
