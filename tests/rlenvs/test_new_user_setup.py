"""Issue 30, item 8: the set-up leaves no untracked outputs and says why chromium did not install."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs a git checkout")
def test_main_job_and_readme_outputs_are_ignored_but_benchmark_results_are_not():
    paths = ["results/summary.json", "results/grpo/curves.png", "runs/eval/arith.jsonl"]
    r = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.stdout.split() == paths
    r = subprocess.run(["git", "check-ignore", "--no-index", "benchmarks/results/code.json"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and not r.stdout  # the committed measurements stay tracked


def _fake_path(tmp_path: Path, apt_script: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "grep", "sed", "tail", "id", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    apt = bin_dir / "apt-get"
    apt.write_text("#!" + shutil.which("bash") + "\n" + apt_script)
    apt.chmod(0o755)
    return str(bin_dir)  # no chromium on it


def _run(tmp_path: Path, apt_script: str) -> subprocess.CompletedProcess:
    env = {"PATH": _fake_path(tmp_path, apt_script), "HOME": str(tmp_path)}
    return subprocess.run([shutil.which("bash"), str(ROOT / ".ci" / "chromium.sh")], env=env,
                          capture_output=True, text=True, timeout=30)


def test_chromium_warning_names_a_held_dpkg_lock(tmp_path):
    r = _run(tmp_path, 'echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by '
                       'process 4242 (apt-get)" >&2\nexit 100\n')
    assert r.returncode == 0  # a warning, the install goes on
    assert "another apt/dpkg process holds its lock" in r.stderr
    assert "held by process 4242" in r.stderr  # apt's own words
    assert "needs root" not in r.stderr


def test_chromium_warning_passes_on_other_apt_errors(tmp_path):
    r = _run(tmp_path, 'echo "E: Unable to locate package chromium" >&2\nexit 100\n')
    assert r.returncode == 0
    assert "could not install chromium" in r.stderr
    assert "E: Unable to locate package chromium" in r.stderr
    assert "lock" not in r.stderr


def test_chromium_installed_quietly_when_apt_succeeds(tmp_path):
    r = _run(tmp_path, "exit 0\n")
    assert r.returncode == 0 and r.stderr == ""


def test_install_script_calls_it():
    text = (ROOT / ".ci" / "install").read_text()
    assert "bash .ci/chromium.sh" in text and "needs root" not in text
    assert os.access(ROOT / ".ci" / "chromium.sh", os.R_OK)


def test_readme_states_the_suite_duration_the_lenient_defaults_and_the_model_folder():
    import re

    readme = (ROOT / "README.md").read_text()
    setup = readme[readme.index("## Set up"):readme.index("## A quick tour")]
    block = setup[setup.index("# 2. The test suite"):setup.index(".venv/bin/python -m pytest")]
    assert re.search(r"about \d+ minutes", block) and re.search(r"CI took \d{3,5} s", block)
    assert "No environment is lenient by default" in readme
    assert "(lenient)" in readme
    assert "embedded_model_dir()" in readme
    from judges.llm.embedded import embedded_model_dir

    folder = embedded_model_dir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (folder / name).is_file(), name
