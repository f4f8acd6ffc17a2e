"""``auto`` chooses the dtype by the real decoder's paths, not by a plain matmul (issue 29).

The decision is a pure function of the timings; it is checked here on timings of both CPU kinds
(``benchmarks/results/dtype_choice.json`` holds measured ones with the real generation beside)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from judges.llm.cpu_dtype import choose_generation, choose_training, generation_cost

# A native-bf16 CPU where packed fp32 beats bf16 (the AMD EPYC finding: generation
# 12.1 s in fp32 vs 23.9 s in bf16 through the decoder, though a plain matmul favours bf16).
NATIVE_FP32_WINS = {
    "float32/packed": {"decode": 0.021, "prefill": 0.30},
    "float32/plain": {"decode": 0.048, "prefill": 0.45},
    "bfloat16/packed": {"decode": 0.036, "prefill": 0.21},
    "bfloat16/plain": {"decode": 0.040, "prefill": 0.22},
}
# A native-bf16 CPU where bf16 packed is clearly faster (AMX-class).
NATIVE_BF16_WINS = {
    "float32/packed": {"decode": 0.022, "prefill": 0.34},
    "float32/plain": {"decode": 0.050, "prefill": 0.45},
    "bfloat16/packed": {"decode": 0.012, "prefill": 0.15},
    "bfloat16/plain": {"decode": 0.020, "prefill": 0.19},
}
# AVX2-only: bf16 emulated (3-5x slower), oneDNN cannot pack bf16 (no such path).
AVX2_ONLY = {
    "float32/packed": {"decode": 0.024, "prefill": 0.40},
    "float32/plain": {"decode": 0.045, "prefill": 0.52},
    "bfloat16/plain": {"decode": 0.140, "prefill": 1.90},
}


def test_packed_fp32_beating_bf16_picks_fp32_although_a_plain_matmul_favours_bf16():
    assert NATIVE_FP32_WINS["bfloat16/plain"]["decode"] < NATIVE_FP32_WINS["float32/plain"]["decode"]
    assert choose_generation(NATIVE_FP32_WINS) == ("float32", True)


def test_a_clearly_faster_bf16_path_is_chosen_with_its_packing():
    assert choose_generation(NATIVE_BF16_WINS) == ("bfloat16", True)


def test_avx2_only_picks_fp32_packed():
    assert choose_generation(AVX2_ONLY) == ("float32", True)


def test_bf16_within_the_margin_keeps_fp32():
    close = {"float32/packed": {"decode": 0.020, "prefill": 0.3},
             "bfloat16/packed": {"decode": 0.0185, "prefill": 0.28}}
    assert generation_cost(close["bfloat16/packed"]) > 0.9 * generation_cost(close["float32/packed"])
    assert choose_generation(close) == ("float32", True)


def test_a_path_oneDNN_cannot_run_is_not_needed():  # noqa: N802
    assert choose_generation({"float32/plain": {"decode": 0.05, "prefill": 0.5}}) == \
        ("float32", False)
    with pytest.raises(ValueError, match="float32"):
        choose_generation({"bfloat16/plain": {"decode": 0.05, "prefill": 0.5}})


def test_training_is_decided_apart_from_generation():
    assert choose_training({"float32": 7.9, "bfloat16": 5.1}) == "bfloat16"   # native bf16
    assert choose_training({"float32": 9.0, "bfloat16": 153.0}) == "float32"  # AVX2-only
    assert choose_training({"float32": 1.0, "bfloat16": 0.95}) == "float32"   # within margin


_PROBE = ("import json; from judges.llm.cpu_dtype import measure_paths; "
          "m = measure_paths(); print(json.dumps({'source': m['source'], "
          "'paths': sorted(m['generation'])}))")


def _probe(env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_measured_once_per_machine_and_again_when_torch_or_the_cpu_changes(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RLENVS_REMEASURE"}
    env["RLENVS_CACHE"] = str(tmp_path)
    first = _probe(env)
    import torch

    assert first["source"] == "measured"
    assert {"float32/plain", "bfloat16/plain"} <= set(first["paths"])
    assert ("float32/packed" in first["paths"]) == torch.backends.mkldnn.is_available()
    assert _probe(env)["source"] == "cache"
    stored = json.loads((tmp_path / "cpu_paths.json").read_text())
    (key, entry), = stored.items()
    entry["fingerprint"]["torch"] = "0.0"  # what an older torch stored under another key
    stored = {"0000000000000000": entry}
    (tmp_path / "cpu_paths.json").write_text(json.dumps(stored))
    assert _probe(env)["source"] == "measured"  # no entry for this torch/CPU: measured again
    assert key in json.loads((tmp_path / "cpu_paths.json").read_text())
