"""The standard datasets by name: where each lives on the Hugging Face hub, the columns it must
have, and one loader that reads it from the hub or from a local copy.

```python
from rlenvs.datasets_hub import load_standard, STANDARD_DATASETS

rows = load_standard("openai/gsm8k")                 # the hub (needs network access)
rows = load_standard("openai/gsm8k", "copies/gsm8k") # a local copy: save_to_disk folder,
                                                     # hub-layout folder, or one parquet/JSON file
```

The environments take the same argument: ``rlenvs.make("rlenvs/GSM8K-v0", dataset="openai/gsm8k")``
(or ``dataset=<local copy>``). Every load checks the dataset's declared schema (required columns
and their types) and names the first column that is missing or of the wrong type. When the hub
cannot be reached the error says how to get a local copy, instead of a traceback from inside
``datasets`` (and without its minute of retries: the hub's host is probed first, in seconds).
With ``HF_HUB_OFFLINE=1`` (or ``HF_DATASETS_OFFLINE=1``) no probe is made and ``datasets`` reads
its own cache.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

__all__ = ["Column", "StandardDataset", "STANDARD_DATASETS", "DatasetUnavailable",
           "DatasetSchemaError", "standard_dataset", "load_standard", "open_dataset",
           "check_schema", "hub_unreachable"]

_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "str|int": (str, int)}


@dataclass(frozen=True)
class Column:
    """One column of a standard dataset: its name, its type (``"str"``, ``"int"``,
    ``"str|int"``, ``"list[str]"``, ``"list[dict]"``) and whether every row must have it."""

    name: str
    type: str
    required: bool = True

    def accepts(self, value: Any) -> bool:
        if self.type == "list[str]":
            return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        if self.type == "list[dict]":
            return isinstance(value, list | tuple) and all(
                v is None or isinstance(v, Mapping) for v in value)
        kinds = _TYPES[self.type]
        return isinstance(value, kinds) and not isinstance(value, bool)


@dataclass(frozen=True)
class StandardDataset:
    """A dataset on the hub by name, the env that plays it and its declared schema."""

    hub_id: str
    env_id: str
    columns: tuple[Column, ...]
    split: str = "test"
    configs: tuple[str | None, ...] = (None,)
    rows: int | None = None  # how many rows the hub's copy has (documentation)
    note: str = ""
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def download_hint(self) -> str:
        loads = " + ".join(f"datasets.load_dataset({self.hub_id!r}"
                           + (f", {c!r}" if c else "") + f", split={self.split!r})"
                           for c in self.configs)
        if len(self.configs) > 1:
            loads = f"datasets.concatenate_datasets([{loads.replace(' + ', ', ')}])"
        return (f"where the hub is reachable run `{loads}.save_to_disk(DIR)`, copy DIR here "
                "and pass dataset=DIR (a folder of the hub's own parquet/JSON files, or one such "
                "file, works too)")


_S, _I = "str", "int"
STANDARD_DATASETS: dict[str, StandardDataset] = {d.hub_id: d for d in (
    StandardDataset("openai/gsm8k", "rlenvs/GSM8K-v0",
                    (Column("question", _S), Column("answer", _S)), "test", ("main",), 1319,
                    "grade-school word problems; the gold is the number after '####'"),
    StandardDataset("HuggingFaceH4/MATH-500", "rlenvs/MATH-v0",
                    (Column("problem", _S), Column("solution", _S), Column("answer", _S, False),
                     Column("subject", _S, False), Column("level", _I, False),
                     Column("unique_id", _S, False)), "test", (None,), 500,
                    "the gold is the `answer` column (else the solution's last \\boxed{})"),
    StandardDataset("HuggingFaceH4/aime_2024", "rlenvs/AIME-v0",
                    (Column("problem", _S), Column("answer", "str|int"), Column("id", _I, False),
                     Column("solution", _S, False)), "train", (None,), 30,
                    "AIME 2024 I and II", {"year": 2024}),
    StandardDataset("opencompass/AIME2025", "rlenvs/AIME-v0",
                    (Column("question", _S), Column("answer", "str|int")), "test",
                    ("AIME2025-I", "AIME2025-II"), 30, "AIME 2025 I and II (two configs)",
                    {"year": 2025}),
    StandardDataset("evalplus/humanevalplus", "rlenvs/HumanEval-v0",
                    (Column("task_id", _S), Column("prompt", _S), Column("entry_point", _S),
                     Column("test", _S), Column("canonical_solution", _S, False)), "test",
                    (None,), 164, "HumanEval with EvalPlus's extra tests (`test` holds them all)"),
    StandardDataset("evalplus/mbppplus", "rlenvs/MBPP-v0",
                    (Column("task_id", "str|int"), Column("prompt", _S),
                     Column("test_list", "list[str]"), Column("test", _S),
                     Column("test_imports", "list[str]", False), Column("code", _S, False)),
                    "test", (None,), 378, "MBPP with EvalPlus's extra tests (`test`)"),
    StandardDataset("google/IFEval", "rlenvs/IFEval-v0",
                    (Column("key", "str|int"), Column("prompt", _S),
                     Column("instruction_id_list", "list[str]"), Column("kwargs", "list[dict]")),
                    "train", (None,), 541, "the 541 IFEval prompts"),
    StandardDataset("allenai/IFBench_test", "rlenvs/IFEval-v0",
                    (Column("key", "str|int"), Column("prompt", _S),
                     Column("instruction_id_list", "list[str]"), Column("kwargs", "list[dict]")),
                    "train", (None,), 300,
                    "IFBench's new instruction ids have no checker in judges.ifeval: prompts "
                    "using them are unscored (or left out with unsupported='skip')"),
)}

_SHORT = {"gsm8k": "openai/gsm8k", "math-500": "HuggingFaceH4/MATH-500",
          "aime-2024": "HuggingFaceH4/aime_2024", "aime-2025": "opencompass/AIME2025",
          "humaneval+": "evalplus/humanevalplus", "mbpp+": "evalplus/mbppplus",
          "ifeval": "google/IFEval", "ifbench": "allenai/IFBench_test"}


class DatasetUnavailable(ConnectionError):
    """The hub could not be reached (or does not have the dataset); the message names the fix."""


class DatasetSchemaError(ValueError):
    """A dataset lacks a declared column, or a column holds the wrong type (named)."""


def standard_dataset(name: str) -> StandardDataset:
    """The spec for a hub id (``"openai/gsm8k"``) or short name (``"gsm8k"``, ``"mbpp+"``)."""
    spec = STANDARD_DATASETS.get(_SHORT.get(name.lower(), name))
    if spec is None:
        raise ValueError(f"no standard dataset {name!r}; known: "
                         f"{', '.join(STANDARD_DATASETS)} (short: {', '.join(_SHORT)})")
    return spec


# ----------------------------------------------------------------------------- schema

def check_schema(rows: Iterable[Mapping[str, Any]], spec: StandardDataset,
                 where: str) -> list[dict[str, Any]]:
    """Rows as dicts, after checking every declared column of every row; the first problem is a
    :class:`DatasetSchemaError` naming the column, the row and what was expected."""
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DatasetSchemaError(f"{where}: row {i} is a {type(row).__name__}, not a table "
                                     f"row with columns {_required(spec)}")
        row = dict(row)
        for col in spec.columns:
            value = row.get(col.name)
            if value is None and col.required:
                what = "is empty in" if col.name in row else "is missing from"
                raise DatasetSchemaError(
                    f"{where}: column {col.name!r} {what} row {i} ({spec.hub_id} needs "
                    f"{_required(spec)}; this data has {', '.join(sorted(row)) or 'no columns'})")
            if value is not None and not col.accepts(value):
                raise DatasetSchemaError(
                    f"{where}: column {col.name!r} of row {i} must be {col.type} (as in "
                    f"{spec.hub_id}), got {type(value).__name__} {str(value)[:60]!r}")
        out.append(row)
    if not out:
        raise DatasetSchemaError(f"{where}: no rows")
    return out


def _required(spec: StandardDataset) -> str:
    return ", ".join(f"{c.name} ({c.type})" for c in spec.columns if c.required)


def _check_columns(names: Iterable[str], spec: StandardDataset, where: str) -> None:
    missing = [c.name for c in spec.columns if c.required and c.name not in set(names)]
    if missing:
        raise DatasetSchemaError(
            f"{where}: no column {missing[0]!r} ({spec.hub_id} needs {_required(spec)}; this "
            f"data has {', '.join(sorted(names)) or 'no columns'})")


# ----------------------------------------------------------------------------- loading

_FILE_FORMATS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}


def load_standard(name: str, dataset: Any = None, split: str | None = None) -> list[dict[str, Any]]:
    """The rows of standard dataset ``name``, schema-checked.

    ``dataset``: ``None`` or the hub id itself (the hub), another hub id in the same schema, a
    local copy (a ``save_to_disk`` folder, a folder of the hub's files, or one ``.parquet`` /
    ``.jsonl`` / ``.json`` / ``.csv`` file), or an in-memory ``datasets.Dataset`` / list of
    dict rows. ``split``: the split to read (default: the dataset's test split)."""
    spec = standard_dataset(name)
    split = split or spec.split
    if dataset is None:
        dataset = spec.hub_id
    if isinstance(dataset, str) and dataset.lower() in _SHORT and not Path(dataset).exists():
        dataset = _SHORT[dataset.lower()]  # a short name, unless a local copy is called so
    if isinstance(dataset, str | os.PathLike):
        text = os.fspath(dataset)
        configs = spec.configs if text == spec.hub_id else (None,)
        hint = spec.download_hint() if text == spec.hub_id else None
        loaded = open_dataset(text, split, configs, hint, example=spec.hub_id)
        where = text
    else:
        loaded, where = dataset, f"the {type(dataset).__name__} given"
        if _is_split_dict(loaded):
            loaded = _pick_split(loaded, split, where)
    names = getattr(loaded, "column_names", None)
    if isinstance(names, list):
        _check_columns(names, spec, where)
    return check_schema(loaded, spec, where)


def open_dataset(dataset: str | os.PathLike[str], split: str = "train",
                 configs: tuple[str | None, ...] = (None,), hint: str | None = None,
                 example: str = "openai/gsm8k") -> Any:
    """A ``datasets.Dataset`` from a local copy (``save_to_disk`` folder, folder of data files,
    one data file) or a hub id, with no schema; an unreachable hub is a
    :class:`DatasetUnavailable` naming the fix (``hint``, else a generic one)."""
    text = os.fspath(dataset)
    local = Path(text).expanduser()
    if local.exists():
        return _load_local(local, split)
    if text.startswith((".", "/", "~")) or text.endswith(tuple(_FILE_FORMATS)) \
            or text.count("/") != 1:
        raise FileNotFoundError(f"dataset={text}: no such file or folder (a hub id looks like "
                                f"{example!r})")
    return _load_hub(text, configs, split, hint)


def _is_split_dict(x: Any) -> bool:  # a DatasetDict (a dict of splits), not rows
    return isinstance(x, Mapping) and bool(x) and all(hasattr(v, "column_names")
                                                      for v in x.values())


def _pick_split(splits: Any, split: str, where: str) -> Any:
    if split in splits:
        return splits[split]
    if len(splits) == 1:  # a local copy saved under another split name: its only split
        return next(iter(splits.values()))
    raise DatasetSchemaError(f"{where}: no split {split!r} (it has {', '.join(splits)}); pass "
                             "split=")


def _load_local(path: Path, split: str) -> Any:
    import datasets

    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "state.json").exists()
                          or (path / "dataset_dict.json").exists()):
        loaded = datasets.load_from_disk(str(path))
        return _pick_split(loaded, split, str(path)) if isinstance(loaded, datasets.DatasetDict) \
            else loaded
    if path.is_file():
        fmt = _FILE_FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise ValueError(f"dataset={path}: a local copy is a folder or a "
                             f"{'/'.join(_FILE_FORMATS)} file")
        try:
            return datasets.load_dataset(fmt, data_files=str(path), split="train")
        except Exception as e:  # noqa: BLE001 - a corrupt file: one line, no deep traceback
            raise ValueError(f"dataset={path}: cannot read it as {fmt} ({_short(e)})") from None
    try:  # a folder of the hub's own files (data/test-00000-of-00001.parquet, test.jsonl, ...)
        loaded = datasets.load_dataset(str(path))
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"dataset={path}: not a dataset folder ({_short(e)})") from None
    return _pick_split(loaded, split, str(path))


def _short(e: BaseException) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def _offline_env() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_unreachable(timeout_s: float = 3.0) -> str | None:
    """Why the hub's host cannot be reached (``None`` when a TCP connection opens)."""
    try:
        from huggingface_hub.constants import ENDPOINT
    except ImportError:
        ENDPOINT = "https://huggingface.co"  # noqa: N806
    url = urlparse(os.environ.get("HF_ENDPOINT") or ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as e:
        return f"{host}:{port}: {e.strerror or e}"


def _load_hub(hub_id: str, configs: tuple[str | None, ...], split: str,
              hint: str | None) -> Any:
    config = f", {configs[0]!r}" if configs[0] else ""
    fix = hint or (f"where the hub is reachable run `datasets.load_dataset({hub_id!r}{config}, "
                   f"split={split!r}).save_to_disk(DIR)`, copy DIR here and pass dataset=DIR")
    if not _offline_env():
        why = hub_unreachable()
        if why is not None:
            raise DatasetUnavailable(f"dataset={hub_id}: the Hugging Face hub cannot be reached "
                                     f"({why}). Offline: {fix}")
    import datasets

    parts = []
    for config in configs:
        try:
            parts.append(datasets.load_dataset(hub_id, config, split=split))
        except (ConnectionError, OSError) as e:  # includes LocalEntryNotFoundError
            raise DatasetUnavailable(f"dataset={hub_id}: could not be fetched from the hub "
                                     f"({_short(e)}). Offline: {fix}") from None
        except ValueError as e:  # unknown split or config, or not on the hub at all
            raise DatasetUnavailable(f"dataset={hub_id} (config {config}, split {split}): "
                                     f"{_short(e)}") from None
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
