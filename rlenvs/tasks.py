"""Task sources: where an environment's tasks come from.

A source draws a task dict from a seeded ``numpy`` generator. Three kinds:

* ``ProceduralSource`` — a generator function ``(rng) -> dict``;
* ``ListSource`` — a fixed list of task dicts (from a JSONL file with ``from_jsonl``, or a
  Hugging Face ``datasets`` dataset with ``from_dataset``), optionally converted row by row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TaskSource", "ProceduralSource", "ListSource"]


class TaskSource:
    """Base class: ``sample(rng) -> task dict``."""

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        raise NotImplementedError


class ProceduralSource(TaskSource):
    """Tasks made on the fly by ``generate(rng)``."""

    def __init__(self, generate: Callable[[np.random.Generator], dict[str, Any]]):
        self.generate = generate

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return self.generate(rng)


class ListSource(TaskSource):
    """A finite pool of tasks; ``sample`` picks one uniformly with the episode's RNG."""

    def __init__(self, tasks: Sequence[dict[str, Any]], name: str = "tasks"):
        if len(tasks) == 0:
            raise ValueError(f"{name}: no tasks")
        self.tasks = list(tasks)
        self.name = name

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return dict(self.tasks[index])

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return dict(self.tasks[int(rng.integers(len(self.tasks)))])

    @classmethod
    def from_jsonl(
        cls,
        path: str | Path,
        convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        required: Iterable[str] = (),
    ) -> ListSource:
        """Read one JSON object per line; blank lines are skipped; errors name file and line."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"task file not found: {path}")
        tasks = []
        required = tuple(required)
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{lineno}: expected a JSON object")
                missing = [k for k in required if k not in row]
                if missing:
                    raise ValueError(f"{path}:{lineno}: missing field(s) {missing}")
                task = convert(row) if convert else row
                task.setdefault("id", f"{path.stem}-{lineno}")
                tasks.append(task)
        return cls(tasks, name=str(path))

    @classmethod
    def from_dataset(
        cls,
        dataset: Any,
        convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        split: str | None = None,
        name: str | None = None,
    ) -> ListSource:
        """From a ``datasets.Dataset`` (or anything iterable of dict rows).

        ``dataset`` may also be a local copy (a ``save_to_disk`` folder, a folder of data files,
        one data file) or a hub id (``name``: its config); ``rlenvs.datasets_hub.open_dataset``
        loads it, and an unreachable hub is one clear error naming the fix.
        """
        if isinstance(dataset, (str, Path)):
            from rlenvs.datasets_hub import open_dataset

            dataset = open_dataset(dataset, split or "train", (name,))
        tasks = []
        for i, row in enumerate(dataset):
            task = convert(dict(row)) if convert else dict(row)
            task.setdefault("id", f"row-{i}")
            tasks.append(task)
        return cls(tasks, name=str(getattr(dataset, "info", None) and dataset.info.dataset_name))
