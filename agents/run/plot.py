"""Draw a run's reward and accuracy curves to PNG (needs matplotlib).

Reads ``<run_dir>/metrics.jsonl``: training reward (± std), training pass rate, held-out greedy
accuracy (eval pass@1, as markers: evaluations are points, not a trend), entropy and KL, with a
vertical line after the step where the reward schedule switched from dense to binary. A
multi-task run (CGPO: its records name their ``tasks``) also gets each task's reward,
constraint pass rate and held-out pass@1.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from agents.run.metrics import read_metrics

__all__ = ["plot_run", "draw_run", "switch_step"]


def plot_run(run_dir: str | Path, out: str | Path | None = None, title: str | None = None) -> Path:
    """Plot the metrics of ``run_dir``; returns the PNG path (default ``<run_dir>/curves.png``)."""
    import matplotlib.pyplot as plt

    metrics = _metrics_path(run_dir)
    fig = draw_run(run_dir, title)
    path = Path(out) if out is not None else (metrics.parent / "curves.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _metrics_path(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.jsonl" if run_dir.is_dir() else run_dir
    if not metrics.is_file():
        raise FileNotFoundError(f"no metrics.jsonl in {run_dir} (is it a training output dir?)")
    return metrics


def draw_run(run_dir: str | Path, title: str | None = None) -> Any:
    """The matplotlib figure :func:`plot_run` saves: reward ± std (the band clipped to [0, 1]
    when every reward lies there), accuracy, diagnostics; whole-number step ticks."""
    metrics = _metrics_path(run_dir)
    records = read_metrics(metrics)
    train = [r for r in records if r.get("kind") == "train"]
    evals = [r for r in records if r.get("kind") == "eval"]
    if not train and not evals:
        raise ValueError(f"{metrics} holds no training or evaluation records")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from e

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    steps = [r["step"] for r in train]
    ax = axes[0]
    if train:
        reward = [_num(r, "reward") for r in train]
        std = [_num(r, "reward_std") for r in train]
        low = [m - s for m, s in zip(reward, std, strict=True)]
        high = [m + s for m, s in zip(reward, std, strict=True)]
        seen = [v for v in reward if not math.isnan(v)]
        bounded = bool(seen) and 0.0 <= min(seen) and max(seen) <= 1.0
        if bounded:  # a [0, 1] reward: so is its band
            low = [max(0.0, v) for v in low]
            high = [min(1.0, v) for v in high]
        ax.plot(steps, reward, label="train reward", color="tab:blue")
        ax.fill_between(steps, low, high, alpha=0.15, color="tab:blue",
                        label="± std, within [0, 1]" if bounded else "± std")
    tasks = next((r["tasks"] for r in reversed(train) if isinstance(r.get("tasks"), list)), [])
    colors = [f"C{i + 4}" for i in range(len(tasks))]
    for name, color in zip(tasks, colors, strict=True):
        ax.plot(steps, [_num(r, f"{name}/reward") for r in train], "--", color=color,
                linewidth=1, label=f"{name} reward")
    ax.set_title("reward")
    ax.set_xlabel("step")
    ax = axes[1]
    for name, color in zip(tasks, colors, strict=True):
        ax.plot(steps, [_num(r, f"{name}/pass_rate") for r in train], "--", color=color,
                linewidth=1, label=f"{name} constraints pass (sampled)")
        held = [r for r in evals if f"eval/{name}/pass@1" in r]
        if held:
            _points(ax, [r["step"] for r in held],
                    [_num(r, f"eval/{name}/pass@1") for r in held], "s", color,
                    f"{name} held-out pass@1")
    if train:
        ax.plot(steps, [_num(r, "pass_rate") for r in train], label="train pass rate (sampled)",
                color="tab:orange")
    held = [r for r in evals if "eval/pass@1" in r]
    if held:
        _points(ax, [r["step"] for r in held], [_num(r, "eval/pass@1") for r in held], "o",
                "tab:green", "held-out greedy accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("accuracy")
    ax.set_xlabel("step")
    ax = axes[2]
    for key, color in (("entropy", "tab:purple"), ("kl", "tab:red"),
                       ("frac_reward_zero_std", "tab:gray")):
        if any(key in r for r in train):
            ax.plot(steps, [_num(r, key) for r in train], label=key, color=color)
    ax.set_title("diagnostics")
    ax.set_xlabel("step")
    switch = switch_step(train)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
        if switch is not None:
            ax.axvline(switch, color="black", linestyle="--", linewidth=1,
                       label=f"dense → binary after step {switch:g}")
        ax.grid(alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        if handles:
            ax.legend(fontsize=8)
    fig.suptitle(title or Path(run_dir).name)
    fig.tight_layout()
    return fig


def switch_step(train: list[dict[str, Any]]) -> float | None:
    """The step after which the reward schedule was binary: the last dense record's step (the
    schedule's ``switched_at``, what the demo's summary says: its round of steps 13-15 is the
    first scored binary and is logged at step 15), or half a step before the first binary
    record when no dense one precedes it; ``None`` when it never switched."""
    last_dense = None
    for r in train:
        if r.get("stage") == "binary":
            return last_dense if last_dense is not None else r["step"] - 0.5
        if r.get("stage") == "dense":
            last_dense = r["step"]
    return None


def _points(ax: Any, steps: list[Any], values: list[float], marker: str, color: str,
            label: str) -> None:
    """Held-out evaluations as markers with their values: a few evaluations far apart (the
    demo's before and after) joined by a line would draw a trend nobody measured."""
    ax.plot(steps, values, marker, linestyle="none", markersize=7, color=color, label=label)
    if len(steps) <= 8:
        for x, y in zip(steps, values, strict=True):
            if not math.isnan(y):
                ax.annotate(f"{y:.2f}", (x, y), textcoords="offset points", xytext=(0, 7),
                            ha="center", fontsize=8, color=color)


def _num(record: dict[str, Any], key: str) -> float:
    value = record.get(key)
    return float(value) if isinstance(value, (int, float)) else float("nan")
