"""``rlenvs eval --policy vllm:PATH``: the CLI's in-process vLLM policy spec on SmolLM2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from judges.llm.embedded import embedded_model_dir

pytestmark = pytest.mark.slow


def test_eval_with_the_vllm_policy_spec(tmp_path):
    out = tmp_path / "eval.jsonl"
    rlenvs_cmd = Path(sys.executable).parent / "rlenvs"
    # on the CPU build the KV cache is sized in GiB by this variable (the default would
    # reserve most of the machine's RAM)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    proc = subprocess.run(
        [str(rlenvs_cmd), "eval", "rlenvs/Arithmetic-v0", "--policy",
         f"vllm:{embedded_model_dir()}", "--episodes", "4", "--max-completion-length", "12",
         "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert len(records) == 4, records
    text = json.dumps(records)
    assert "vllm" in (proc.stdout + text + "".join(p.read_text() for p in tmp_path.iterdir()
                                                   if p != out)).lower()
    replies = [m["content"] for r in records for m in r.get("messages", [])
               if m.get("role") == "assistant"]
    assert len(replies) == 4 and all(isinstance(x, str) and x for x in replies), records[0]
