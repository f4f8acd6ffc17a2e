"""Pick the generation and training dtypes by measuring what will run, not by a fixed default.

bf16 inference is ~2x faster than fp32 on CPUs with native bf16 instructions (AVX-512-BF16,
AMX) and 3-5x *slower* where bf16 is emulated (AVX2-only CPUs, or a torch/oneDNN limited to
AVX2 by ``ATEN_CPU_CAPABILITY`` / ``ONEDNN_MAX_CPU_ISA``). But a plain ``F.linear`` in both
dtypes is not what runs: the decoder (:class:`judges.llm.llama_decoder.LlamaDecoder`) runs its
projections on oneDNN-*packed* weights where the CPU allows it, and packed fp32 is about twice as
fast as plain fp32 -- on a native-bf16 CPU it can beat bf16. So the choice times the real paths:

* **generation**: the real decoder (:class:`~judges.llm.llama_decoder.LlamaDecoder` on a
  2-layer model of SmolLM2's shapes, scaled to its 30 layers) in every path it can take --
  ``float32`` packed, ``bfloat16`` packed (where oneDNN can pack bf16), ``bfloat16`` and
  ``float32`` plain -- for a decode step (8 rows) and a prefill (8x32 tokens), combined as one
  generation round costs (128 decode steps, 3 prefills). The dtype of the fastest path wins; bf16 only when it is at least 10% faster
  than fp32 (fp32 keeps exact log-probs, no rounding between sampler and trainer).
* **training**: a LoRA-shaped forward+backward (frozen weights, gradients through them) of the
  same projections at a training batch (880 rows), in fp32 and under bf16 autocast, with the same
  10% margin (:func:`fastest_training_dtype`; what ``bf16="auto"`` uses).

Timings are best of interleaved repetitions, measured once per machine and kept in
``$RLENVS_CACHE/cpu_paths.json`` (``~/.cache/rlenvs``) under a fingerprint of the CPU model, its
vector/bf16 flags, torch's version and capability, the ISA-limiting variables and the thread
count; a change in any of them measures again (``RLENVS_REMEASURE=1`` forces it). Timings taken
while other work filled the cores are used only until the machine is quieter, then measured again. The decisions
are pure functions of the timings (:func:`choose_generation`, :func:`choose_training`), tested on
recorded timings of both CPU kinds.

    resolve_dtype("auto")        # -> torch.bfloat16 or torch.float32 (generation)
    fastest_training_dtype()     # -> the training passes' dtype
    cpu_facts()                  # {"cpu_model": ..., "torch_cpu_capability": ..., ...}

``RLENVS_GENERATION_DTYPE=float32|bfloat16`` overrides ``"auto"`` (both decisions) without
touching code.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import torch

__all__ = ["DTYPE_NAMES", "resolve_dtype", "fastest_cpu_dtype", "fastest_training_dtype",
           "choose_generation", "choose_training", "measure_paths", "cpu_facts", "dtype_name"]

DTYPE_NAMES: dict[str, torch.dtype] = {"bfloat16": torch.bfloat16, "float32": torch.float32}
_CHOICES = ("auto", *DTYPE_NAMES)
#: bf16 must be this much faster (time ratio) to be chosen over fp32
BF16_MARGIN = 0.9
# SmolLM2-135M's shapes: hidden 576, q/k/v 576+192+192, MLP 1536, vocabulary 49152, 30 layers
_HIDDEN, _QKV, _MLP, _VOCAB, _LAYERS = 576, 960, 1536, 49152, 30
_DECODE_ROWS, _PREFILL_ROWS, _TRAIN_ROWS = 8, 256, 880
_DECODE_STEPS, _PREFILL_CHUNKS = 128, 3
_CACHE_VERSION = 1


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
        forced = _forced()
        return forced if forced is not None else fastest_cpu_dtype()
    return DTYPE_NAMES[name]


def _forced() -> torch.dtype | None:
    forced = os.environ.get("RLENVS_GENERATION_DTYPE", "").strip()
    if not forced or forced == "auto":
        return None
    if forced not in DTYPE_NAMES:
        raise ValueError(f"RLENVS_GENERATION_DTYPE must be one of {', '.join(_CHOICES)};"
                         f" got {forced!r}")
    return DTYPE_NAMES[forced]


# ----------------------------------------------------------------- the decisions (pure)

def choose_generation(timings: Mapping[str, Mapping[str, float]]) -> tuple[str, bool]:
    """``(dtype name, packed)`` of the fastest generation path in ``timings``
    (``{"float32/packed": {"decode": s, "prefill": s}, ...}``, missing paths could not run):
    bf16 only when its best path is at least 10% faster than fp32's best."""
    costs = {path: generation_cost(t) for path, t in timings.items()}
    best = {name: min(((c, p) for p, c in costs.items() if p.startswith(name + "/")),
                      default=(float("inf"), ""))
            for name in DTYPE_NAMES}
    if best["float32"][1] == "":
        raise ValueError(f"no float32 path in the timings {sorted(timings)}")
    pick = "bfloat16" if best["bfloat16"][0] < BF16_MARGIN * best["float32"][0] else "float32"
    return pick, best[pick][1].endswith("/packed")


def generation_cost(t: Mapping[str, float]) -> float:
    """Seconds one generation round spends in the projections: 128 decode steps + 3 prefills."""
    return _DECODE_STEPS * t["decode"] + _PREFILL_CHUNKS * t["prefill"]


def choose_training(timings: Mapping[str, float]) -> str:
    """The training passes' dtype from ``{"float32": s, "bfloat16": s}`` (forward+backward)."""
    return "bfloat16" if timings["bfloat16"] < BF16_MARGIN * timings["float32"] else "float32"


def fastest_cpu_dtype() -> torch.dtype:
    """The generation dtype the measurement picks on this CPU (:func:`choose_generation`)."""
    return DTYPE_NAMES[choose_generation(measure_paths()["generation"])[0]]


def fastest_training_dtype() -> torch.dtype:
    """The training dtype ``bf16="auto"`` picks on this CPU (``RLENVS_GENERATION_DTYPE``
    forces it too)."""
    forced = _forced()
    if forced is not None:
        return forced
    return DTYPE_NAMES[choose_training(measure_paths()["training"])]


# ----------------------------------------------------------------- the measurement

def _tiny_smollm(layers: int) -> Any:
    """A randomly initialised model with SmolLM2-135M's shapes and ``layers`` layers."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=_VOCAB, hidden_size=_HIDDEN, intermediate_size=_MLP,
                         num_hidden_layers=layers, num_attention_heads=9, num_key_value_heads=3,
                         max_position_embeddings=2048, tie_word_embeddings=True,
                         rms_norm_eps=1e-5)
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval()


def _best(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def _measure_generation() -> dict[str, dict[str, float]]:
    """The real decoder (:class:`judges.llm.llama_decoder.LlamaDecoder`, 2 SmolLM2 layers) in
    every path it can take: a prefill of 8x32 tokens and one decode step of 8 rows over a ~40-token
    cache; the layers' share is scaled to SmolLM2's 30 layers (the LM head timed apart)."""
    from judges.llm.llama_decoder import LlamaDecoder

    n = 2
    model = _tiny_smollm(n)
    decoders = {}
    for name, dt in DTYPE_NAMES.items():
        for packed in (True, False):
            dec = LlamaDecoder(model, dt, packed=packed)
            if dec.packed == packed:  # a pack oneDNN cannot do is not a path
                decoders[f"{name}/{'packed' if packed else 'plain'}"] = dec
    del model
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, _VOCAB, (_DECODE_ROWS, 32), generator=gen)
    valid = torch.ones_like(ids)
    step_ids = torch.randint(0, _VOCAB, (_DECODE_ROWS,), generator=gen)
    positions = torch.full((_DECODE_ROWS,), 32)
    step_valid = torch.ones(_DECODE_ROWS, 48, dtype=torch.long)

    def prefill(dec: Any) -> Any:
        return dec.prefill(ids, valid, 48)

    def decode(dec: Any) -> Any:
        return dec.step(step_ids, positions, 32, step_valid)

    def head(dec: Any, rows: int) -> Callable[[], Any]:
        hidden = torch.zeros(rows, _HIDDEN, dtype=dec.dtype)
        return lambda: dec.logits(hidden)

    out: dict[str, dict[str, float]] = {p: {} for p in decoders}
    with torch.inference_mode():
        for dec in decoders.values():  # warm-up: kernels picked, buffers allocated
            prefill(dec)
            decode(dec)
        for _ in range(3):  # interleaved, so a burst of load hits every path alike
            for path, dec in decoders.items():
                pre = _best(lambda d=dec: prefill(d), 1)
                dcd = _best(lambda d=dec: decode(d), 4)
                h = _best(head(dec, _DECODE_ROWS), 4)
                for shape, t in (("prefill", pre), ("decode", dcd)):
                    scaled = h + max(t - h, 0.0) * _LAYERS / n
                    out[path][shape] = min(out[path].get(shape, float("inf")), scaled)
    return out


def _layer(dtype: torch.dtype, gen: torch.Generator) -> dict[str, torch.Tensor]:
    shapes = {"qkv": (_QKV, _HIDDEN), "o": (_HIDDEN, _HIDDEN), "gate_up": (2 * _MLP, _HIDDEN),
              "down": (_HIDDEN, _MLP)}
    return {k: (torch.randn(*s, generator=gen) * 0.02).to(dtype) for k, s in shapes.items()}


def _measure_training() -> dict[str, float]:
    gen = torch.Generator().manual_seed(1)
    w = _layer(torch.float32, gen)
    x0 = torch.randn(_TRAIN_ROWS, _HIDDEN, generator=gen)

    def step(bf16: bool) -> None:
        x = x0.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            lin = torch.nn.functional.linear
            h = lin(x, w["gate_up"])[:, :_MLP]
            y = lin(h, w["down"]) + lin(x, w["qkv"])[:, :_HIDDEN]
            y = lin(y, w["o"])
        y.float().sum().backward()

    out = {"float32": float("inf"), "bfloat16": float("inf")}
    step(False)
    step(True)
    for _ in range(3):
        for name in out:
            out[name] = min(out[name], _best(lambda n=name: step(n == "bfloat16"), 2))
    return {k: _LAYERS * v for k, v in out.items()}


def _fingerprint() -> dict[str, Any]:
    flags = _cpu_flags()
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx512_fp16", "amx_bf16",
              "amx_tile", "avx_vnni", "avx_ne_convert")
    return {
        "version": _CACHE_VERSION, "cpu_model": _cpu_model(),
        "flags": sorted(f for f in wanted if f in flags),
        "torch": torch.__version__, "capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "threads": torch.get_num_threads(),
        "env": {v: os.environ.get(v, "") for v in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")},
    }


def _cache_file() -> Any:
    from judges.llm.embedded import cache_root

    return cache_root() / "cpu_paths.json"


def _busy() -> bool:
    """Whether other work fills the cores (1-minute load average): timings taken then are kept
    only until a measurement on a quieter machine replaces them."""
    try:
        return os.getloadavg()[0] >= (os.cpu_count() or 1)
    except OSError:
        return False


@lru_cache(maxsize=1)
def measure_paths() -> dict[str, Any]:
    """``{"generation": {path: {"decode": s, "prefill": s}}, "training": {dtype: s},
    "source": "measured"|"cache"}`` for this machine: read from the cache when its fingerprint
    matches, else measured (about a second) and stored."""
    key = hashlib.sha256(json.dumps(_fingerprint(), sort_keys=True).encode()).hexdigest()[:16]
    path = _cache_file()
    stored: dict[str, Any] = {}
    if os.environ.get("RLENVS_REMEASURE", "") not in ("1", "true"):
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            entry = stored.get(key)
            if isinstance(entry, dict) and (not entry.get("busy") or _busy()):
                return {**entry, "source": "cache"}  # a busy machine's timings: until quiet
        except (OSError, ValueError):
            stored = {}
    result = {"generation": _measure_generation(), "training": _measure_training(),
              "fingerprint": _fingerprint(), "busy": _busy()}
    try:  # best effort: a read-only home still works, it just measures each process
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = stored if isinstance(stored, dict) else {}
        stored[key] = result
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(stored, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return {**result, "source": "measured"}


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

    ``dtype`` (the generation dtype actually used) is recorded when given; the measured path
    timings (and ``matmul_s``: per dtype, the generation cost of its fastest path;
    ``training_s``: forward+backward per dtype) are included only if ``"auto"`` already measured
    or read them (this never measures by itself).
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
    if measure_paths.cache_info().currsize:
        m = measure_paths()
        gen = m["generation"]
        facts["matmul_s"] = {n: round(min(generation_cost(t) for p, t in gen.items()
                                          if p.startswith(n + "/")), 6)
                             for n in DTYPE_NAMES if any(p.startswith(n + "/") for p in gen)}
        facts["training_s"] = {k: round(v, 6) for k, v in m["training"].items()}
        facts["generation_paths_s"] = {p: {k: round(v, 6) for k, v in t.items()}
                                       for p, t in gen.items()}
        facts["generation_choice"] = "/".join(
            (lambda c: (c[0], "packed" if c[1] else "plain"))(choose_generation(gen)))
        facts["dtype_timings_source"] = m["source"]
    if dtype is not None:
        facts["generation_dtype"] = dtype_name(dtype)
    return facts
