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
    from agents.plot import plot_run

    records = [{"kind": "eval", "step": 0, "eval/pass@1": 0.5}]
    for step in range(1, 6):
        records.append({"kind": "train", "step": step, "reward": 0.1 * step, "reward_std": 0.1,
                        "pass_rate": 0.1 * step, "entropy": 1.0, "frac_reward_zero_std": 0.2,
                        "stage": "dense" if step < 3 else "binary"})
    records.append({"kind": "eval", "step": 5, "eval/pass@1": 0.7})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    path = plot_run(tmp_path)
    assert path.name == "curves.png" and path.stat().st_size > 10_000
