"""A separately installed package's environments appear through the entry-point group."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "examples" / "plugin"


@pytest.fixture(scope="module")
def installed_plugin():
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
           str(PLUGIN)]
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    yield
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-q", "-y", "rlenvs-reverse-plugin"],
                   check=False, capture_output=True, timeout=300)


def test_plugin_env_appears_without_importing_the_plugin(installed_plugin):
    code = (
        "import sys, rlenvs, gymnasium as gym\n"
        "assert 'reverse/Reverse-v0' in rlenvs.list_envs(), rlenvs.list_envs()\n"
        "env = gym.make('reverse/Reverse-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "_, r, term, _, _ = env.step(info['task']['answer'])\n"
        "assert r == 1.0 and term\n"
        "from gymnasium.utils.env_checker import check_env\n"
        "check_env(env.unwrapped)\n"
        "print('ok', 'rlenvs_reverse' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["ok", "True"]  # loaded by rlenvs, not by the user
