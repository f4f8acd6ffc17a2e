"""The ``train`` / ``plot`` sub-commands and the PNG plot."""

from __future__ import annotations

import argparse
import json

import pytest

from agents.cli import add_plot_parser, add_train_parser, main
from tests.agents.toy_envs import tiny_policy


def _parser():
    parser = argparse.ArgumentParser(prog="rlenvs")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_plot_parser(sub)
    return parser


def test_parsers_attach_to_a_host_cli():
    args = _parser().parse_args(["train", "--env", "rlenvs/Arithmetic-v0", "--algo", "dapo",
                                 "--steps", "3", "--out-dir", "runs/x", "--set", "beta=0.04",
                                 "--env-kwarg", "level=1"])
    assert args.algo == "dapo" and args.max_steps == 3 and callable(args.func)
    args = _parser().parse_args(["plot", "runs/x"])
    assert args.run_dir == "runs/x" and callable(args.func)


def test_train_then_plot_end_to_end(tmp_path, capsys):
    model_dir = tmp_path / "tiny-model"
    tiny_policy().save_pretrained(model_dir)
    out = tmp_path / "run"
    code = main(["train", "--env", "agents-test/Uppercase-v0", "--algo", "grpo",
                 "--policy", str(model_dir), "--steps", "2", "--out-dir", str(out),
                 "--num-generations", "4", "--batch-size", "8", "--max-completion-length", "6",
                 "--lr", "1e-3", "--eval-episodes", "2", "--set", "eval_max_new_tokens=4",
                 "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert '"steps": 2' in printed and (out / "curves.png").stat().st_size > 10_000
    assert main(["plot", str(out), "--out", str(tmp_path / "again.png")]) == 0
    assert (tmp_path / "again.png").is_file()


def test_cli_reports_bad_input(tmp_path, capsys):
    assert main(["train", "--env", "NoSuchEnv-v9", "--out-dir", str(tmp_path)]) == 2
    assert "no environment registered" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--algo", "nope"])


def test_plot_marks_the_schedule_switch(tmp_path):
    from agents.run.plot import plot_run

    records = [{"kind": "eval", "step": 0, "eval/pass@1": 0.5}]
    for step in range(1, 6):
        records.append({"kind": "train", "step": step, "reward": 0.1 * step, "reward_std": 0.1,
                        "pass_rate": 0.1 * step, "entropy": 1.0, "frac_reward_zero_std": 0.2,
                        "stage": "dense" if step < 3 else "binary"})
    records.append({"kind": "eval", "step": 5, "eval/pass@1": 0.7})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    path = plot_run(tmp_path)
    assert path.name == "curves.png" and path.stat().st_size > 10_000


def test_plot_band_stays_in_the_reward_range_and_steps_are_whole(tmp_path):
    """Issue 18 item 12: a [0, 1] reward with a wide std drew a band below 0; two steps gave
    ticks 1.2, 1.4, ..."""
    from agents.run.plot import draw_run

    records = [{"kind": "train", "step": s, "reward": r, "reward_std": 0.6, "pass_rate": r}
               for s, r in ((1, 0.1), (2, 0.9))]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    fig = draw_run(tmp_path)
    band = fig.axes[0].collections[0].get_paths()[0].vertices
    assert band[:, 1].min() >= 0.0 and band[:, 1].max() <= 1.0
    for ax in fig.axes:
        low, high = ax.get_xlim()
        shown = [t for t in ax.get_xticks() if low <= t <= high]
        assert shown and all(float(t).is_integer() for t in shown), shown
    # a reward outside [0, 1] (a shaped or negative reward) keeps its full band
    records = [{"kind": "train", "step": s, "reward": r, "reward_std": 0.6} for s, r in
               ((1, -0.5), (2, 0.5))]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    band = draw_run(tmp_path).axes[0].collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(-1.1)


def test_training_progress_shows_step_reward_and_time_left(tmp_path, capsys):
    """Issue 18 item 6: the bar says the step, the reward and the time left (capped by a time
    budget); no "stage": null in records of an env without a schedule; no library
    FutureWarning on a LoRA run."""
    import re
    import warnings

    model_dir = tmp_path / "tiny-model"
    tiny_policy().save_pretrained(model_dir)
    out = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["train", "--env", "agents-test/Uppercase-v0", "--policy", str(model_dir),
                     "--steps", "1000", "--set", "max_time_s=2", "--out-dir", str(out),
                     "--num-generations", "4", "--batch-size", "4",
                     "--max-completion-length", "4", "--lora", "--no-plot"])
    assert code == 0
    assert not [w for w in caught if issubclass(w.category, FutureWarning)], \
        [str(w.message) for w in caught]
    err = capsys.readouterr().err
    assert re.search(r"step \d+/1000", err) and "reward=" in err
    lefts = re.findall(r"left (\d+):(\d\d):(\d\d)", err)
    assert lefts, err[-500:]
    # a 1000-step budget would take far longer at this pace; the 2 s budget is what is left
    assert all(int(h) * 3600 + int(m) * 60 + int(s) <= 2 for h, m, s in lefts)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records and all("stage" not in r for r in records if r["kind"] == "train")
