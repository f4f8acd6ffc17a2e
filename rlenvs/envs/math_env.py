"""The math family: procedural tasks (reasoning-gym) and GSM8K / MATH format datasets.

* ``rlenvs/Math-v0`` — procedural problems from reasoning-gym generators, with difficulty
  ``level`` 1..3 and a curriculum hook (``env.unwrapped.set_level(n)``).
* ``rlenvs/GSM8K-v0`` — rows ``{"question", "answer"}`` whose answer ends in ``#### x``.
* ``rlenvs/MATH-v0`` — rows ``{"problem", "solution"}`` whose solution has a ``\\boxed{}``
  (or with an ``answer`` column, as MATH-500 has: that is the gold).
* ``rlenvs/AIME-v0`` — AIME 2024 / 2025 (``year=``), rows ``{"problem" or "question", "answer"}``.

The dataset envs read a JSONL file (``path=``; small samples written by us ship as defaults) or
a standard dataset (``dataset=``: its hub id, e.g. ``openai/gsm8k``, ``HuggingFaceH4/MATH-500``,
a local copy, or a ``datasets.Dataset``), loaded and schema-checked by ``rlenvs.datasets_hub``.
Every answer is judged by ``judges.math.verify_math``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np

from rlenvs.envs.math_judge import make_math_judge
from rlenvs.task_env import TaskEnv
from rlenvs.tasks import ListSource, TaskSource

__all__ = ["MathEnv", "GSM8KEnv", "MATHEnv", "AIMEEnv", "gsm8k_row", "math_row", "aime_row",
           "RG_LEVELS", "AIME_DATASETS"]

BOXED_INSTRUCTION = "Put your final answer in \\boxed{}."

# reasoning-gym generator -> level -> config overrides.
RG_LEVELS: dict[str, dict[int, dict[str, Any]]] = {
    "basic_arithmetic": {
        1: {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1,
            "operators": ("+", "-"), "allow_parentheses": False, "allow_negation": False},
        2: {"min_terms": 2, "max_terms": 3, "min_digits": 1, "max_digits": 2,
            "operators": ("+", "-", "*"), "allow_negation": False},
        3: {"min_terms": 3, "max_terms": 5, "min_digits": 2, "max_digits": 3},
    },
    "simple_equations": {
        1: {"min_terms": 2, "max_terms": 2, "max_value": 20},
        2: {"min_terms": 2, "max_terms": 3, "max_value": 50},
        3: {"min_terms": 3, "max_terms": 4, "max_value": 100},
    },
    "fraction_simplification": {
        1: {"max_value": 20, "max_factor": 5, "styles": ("plain",)},
        2: {"max_value": 100, "max_factor": 20},
        3: {"max_value": 1000, "max_factor": 100},
    },
    "gcd": {1: {"max_value": 50}, 2: {"max_value": 500}, 3: {"max_numbers": 3, "max_value": 1000}},
    "lcm": {1: {"max_value": 12}, 2: {"max_value": 50}, 3: {"max_numbers": 3, "max_value": 100}},
    "products": {1: {"max_digits": 1}, 2: {"max_digits": 2}, 3: {"max_digits": 3}},
}


class ReasoningGymSource(TaskSource):
    """One task per draw from reasoning-gym generators, seeded by the episode RNG."""

    def __init__(self, generators: tuple[str, ...], level: int):
        try:
            import reasoning_gym  # noqa: F401
        except ImportError:
            raise ImportError("rlenvs/Math-v0 needs reasoning-gym: pip install reasoning-gym") from None
        unknown = [g for g in generators if g not in RG_LEVELS]
        if unknown or not generators:
            raise ValueError(f"unknown generator(s) {unknown}; choose from {sorted(RG_LEVELS)}")
        self.generators = generators
        self.level = level

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        import reasoning_gym

        name = self.generators[int(rng.integers(len(self.generators)))]
        seed = int(rng.integers(2**31 - 1))
        config = RG_LEVELS[name][self.level]
        entry = reasoning_gym.create_dataset(name, size=1, seed=seed, **config)[0]
        return {
            "id": f"{name}-L{self.level}-{seed}",
            "question": entry["question"],
            "answer": str(entry["answer"]),
            "source": name,
            "level": self.level,
        }


class MathEnv(TaskEnv):
    """Procedural math from reasoning-gym.

    Args:
        generators: reasoning-gym dataset names (see ``RG_LEVELS``).
        level: 1 (easy) .. 3 (hard); change it between episodes with ``set_level``.
        lenient / format_credit / numeric_closeness: answer extraction and partial credit.
    """
    public_fields = ("id", "question", "source", "level")  # the rest is private (issue 26)

    def __init__(
        self,
        generators: tuple[str, ...] | list[str] = ("basic_arithmetic", "simple_equations",
                                                   "fraction_simplification", "gcd", "lcm"),
        level: int = 1,
        lenient: bool = False,
        format_credit: float = 0.0,
        numeric_closeness: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if level not in (1, 2, 3):
            raise ValueError(f"level must be 1, 2 or 3, got {level!r}")
        super().__init__(
            source=ReasoningGymSource(tuple(generators), level),
            prompt=lambda t: f"{t['question']}\n\n{BOXED_INSTRUCTION}",
            judge=make_math_judge(lenient, format_credit, numeric_closeness),
            required_keys=("question", "answer"),
            **kwargs,
        )

    def set_level(self, level: int) -> None:
        """Curriculum hook: later episodes draw tasks at ``level``."""
        if level not in (1, 2, 3):
            raise ValueError(f"level must be 1, 2 or 3, got {level!r}")
        self.source.level = level  # type: ignore[attr-defined]


def gsm8k_row(row: dict[str, Any]) -> dict[str, Any]:
    """GSM8K row -> task; the gold is the text after ``####``."""
    answer = str(row["answer"])
    if "####" not in answer:
        raise ValueError("GSM8K answer has no '#### <number>' line")
    final = answer.rsplit("####", 1)[1].strip().replace(",", "")
    return {**row, "question": row["question"], "answer": final, "solution": answer}


def math_row(row: dict[str, Any]) -> dict[str, Any]:
    """MATH row -> task; the gold is the ``answer`` column where the row has one (MATH-500),
    else the solution (``verify_math`` takes its last box)."""
    if isinstance(row.get("answer"), str) and row["answer"].strip():
        return {**row, "question": row["problem"], "answer": row["answer"].strip()}
    if "\\boxed" not in str(row["solution"]):
        raise ValueError("MATH solution has no \\boxed{} answer")
    return {**row, "question": row["problem"], "answer": str(row["solution"])}


def aime_row(row: dict[str, Any]) -> dict[str, Any]:
    """AIME row (2024: ``problem``; 2025: ``question``) -> task; the gold is ``answer``."""
    question = row.get("problem", row.get("question"))
    task = {**row, "question": question, "answer": str(row["answer"]).strip()}
    if "id" in row:
        task["id"] = f"aime-{row['id']}"
    return task


def _source(path: Any, dataset: Any, default: str, convert: Any, required: tuple[str, ...],
            standard: str, split: str | None = None) -> ListSource:
    if dataset is not None:  # a hub id, a local copy or rows in memory: schema-checked
        from rlenvs.datasets_hub import load_standard

        rows = load_standard(standard, dataset, split)
        name = dataset if isinstance(dataset, str) else standard
        return ListSource([{"id": f"row-{i}", **convert(r)} for i, r in enumerate(rows)],
                          name=str(name))
    if path is None:
        path = resources.files("rlenvs") / "data" / default
    return ListSource.from_jsonl(str(path), convert=convert, required=required)


class GSM8KEnv(TaskEnv):
    """Grade-school word problems in GSM8K format (``question`` / ``answer`` with ``####``).

    Strict by default like the rest of the math family (the final answer must be boxed, as the
    prompt asks); ``lenient=True`` also accepts a ``#### 42`` line or the last number."""
    public_fields = ("id", "question")  # the rest is private (issue 26)

    def __init__(self, path: str | None = None, dataset: Any = None, split: str | None = None,
                 lenient: bool = False, format_credit: float = 0.0,
                 numeric_closeness: float = 0.0, **kwargs: Any):
        super().__init__(
            source=_source(path, dataset, "gsm8k_sample.jsonl", gsm8k_row, ("question", "answer"),
                           "openai/gsm8k", split),
            prompt=lambda t: f"{t['question']}\n\n{BOXED_INSTRUCTION}",
            judge=make_math_judge(lenient, format_credit, numeric_closeness),
            required_keys=("question", "answer"),
            **kwargs,
        )


class MATHEnv(TaskEnv):
    """Competition problems in MATH format (``problem`` / ``solution`` with ``\\boxed{}``)."""
    public_fields = ("id", "question", "problem", "level", "type")  # the rest is private (issue 26)

    def __init__(self, path: str | None = None, dataset: Any = None, split: str | None = None,
                 lenient: bool = False, format_credit: float = 0.0,
                 numeric_closeness: float = 0.0, **kwargs: Any):
        super().__init__(
            source=_source(path, dataset, "math_sample.jsonl", math_row, ("problem", "solution"),
                           "HuggingFaceH4/MATH-500", split),
            prompt=lambda t: f"{t['question']}\n\n{BOXED_INSTRUCTION}",
            judge=make_math_judge(lenient, format_credit, numeric_closeness),
            required_keys=("question", "answer"),
            **kwargs,
        )


AIME_DATASETS = {2024: "HuggingFaceH4/aime_2024", 2025: "opencompass/AIME2025"}


class AIMEEnv(TaskEnv):
    """AIME problems (integer answers 0-999), ``year=2024`` or ``2025`` from the hub
    (``HuggingFaceH4/aime_2024``; ``opencompass/AIME2025``, both configs) or a local copy in the
    same schema (``dataset=DIR``). Without ``year`` and ``dataset`` it plays a small shipped
    sample in the AIME 2024 schema, written for rlenvs (not AIME problems: offline smoke tests).
    """
    public_fields = ("id", "question", "problem", "year", "url")  # the rest is private

    def __init__(self, year: int | None = None, dataset: Any = None, path: str | None = None,
                 split: str | None = None, lenient: bool = False, format_credit: float = 0.0,
                 numeric_closeness: float = 0.0, **kwargs: Any):
        if year is not None and int(year) not in AIME_DATASETS:
            raise ValueError(f"year must be one of {sorted(AIME_DATASETS)}, got {year!r}")
        standard = AIME_DATASETS[int(year or 2024)]
        if year is not None and dataset is None and path is None:
            dataset = standard
        super().__init__(
            source=_source(path, dataset, "aime_format_sample.jsonl", aime_row,
                           ("problem", "answer"), standard, split),
            prompt=lambda t: f"{t['question']}\n\n{BOXED_INSTRUCTION}",
            judge=make_math_judge(lenient, format_credit, numeric_closeness),
            required_keys=("question", "answer"),
            **kwargs,
        )
