"""The embedded model's one-time GGUF conversion on a fresh machine: quiet, and the converted
copy is what the rest of the project loads."""

from __future__ import annotations

import os
import subprocess
import sys

_FIRST_USE = """
from judges.llm.embedded import embedded_model_dir
path = embedded_model_dir()
print("CONVERTED", (path / "model.safetensors").is_file())
"""


def test_first_use_converts_without_a_progress_bar(tmp_path) -> None:
    # A fresh cache makes this process convert the GGUF file, as on a fresh machine.
    env = {**os.environ, "RLENVS_CACHE": str(tmp_path / "cache"), "TQDM_DISABLE": ""}
    done = subprocess.run([sys.executable, "-c", _FIRST_USE], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CONVERTED True" in done.stdout
    # transformers' GGUF reader has its own tqdm bar ("Converting and de-quantizing GGUF
    # tensors..."): a user's first `rlenvs main` printed it.
    assert "GGUF" not in done.stderr and "it/s" not in done.stderr, done.stderr[-2000:]
    assert "GGUF" not in done.stdout
