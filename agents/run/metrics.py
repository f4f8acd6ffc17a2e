"""JSONL metrics with a progress bar.

One JSON object per line in ``<output_dir>/metrics.jsonl``: ``{"kind": "train", "step": ...}``
for optimizer steps and ``{"kind": "eval", ...}`` for evaluations. On resume the file is cut
back to the checkpoint's step, so a resumed run's file equals an uninterrupted run's (timings
aside).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

__all__ = ["MetricsLogger", "read_metrics", "truncate_metrics", "merge_step_stats",
           "merge_logged_rounds", "FaultTally", "UnscoredRewardsError", "dtype_label"]


class UnscoredRewardsError(RuntimeError):
    """A run stopped because too many of its rewards were faults (``max_unscored_frac``);
    ``causes`` maps each cause to its count in the last round."""

    def __init__(self, message: str, causes: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.causes = dict(causes or {})


class FaultTally:
    """The unscored episodes of one round (issue 28), as metrics:

    * ``reward/unscored_frac``: unscored episodes (after retries) / episodes of the round;
    * ``reward/unscored/<cause>``: how many of them had each cause (``judges.verdict.CAUSES``);
    * ``reward/unscored_retries``: episodes regenerated because they were unscored;
    * ``reward/unscored_dropped_groups``: groups left with too few scored episodes to train.
    """

    def __init__(self) -> None:
        self.episodes = 0
        self.unscored = 0
        self.retried = 0
        self.dropped_groups = 0
        self.causes: dict[str, int] = {}

    def add(self, trajs: Any) -> None:
        """Count episodes with ``.scored`` / ``.cause`` (rollout trajectories)."""
        for t in trajs:
            self.episodes += 1
            if not t.scored:
                self.unscored += 1
                cause = t.cause or "unknown"
                self.causes[cause] = self.causes.get(cause, 0) + 1

    def metrics(self) -> dict[str, float]:
        if not self.episodes:
            return {}
        out = {"reward/unscored_frac": self.unscored / self.episodes,
               "reward/unscored_retries": float(self.retried),
               "reward/unscored_dropped_groups": float(self.dropped_groups)}
        out.update({f"reward/unscored/{c}": float(n) for c, n in sorted(self.causes.items())})
        return out


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


class MetricsLogger:
    """Appends metric records to a JSONL file and drives a progress bar.

    The bar shows the step, the last round's reward and pass rate (and reward stage), and the
    time left: the mean time per step of this run times the steps left, capped by what is left
    of ``max_time_s`` when the run has a time budget.
    """

    def __init__(self, path: str | Path | None, total_steps: int, initial_step: int = 0,
                 progress: bool = True, desc: str = "train",
                 max_time_s: float | None = None) -> None:
        # path None: nothing written (a data-parallel rank other than 0)
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        from tqdm.auto import tqdm

        self.total = total_steps
        self.max_time_s = max_time_s
        self.started = time.perf_counter()
        self.first_step = initial_step
        self.bar = tqdm(total=total_steps, initial=initial_step, desc=desc, disable=not progress,
                        dynamic_ncols=True, unit="step",
                        bar_format="{desc}: step {n_fmt}/{total_fmt} |{bar}| "
                                   "[{elapsed}{postfix}]")
        self.bar.set_postfix_str(self._left(initial_step))

    def log(self, record: dict[str, Any], advance: int = 0) -> None:
        """Append ``record`` as one line (and update the bar, see :meth:`progress`)."""
        clean = {k: _clean(v) for k, v in record.items()}
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(clean) + "\n")
                f.flush()
        self.progress(clean, advance)

    def progress(self, record: dict[str, Any], advance: int = 0) -> None:
        """Move the bar ``advance`` steps; a train record's reward, pass rate and stage go
        into its text."""
        clean = {k: _clean(v) for k, v in record.items()}
        if advance:
            self.bar.update(advance)
        if clean.get("kind") == "train":
            shown = [f"{name}={clean[key]:.3f}" if isinstance(clean.get(key), float)
                     else f"{name}={clean[key]}"
                     for key, name in (("reward", "reward"), ("pass_rate", "pass"),
                                       ("stage", "stage")) if clean.get(key) is not None]
            self.bar.set_postfix_str(", ".join([*shown, self._left(int(clean["step"]))]))

    def note(self, text: str) -> None:
        """Say what the run is doing between steps (``evaluating``...)."""
        self.bar.set_postfix_str(text)

    def _left(self, step: int) -> str:
        elapsed = time.perf_counter() - self.started
        done = step - self.first_step
        estimates = []
        if done > 0:
            estimates.append(elapsed / done * max(self.total - step, 0))
        if self.max_time_s is not None:
            estimates.append(max(self.max_time_s - elapsed, 0.0))
        if not estimates:
            return "left ?"
        seconds = int(round(min(estimates)))
        return f"left {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

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


# the last round's value, not the mean, in a line that covers several rounds
_LAST = frozenset({"kind", "step", "round", "learning_rate", "stage"})


def merge_logged_rounds(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One metrics line for several rounds (``logging_steps`` > 1), as TRL logs: every number
    is the mean over the rounds that have it; ``step``, ``round``, ``learning_rate``, the
    reward ``stage`` and anything not a number are the last round's; ``logged_rounds`` counts
    the rounds."""
    if len(records) == 1:
        return dict(records[0])
    out: dict[str, Any] = {}
    for record in records:
        out.update(record)
    for key in out:
        if key in _LAST:
            continue
        values = [r[key] for r in records if isinstance(r.get(key), (int, float))
                  and not isinstance(r.get(key), bool)]
        if values and len(values) == sum(key in r for r in records):
            out[key] = sum(values) / len(values)
    out["logged_rounds"] = len(records)
    return out


def dtype_label(backend: Any) -> str:
    """The sampler's generation dtype for the metrics (``"engine"`` for e.g. vLLM)."""
    dtype = getattr(backend, "dtype", None)
    return str(dtype).removeprefix("torch.") if dtype is not None else "engine"
