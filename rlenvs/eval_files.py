"""An evaluation's files: ``OUT`` (one JSON line per finished transcript, appended as episodes end)
and ``OUT.summary.json`` (the numbers and the full configuration).

The summary is valid JSON at every moment of a run: written first marked ``"partial": true``
(so a run killed outright leaves a readable, partial summary, never a 0-byte file), rewritten at
an interruption with what was kept, and at the end with ``"partial": false``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["NotTranscripts", "check_out_path", "summary_path", "write_summary_dict", "read_transcripts",
           "read_summary", "existing_results", "rewrite_transcripts"]


class NotTranscripts(ValueError):
    """The file is JSON lines, but not an evaluation's transcripts."""


def summary_path(out: str | Path) -> Path:
    return Path(str(out) + ".summary.json")


def check_out_path(out: str | Path) -> Path:
    """Make sure transcripts can be written to ``out`` (and its summary beside it) before any
    work starts; raises ``ValueError`` with a one-line reason otherwise. Leaves no empty file
    behind (a probe it creates is removed)."""
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory; give a file name such as {out}/eval.jsonl")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for path in (out, summary_path(out)):
            existed = path.exists()
            with path.open("a", encoding="utf-8"):
                pass
            if not existed:
                path.unlink()
    except OSError as e:
        raise ValueError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    return out


def existing_results(out: str | Path) -> bool:
    """Whether ``out`` already holds an evaluation (transcripts or a summary)."""
    out = Path(out)
    return any(p.is_file() and p.stat().st_size > 0 for p in (out, summary_path(out)))


def write_summary_dict(out: str | Path, summary: dict[str, Any]) -> Path:
    """Write ``summary`` beside ``out`` atomically (a reader never sees half a file)."""
    path = summary_path(out)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_transcripts(path: str | Path) -> list[dict[str, Any]]:
    """The transcripts in ``path``; a last line cut mid-write (a killed run) is dropped."""
    path = Path(path)
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if not line.endswith("\n"):
                    break
                raise ValueError(f"{path}:{number} is not a JSON line") from None
            if not isinstance(record, dict) or "messages" not in record or "episode" not in record:
                raise NotTranscripts(f"{path}:{number} is not an `rlenvs eval` transcript")
            records.append(record)
    return records


def read_summary(out: str | Path) -> dict[str, Any] | None:
    path = summary_path(out)
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def rewrite_transcripts(out: str | Path, records: list[dict[str, Any]]) -> None:
    """Replace ``out`` with ``records`` atomically (the kept transcripts of a resumed run)."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, out)
