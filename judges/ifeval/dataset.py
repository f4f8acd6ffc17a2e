"""Reading prompts in IFEval's ``input_data.jsonl`` format, with validation.

One JSON object per line with ``key`` (int), ``prompt`` (str), ``instruction_id_list``
(list of ids) and ``kwargs`` (list of dicts aligned with the ids). A small sample written for
this package ships as ``judges/ifeval/data/input_data_sample.jsonl`` (:data:`SAMPLE_PATH`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from judges.ifeval.registry import resolve_kwargs

__all__ = ["load_ifeval_jsonl", "validate_ifeval_row", "SAMPLE_PATH"]

#: The bundled sample (30 prompts covering all 25 instruction ids).
SAMPLE_PATH: Path = Path(__file__).parent / "data" / "input_data_sample.jsonl"


def validate_ifeval_row(row: Any) -> dict[str, Any]:
    """Check one row and return it with ``kwargs`` filled in (``{}`` where absent).

    Raises ``ValueError`` describing the first problem (missing field, wrong type, unknown
    instruction id, missing or invalid kwarg).
    """
    if not isinstance(row, dict):
        raise ValueError(f"row must be a JSON object, got {type(row).__name__}")
    for name in ("key", "prompt", "instruction_id_list"):
        if name not in row:
            raise ValueError(f"missing field {name!r}")
    key = row["key"]
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise ValueError(f"'key' must be an int or str, got {key!r}")
    prompt = row["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("'prompt' must be a non-empty string")
    ids = row["instruction_id_list"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ValueError("'instruction_id_list' must be a non-empty list of strings")
    kwargs = row.get("kwargs")
    if kwargs is None:
        kwargs = [{} for _ in ids]
    if not isinstance(kwargs, list) or len(kwargs) != len(ids):
        raise ValueError(
            f"'kwargs' must be a list with one dict per instruction ({len(ids)} expected)"
        )
    fixed = []
    for cid, kw in zip(ids, kwargs, strict=True):
        if kw is None:
            kw = {}
        resolve_kwargs(cid, kw)  # raises ValueError naming the id and kwarg
        fixed.append(kw)
    return {"key": key, "prompt": prompt, "instruction_id_list": list(ids), "kwargs": fixed}


def load_ifeval_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read and validate an IFEval-format JSONL file.

    Blank lines are skipped. Errors raise ``ValueError`` with the file name and line number;
    duplicate keys are rejected.
    """
    rows: list[dict[str, Any]] = []
    seen: dict[Any, int] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{os.fspath(path)}:{lineno}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: invalid JSON ({exc.msg})") from None
            try:
                row = validate_ifeval_row(raw)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            if row["key"] in seen:
                raise ValueError(
                    f"{where}: duplicate key {row['key']!r} (first on line {seen[row['key']]})"
                )
            seen[row["key"]] = lineno
            rows.append(row)
    return rows
