"""Issue 30, item 8: curves.png draws the dense -> binary switch where the demo's summary says,
and held-out accuracy as measured points, not a line between two evaluations."""

from __future__ import annotations

import json

from agents.run.plot import draw_run, switch_step
from rlenvs.rewards import DenseThenBinary


def _demo_like_records() -> tuple[list[dict], int]:
    """Records as the trainer writes them (agents.trainers.base.advance_reward_schedule: a
    round's record names the stage its rewards were under, then the schedule advances to the
    round's last global step), three optimizer steps a round, switch at step 12."""
    schedule = DenseThenBinary(switch_step=12)
    records = [{"kind": "eval", "step": 0, "eval/pass@1": 0.48}]
    for rnd in range(1, 11):
        step = 3 * rnd
        records.append({"kind": "train", "step": step, "round": rnd, "reward": 0.05 * rnd,
                        "reward_std": 0.1, "pass_rate": 0.05 * rnd, "stage": schedule.stage})
        schedule.advance(step=step)
    records.append({"kind": "eval", "step": 30, "eval/pass@1": 0.70})
    return records, schedule.switched_at


def test_switch_line_at_the_step_the_schedule_and_summary_report(tmp_path):
    records, switched_at = _demo_like_records()
    assert switched_at == 12
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    train = [r for r in records if r["kind"] == "train"]
    assert switch_step(train) == switched_at
    fig = draw_run(tmp_path)
    for ax in fig.axes:
        switch_lines = [ln for ln in ax.get_lines() if "dense → binary" in ln.get_label()]
        assert len(switch_lines) == 1
        assert list(switch_lines[0].get_xdata()) == [12, 12]  # was 14.5
        assert "after step 12" in switch_lines[0].get_label()


def test_held_out_accuracy_is_markers_with_values_not_a_line(tmp_path):
    records, _ = _demo_like_records()
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    ax = draw_run(tmp_path).axes[1]
    (held,) = [ln for ln in ax.get_lines() if ln.get_label() == "held-out greedy accuracy"]
    assert held.get_linestyle() == "None" and held.get_marker() == "o"
    assert list(held.get_xdata()) == [0, 30] and list(held.get_ydata()) == [0.48, 0.70]
    assert {t.get_text() for t in ax.texts} >= {"0.48", "0.70"}


def test_switch_without_a_dense_record_and_no_switch():
    assert switch_step([{"step": 4, "stage": "binary"}]) == 3.5
    assert switch_step([{"step": 4, "stage": "dense"}, {"step": 8, "stage": "dense"}]) is None
    assert switch_step([{"step": 4}]) is None
