"""judges.code on HumanEval: canonical solutions pass, broken variants fail. Runs in a thread
pool, which also exercises concurrent use of the sandbox."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from judges.code import (
    humaneval_contract,
    humaneval_program,
    humaneval_tests,
    load_humaneval,
    run_tests,
)

TASKS = load_humaneval()
SAMPLE = TASKS[::8] + [TASKS[-1]]  # 22 tasks spread over the set (for the slower variants)


def _broken(task: dict) -> str:
    """The canonical solution with its body replaced by ``return None``."""
    return "    return None\n"


def _off_by_one(task: dict) -> str | None:
    """The canonical solution with its first integer literal changed, if it has one."""
    body = task["canonical_solution"]
    match = re.search(r"(?<![\w.])(\d+)(?![\w.])", body)
    if match is None:
        return None
    return body[: match.start()] + str(int(match.group(1)) + 1) + body[match.end():]


def _run(task: dict, completion: str):
    """Through the task's contract: the program supplies only the entry point."""
    return run_tests(humaneval_program(task, completion), humaneval_tests(task), timeout_s=10,
                     **humaneval_contract(task))


def _sweep(tasks: list[dict]) -> None:
    with ThreadPoolExecutor(4) as pool:
        good = list(pool.map(lambda t: _run(t, t["canonical_solution"]), tasks))
        bad = list(pool.map(lambda t: _run(t, _broken(t)), tasks))
    failures = [(t["task_id"], v.reason) for t, v in zip(tasks, good, strict=True) if not v.passed]
    assert not failures, failures
    wrongly_passed = [t["task_id"] for t, v in zip(tasks, bad, strict=True) if v.passed]
    assert not wrongly_passed


def test_humaneval_all_164():
    assert len(TASKS) == 164
    _sweep(TASKS)


def test_off_by_one_variants_mostly_fail():
    tasks = [t for t in SAMPLE if _off_by_one(t) is not None]
    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(lambda t: _run(t, _off_by_one(t)), tasks))
    caught = sum(not v.passed for v in verdicts)
    # A few literal changes are harmless (e.g. a loop bound beyond what the tests reach).
    assert caught >= 0.7 * len(tasks), [(t["task_id"], v.passed) for t, v in zip(tasks, verdicts,
                                                                                   strict=True)]
