"""Instruction following: ``rlenvs/IFEval-v0`` (IFEval's prompt format) and
``rlenvs/Instruct-v0`` (procedurally composed constraints).

Both judge replies with ``judges.ifeval.check_instructions``. Reward: ``binary`` (every
constraint followed) or ``dense`` (the fraction followed). ``info["reward_components"]`` has
``prompt_level`` (1 if all followed), ``instruction_level`` (the fraction) and one entry per
instruction id (``ifeval/<id>``), so the evaluation summary shows per-instruction accuracy;
``info["verdict"].details["instructions"]`` lists each constraint's verdict and reason.
The reply is judged as it looks, not as it is encoded (``judges.ifeval.normalize``): a
full-width comma is a comma, a forbidden word with a Cyrillic letter or a zero-width space in
it is the forbidden word (see ``docs/threat_models/ifeval.md``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from judges import Verdict
from rlenvs.task_env import TaskEnv
from rlenvs.tasks import ListSource, ProceduralSource

__all__ = ["IFEvalEnv", "InstructEnv", "strip_thinking", "base_task_of"]

_THINK = re.compile(r"<think>.*?(</think>|\Z)", re.DOTALL | re.IGNORECASE)


def strip_thinking(text: str) -> str:
    """Remove ``<think>...</think>`` sections (an unclosed one runs to the end)."""
    return _THINK.sub("", text).strip()


_FIRST_SENTENCE = re.compile(r"^.*?[.?!](?=\s|$)", re.DOTALL)


def base_task_of(task: Mapping[str, Any]) -> str:
    """The task a composed prompt's constraints were added to (``base_task``, else the prompt's
    first sentence, which is where ``compose_prompt`` puts it)."""
    if isinstance(task.get("base_task"), str) and task["base_task"].strip():
        return task["base_task"]
    m = _FIRST_SENTENCE.match(task["prompt"].strip())
    return m.group(0) if m else task["prompt"]


def _make_judge(loose: bool, thinking: bool, require_answer: bool = False):
    from judges.ifeval import check_instructions
    from judges.ifeval.substance import answers_task

    def judge(reply: str, task: Mapping[str, Any]) -> Verdict:
        text = strip_thinking(reply) if thinking else reply
        missing = _unsupported(task["instruction_id_list"])
        if missing:  # IFBench's new ids: no checker here, so no judgement (never a guess)
            return Verdict.unscored(
                f"unscored: instruction id(s) {', '.join(missing)} have no checker in "
                "judges.ifeval (it checks IFEval's 25 ids); pass unsupported='skip' to leave "
                "such prompts out", "verifier_error", unsupported=missing)
        verdict = check_instructions(
            text, task["instruction_id_list"], task["kwargs"], prompt=task["prompt"], loose=loose
        )
        components: dict[str, float] = {
            "prompt_level": 1.0 if verdict.passed else 0.0,
            "instruction_level": verdict.score,
        }
        for entry in verdict.details["instructions"]:
            components[f"ifeval/{entry['id']}"] = 1.0 if entry["passed"] else 0.0
        if require_answer:
            ok, why = answers_task(text, task["prompt"], base_task_of(task),
                                   task["instruction_id_list"], task["kwargs"])
            components["answers_task"] = 1.0 if ok else 0.0
            verdict.details["answers_task"] = {"passed": ok, "reason": why}
            if not ok:  # following the form of nothing earns nothing, dense or binary
                components["prompt_level"] = 0.0
                verdict = Verdict(score=0.0, passed=False,
                                  reason=f"does not answer the task: {why}; {verdict.reason}",
                                  details=verdict.details)
        verdict.details["components"] = components
        return verdict

    return judge


def _unsupported(ids: Any) -> list[str]:
    from judges.ifeval import list_constraints

    known = set(list_constraints())
    return sorted({i for i in ids if i not in known})


def _standard_rows(dataset: Any, split: str | None, schema: str | None,
                   unsupported: str) -> tuple[list[dict[str, Any]], str]:
    """IFEval-format rows of a standard dataset (``google/IFEval``, ``allenai/IFBench_test``);
    rows whose ids have no checker here are kept (judged unscored) or, with ``"skip"``, left
    out. The supported ids' kwargs are checked on load like a file's."""
    from judges.ifeval import validate_ifeval_row
    from rlenvs.datasets_hub import STANDARD_DATASETS, load_standard

    if unsupported not in ("unscored", "skip"):
        raise ValueError(f"unsupported must be 'unscored' or 'skip', got {unsupported!r}")
    name = schema or (dataset if isinstance(dataset, str) and dataset in STANDARD_DATASETS
                      else "google/IFEval")
    if STANDARD_DATASETS.get(name) is None or STANDARD_DATASETS[name].env_id != "rlenvs/IFEval-v0":
        raise ValueError(f"schema={name!r}: IFEval-v0 reads google/IFEval or allenai/IFBench_test")
    tasks = []
    for i, row in enumerate(load_standard(name, dataset, split)):
        missing = _unsupported(row["instruction_id_list"])
        if missing and unsupported == "skip":
            continue
        if not missing:
            try:
                row = validate_ifeval_row(row)
            except ValueError as e:
                raise ValueError(f"{name} row {i} (key {row.get('key')}): {e}") from None
        else:
            row = {**row, "kwargs": [dict(k or {}) for k in row["kwargs"]]}
        tasks.append({**row, "id": f"{name.split('/')[-1]}-{row['key']}"})
    if not tasks:
        raise ValueError(f"{name}: no prompt uses only instruction ids that judges.ifeval checks "
                         "(unsupported='skip' left none); use unsupported='unscored'")
    return tasks, name


class _InstructionEnv(TaskEnv):
    public_fields = ("id", "key", "prompt", "base_task", "instruction_id_list", "kwargs")

    def __init__(self, source: Any, loose: bool, strip_think: bool, require_answer: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(
            source=source,
            prompt=lambda t: t["prompt"],
            judge=_make_judge(loose, strip_think, require_answer),
            required_keys=("prompt", "instruction_id_list", "kwargs"),
            **kwargs,
        )

    def validate_task(self, task: Any) -> dict[str, Any]:
        from judges.ifeval import validate_ifeval_row

        task = super().validate_task(task)
        if getattr(self, "allow_unsupported", False) and \
                _unsupported(task.get("instruction_id_list") or ()):
            return task  # IFBench's ids: judged unscored, no checker validates their kwargs
        return validate_ifeval_row({"key": task.get("key", 0), **task})


class IFEvalEnv(_InstructionEnv):
    """Prompts from a file in IFEval's ``input_data.jsonl`` format.

    Args:
        path: the prompt file (default: a 31-prompt sample written for rlenvs covering all 25
            instruction ids; point it at the official ``input_data.jsonl`` for the benchmark).
        loose: IFEval's loose evaluation instead of strict.
        strip_think: drop ``<think>...</think>`` before checking.
        dataset: a standard dataset instead of a file: ``"google/IFEval"`` (the 541 prompts) or
            ``"allenai/IFBench_test"`` from the hub, a local copy of either (``schema=`` names
            which; default IFEval), or a ``datasets.Dataset``; see ``rlenvs.datasets_hub``.
        unsupported: for prompts with instruction ids ``judges.ifeval`` has no checker for
            (IFBench's new ids): ``"unscored"`` (default: each reply is an unscored verdict
            naming the ids) or ``"skip"`` (leave those prompts out).
    """

    def __init__(self, path: str | None = None, loose: bool = False, strip_think: bool = False,
                 dataset: Any = None, split: str | None = None, schema: str | None = None,
                 unsupported: str = "unscored", **kwargs: Any) -> None:
        from judges.ifeval import SAMPLE_PATH, load_ifeval_jsonl

        if dataset is not None:
            tasks, name = _standard_rows(dataset, split, schema, unsupported)
        else:
            rows = load_ifeval_jsonl(path or SAMPLE_PATH)
            tasks = [{**row, "id": f"ifeval-{row['key']}"} for row in rows]
            name = str(path or SAMPLE_PATH)
        #: a standard dataset's prompts may name ids without a checker (judged unscored)
        self.allow_unsupported = dataset is not None and unsupported == "unscored"
        super().__init__(ListSource(tasks, name=name), loose, strip_think, **kwargs)


class InstructEnv(_InstructionEnv):
    """Training prompts composed from a base task and 1-3 compatible constraints.

    Args:
        n_constraints: an int or an inclusive ``(lo, hi)`` range.
        base_tasks: your own pool of base tasks (default: the composer's).
        loose / strip_think: as for ``IFEvalEnv``.
        require_answer: a reply must also answer the base task (``judges.ifeval.substance``:
            words of its own, on the task's subject), else it scores 0 however many
            constraints it follows. IFEval's checkers alone pass ``ok`` on "Write a story ...
            Do not use commas"; a training reward must not.
    """

    def __init__(self, n_constraints: int | tuple[int, int] | list[int] = (1, 3),
                 base_tasks: list[str] | None = None, loose: bool = False,
                 strip_think: bool = False, require_answer: bool = True,
                 **kwargs: Any) -> None:
        from judges.ifeval import BASE_TASKS, YES_NO_TASKS, compose_prompt

        pool = sorted((t.strip() for t in (base_tasks or [*BASE_TASKS, *YES_NO_TASKS])),
                      key=len, reverse=True)
        bounds = tuple(n_constraints) if isinstance(n_constraints, list) else n_constraints

        def generate(rng: np.random.Generator) -> dict[str, Any]:
            seed = int(rng.integers(2**31 - 1))
            row = compose_prompt(seed, base_tasks=base_tasks, n_constraints=bounds)
            base = next((t for t in pool if row["prompt"].startswith(t)), base_task_of(row))
            return {**row, "id": f"instruct-{seed}", "key": seed, "base_task": base}

        super().__init__(ProceduralSource(generate), loose, strip_think, require_answer,
                         **kwargs)
