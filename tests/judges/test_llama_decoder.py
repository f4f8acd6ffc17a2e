"""The lean decoder's oneDNN-packed weights compute what plain ``F.linear`` computes, on the real
SmolLM2; where a dtype cannot be packed (bf16 on an AVX2-only CPU) the decoder says so and runs
on the plain weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from judges.llm.embedded import load_embedded_model
from judges.llm.llama_decoder import LlamaDecoder


@pytest.fixture(scope="module")
def model():
    return load_embedded_model(dtype=torch.float32).eval()


def _run(decoder: LlamaDecoder, prompt: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """Prefill then greedy steps; the logits of every position."""
    b, p = prompt.shape
    valid = torch.ones(b, p + steps, dtype=torch.bool)
    out = [decoder.prefill(prompt, valid[:, :p], p + steps)]
    positions = torch.full((b,), p)
    for t in range(steps):
        ids = out[-1].argmax(-1)
        out.append(decoder.step(ids, positions + t, p + t, valid[:, : p + t + 1]))
    return out


def test_packed_and_plain_weights_agree_on_smollm2(model):
    packed, plain = LlamaDecoder(model, torch.float32), LlamaDecoder(model, torch.float32,
                                                                    packed=False)
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch build has no oneDNN")
    assert packed.packed and not plain.packed
    assert packed.lm_head.is_mkldnn and not plain.lm_head.is_mkldnn
    prompt = torch.randint(0, 49152, (8, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # transformers' own forward is the reference
        ref = model(prompt).logits[:, -1].log_softmax(-1)
    a, b = _run(packed, prompt, 6), _run(plain, prompt, 6)
    assert torch.equal(b[0].log_softmax(-1), ref)  # plain weights: bit for bit
    assert (a[0].log_softmax(-1) - ref).abs().max() < 2e-4  # measured 6.8e-5 (mean 9e-6)
    for x, y in zip(a, b, strict=True):  # every vocabulary entry, 6 decode steps on
        assert torch.equal(x.argmax(-1), y.argmax(-1))
        assert (x.log_softmax(-1) - y.log_softmax(-1)).abs().max() < 2e-3  # measured 5e-4
    # a weight sync repacks: both still agree after loading other weights
    other = load_embedded_model(dtype=torch.float32)
    with torch.no_grad():
        other.model.layers[0].mlp.down_proj.weight.mul_(0.5)
    packed.load(other), plain.load(other)
    x, y = _run(packed, prompt, 1)[-1], _run(plain, prompt, 1)[-1]
    assert (x.log_softmax(-1) - y.log_softmax(-1)).abs().max() < 2e-3
    assert (x - a[1]).abs().max() > 1e-2  # the new weights are in use


_PROBE = """
import json, torch
from judges.llm.embedded import load_embedded_model
from judges.llm.llama_decoder import LlamaDecoder
model = load_embedded_model(dtype=torch.float32).eval()
out = {}
for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
    dec = LlamaDecoder(model.to(dtype), dtype)
    logits = dec.prefill(torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.bool), 4)
    out[name] = {"packed": dec.packed, "finite": bool(logits.isfinite().all())}
print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), **out}))
"""


def test_avx2_only_cpu_packs_fp32_and_runs_bf16_on_plain_weights():
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                          text=True, timeout=300, check=True)
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert facts["capability"] == "AVX2"
    assert facts["float32"] == {"packed": True, "finite": True}, facts
    assert facts["bfloat16"] == {"packed": False, "finite": True}, facts
