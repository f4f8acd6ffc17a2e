"""The generation dtype follows what the CPU does fast (issue: bf16 on an AVX2-only CPU is slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from judges.llm.cpu_dtype import cpu_facts, resolve_dtype

_PROBE = (
    "import json, torch; from judges.llm.cpu_dtype import resolve_dtype, cpu_facts; "
    "torch.set_num_threads(1); d = resolve_dtype('auto'); print(json.dumps(cpu_facts(d)))"
)


def _probe(**env: str) -> dict:
    full = {k: v for k, v in os.environ.items() if k != "RLENVS_GENERATION_DTYPE"} | env
    out = subprocess.run([sys.executable, "-c", _PROBE], env=full, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_avx2_only_cpu_gets_float32():
    # torch and oneDNN limited to AVX2: bf16 matmuls are emulated (3-5x slower than fp32 here)
    facts = _probe(ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2")
    assert facts["torch_cpu_capability"] == "AVX2"
    assert facts["generation_dtype"] == "float32", facts
    assert facts["matmul_s"]["bfloat16"] > facts["matmul_s"]["float32"], facts


def test_auto_follows_the_measurement_on_this_cpu():
    facts = _probe()
    t = facts["matmul_s"]
    expected = "bfloat16" if t["bfloat16"] < 0.9 * t["float32"] else "float32"
    assert facts["generation_dtype"] == expected, facts
    if not facts["cpu_bf16_instructions"]:  # without native bf16 the emulation never wins
        assert facts["generation_dtype"] == "float32", facts


def test_override_and_explicit_names():
    assert _probe(RLENVS_GENERATION_DTYPE="float32")["generation_dtype"] == "float32"
    assert _probe(RLENVS_GENERATION_DTYPE="bfloat16")["generation_dtype"] == "bfloat16"
    assert resolve_dtype("float32") is torch.float32
    assert resolve_dtype("torch.bfloat16") is torch.bfloat16
    assert resolve_dtype(torch.float32) is torch.float32
    with pytest.raises(ValueError, match="auto, bfloat16, float32"):
        resolve_dtype("fp16")
    with pytest.raises(ValueError, match="bfloat16 or float32"):
        resolve_dtype(torch.float16)


def test_cpu_facts_say_what_ran():
    facts = cpu_facts(torch.float32)
    assert facts["generation_dtype"] == "float32"
    assert facts["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert facts["torch_threads"] == torch.get_num_threads()
    assert facts["cpu_model"]
