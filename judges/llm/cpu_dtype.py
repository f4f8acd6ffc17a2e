"""Pick the generation dtype by what this CPU does fast, not by a fixed default.

bf16 inference is ~2x faster than fp32 on CPUs with native bf16 instructions (AVX-512-BF16,
AMX) and 3-5x *slower* where bf16 is emulated (AVX2-only CPUs, or a torch/oneDNN limited to
AVX2 by ``ATEN_CPU_CAPABILITY`` / ``ONEDNN_MAX_CPU_ISA``). Which one holds is measured, once per
process: a decode-shaped matrix product (a batch of 8 rows against a SmolLM2-sized MLP weight) in
both dtypes, best of several interleaved repetitions. The CPU facts and the measured times are
kept so benchmarks, metrics and evaluation summaries can say what they ran on.

    resolve_dtype("auto")        # -> torch.bfloat16 or torch.float32, measured once
    resolve_dtype("float32")     # explicit names pass through
    cpu_facts()                  # {"cpu_model": ..., "torch_cpu_capability": ..., ...}

``RLENVS_GENERATION_DTYPE=float32|bfloat16`` overrides ``"auto"`` without touching code.
"""

from __future__ import annotations

import os
import platform
import time
from functools import lru_cache
from typing import Any

import torch

__all__ = ["DTYPE_NAMES", "resolve_dtype", "fastest_cpu_dtype", "cpu_facts", "dtype_name"]

DTYPE_NAMES: dict[str, torch.dtype] = {"bfloat16": torch.bfloat16, "float32": torch.float32}
_CHOICES = ("auto", *DTYPE_NAMES)


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"``."""
    return str(dtype).removeprefix("torch.")


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """A generation dtype from a name, a ``torch.dtype``, or ``"auto"``/``None`` (measured)."""
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPE_NAMES.values():
            raise ValueError(f"generation dtype must be bfloat16 or float32, got {dtype}")
        return dtype
    name = "auto" if dtype is None else str(dtype).removeprefix("torch.")
    if name not in _CHOICES:
        raise ValueError(f"generation dtype must be one of {', '.join(_CHOICES)}; got {dtype!r}")
    if name == "auto":
        forced = os.environ.get("RLENVS_GENERATION_DTYPE", "").strip()
        if forced and forced != "auto":
            if forced not in DTYPE_NAMES:
                raise ValueError(f"RLENVS_GENERATION_DTYPE must be one of {', '.join(_CHOICES)};"
                                 f" got {forced!r}")
            return DTYPE_NAMES[forced]
        return fastest_cpu_dtype()
    return DTYPE_NAMES[name]


def _best_time(a: torch.Tensor, w: torch.Tensor, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        torch.nn.functional.linear(a, w)
    return time.perf_counter() - start


@lru_cache(maxsize=1)
def _measure() -> dict[str, float]:
    """Seconds for ``calls`` decode-shaped matmuls per dtype (best of interleaved repetitions)."""
    gen = torch.Generator().manual_seed(0)
    a32 = torch.randn(8, 576, generator=gen)
    w32 = torch.randn(1536, 576, generator=gen)
    pairs = {name: (a32.to(dt), w32.to(dt)) for name, dt in DTYPE_NAMES.items()}
    best = dict.fromkeys(pairs, float("inf"))
    with torch.inference_mode():
        for a, w in pairs.values():  # warm-up: first calls pick kernels / allocate
            _best_time(a, w, 3)
        for _ in range(5):
            for name, (a, w) in pairs.items():
                best[name] = min(best[name], _best_time(a, w, 20))
    return best


def fastest_cpu_dtype() -> torch.dtype:
    """bf16 where it measures at least 10% faster than fp32 on this CPU, else fp32.

    The margin keeps fp32 (exact log-probs, no rounding between sampler and trainer) when the two
    are close. Measured once per process (~0.1 s).
    """
    t = _measure()
    return torch.bfloat16 if t["bfloat16"] < 0.9 * t["float32"] else torch.float32


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_facts(dtype: torch.dtype | None = None) -> dict[str, Any]:
    """What a result was measured on: CPU model, torch's capability, bf16 support, threads.

    ``dtype`` (the generation dtype actually used) is recorded when given; the bf16/fp32 matmul
    times are included only if ``"auto"`` already measured them (this never measures by itself).
    """
    flags = _cpu_flags()
    facts: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16_instructions": bool({"avx512_bf16", "amx_bf16"} & flags),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    }
    for var in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "RLENVS_GENERATION_DTYPE"):
        if os.environ.get(var):
            facts[var] = os.environ[var]
    if _measure.cache_info().currsize:
        facts["matmul_s"] = {k: round(v, 6) for k, v in _measure().items()}
    if dtype is not None:
        facts["generation_dtype"] = dtype_name(dtype)
    return facts
