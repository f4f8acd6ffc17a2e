"""Issue 30, item 6: a typo in ``--set`` gets a "did you mean" in one short line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agents.trainers.config import GRPOConfig


def test_from_dict_suggests_the_close_setting_in_a_short_message():
    with pytest.raises(ValueError) as e:
        GRPOConfig.from_dict({"epsilon_hihg": 0.3})
    msg = str(e.value)
    assert "GRPOConfig has no setting 'epsilon_hihg'" in msg
    assert "did you mean 'epsilon_high'" in msg
    assert len(msg) < 300  # the whole list of settings was 2.2 KB


def test_from_dict_suggests_word_aliases_and_verl_short_names():
    with pytest.raises(ValueError, match="did you mean 'trees_per_prompt'"):
        GRPOConfig.from_dict({"trees_per_promt": 2})


def test_train_cli_set_typo_is_one_short_error_line_before_any_load(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    r = subprocess.run([sys.executable, "-m", "rlenvs.cli", "train", "rlenvs/Arithmetic-v0",
                        "--set", "epsilon_hihg=0.3", "--max-steps", "1",
                        "--output-dir", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "did you mean 'epsilon_high'" in lines[0] and len(lines[0]) < 300
    assert not (tmp_path / "run").exists()
