"""``run_tests``: score a program by running tests against it in the sandbox.

The program runs (as module ``solution``) in one sandboxed process, the tests in another: a
test driver that never runs program code and alone holds the result pipe (see ``_harness``
for the design, ``sandbox`` for the OS isolation). The verdict is computed here, in the
parent, from the driver's records; the program's output, exit status and anything it prints
are never taken as evidence of a pass.

What a test sees (``_driver``): only the names the task requires of the program
(``contract``); builtins, modules and the task's helpers are the driver's own. The program's
plain data (bool/int/float/str/bytes/None and containers of them, numpy arrays of non-object
dtypes, the standard library's value types: OrderedDict, Counter, defaultdict, deque,
namedtuple, dataclasses, enums, Fraction, Decimal, range, dict views) arrives as exact copies of
the standard types; iterators are pulled item by item; functions, classes and other objects as
handles that can be called and read (answers again data or handles) but whose every operator -
comparison, arithmetic, ``bool``, ``hash``, ``len``, ``iter``, indexing, ``format`` - raises
``UntrustedComparison`` instead of asking the program. Each test has its own namespace.
Exceptions from program functions arrive as their nearest builtin exception class (``except
ValueError`` works; the program's own class name is kept in the report); ``SystemExit``,
``KeyboardInterrupt`` and ``GeneratorExit`` fail the test whatever it catches. Arguments are
passed by value; a call that returns ``None`` has its changes to its arguments copied back. A
test's callables (``key=len``, lambdas) run in the driver when the program calls them; other
objects of the test cannot be passed (``TypeError``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from judges.code.contract import derive_contract
from judges.code.rewrite import BadTestSource, compile_test
from judges.code.sandbox import SandboxLimits, SandboxResult, _execute
from judges.verdict import Verdict

__all__ = ["run_tests"]

NONCE_BYTES = 16
_MAX_MSG = 500


def run_tests(
    program: str,
    tests: Sequence[str] | str,
    timeout_s: float = 5.0,
    memory_mb: int = 1024,
    *,
    mode: str | None = None,
    entry_point: str | None = None,
    helpers: str | None = None,
    **limits: Any,
) -> Verdict:
    """Run ``tests`` against ``program`` in the sandbox and score the fraction that pass.

    Args:
        program: untrusted Python source (defines the functions the tests call).
        tests: one test or a list of tests; each is trusted Python source run after the
            program with the program's names in scope, e.g. ``"assert add(1, 2) == 3"`` or a
            HumanEval ``check`` function followed by ``check(entry_point)``. A test passes
            when it runs to the end without raising.
        timeout_s: wall-clock limit for the whole run (program plus all tests).
        memory_mb: address-space limit per process.
        mode: force a sandbox mechanism (see ``sandbox_info``); default: best available.
        entry_point: the one name the task requires the program to define (HumanEval's
            entry point); the tests get nothing else from the program. Default: the tests'
            free names that are not builtins, standard modules or helpers (``contract``).
        helpers: trusted source of helper functions the task provides (a HumanEval prompt's
            ``poly``, say): the tests and the program's own calls use these, never the
            program's redefinitions.
        **limits: other ``SandboxLimits`` fields (``cpu_s``, ``max_output_bytes``, ...).

    Returns:
        ``Verdict`` with ``score`` = passed / total, ``passed`` when all pass, a ``reason``
        naming the first failure, and ``details["tests"]`` with one entry per test
        (``passed``, ``status``, ``error_type``, ``error``, ``line``, ``duration_s``);
        ``details["required_names"]``: what the tests took from the program.

    Raises:
        TypeError: ``program`` is not a str, ``tests`` is not a str or a sequence of str,
            ``entry_point``/``helpers`` are not str, or an unknown limit was given (misuse). Everything the program does, including not
            compiling, gives a failing ``Verdict`` instead.
    """
    if not isinstance(program, str):
        raise TypeError(f"program must be a str, got {type(program).__name__}")
    if isinstance(tests, str):
        tests = [tests]
    if not isinstance(tests, Sequence) or not all(isinstance(t, str) for t in tests):
        raise TypeError("tests must be a str or a sequence of str (Python source)")
    lim = SandboxLimits.from_kwargs(timeout_s, memory_mb, limits)
    if not tests:
        return Verdict.fail("no tests to run", tests=[])
    compiled = []
    for i, test in enumerate(tests):
        try:
            compiled.append(compile_test(test, f"<test {i}>"))
        except BadTestSource as exc:
            return Verdict.fail(f"test {i} itself does not compile: {exc}", tests=[],
                                bad_test=i)
    try:
        contract = derive_contract(tests, entry_point, helpers)
    except BadTestSource as exc:
        return Verdict.fail(f"the task's helpers do not compile: {exc}", tests=[])
    nonce = os.urandom(NONCE_BYTES)
    job = {"mode": "tests", "source": program, "tests": compiled, "nonce": nonce,
           "contract": contract}
    raw = _execute(job, lim, mode, finished=lambda data: _complete(data, nonce))
    verdict = _verdict(raw, len(tests), nonce, lim)
    verdict.details["required_names"] = list(contract["names"])
    return verdict


def _complete(data: bytes, nonce: bytes) -> bool:
    """Whether the result channel holds a clean, finished report (ends with the D record)."""
    records, tamper = _parse(data, nonce)
    return tamper is None and bool(records) and records[-1][0] == "D"


def _parse(data: bytes, nonce: bytes) -> tuple[list[list[str]], str | None]:
    """Split the result channel into records; the second value names any tampering."""
    records, i = [], 0
    while i < len(data):
        if data[i:i + NONCE_BYTES] != nonce:
            return records, "bytes without the run's secret nonce on the result channel"
        n = int.from_bytes(data[i + NONCE_BYTES:i + NONCE_BYTES + 4], "big")
        body = data[i + NONCE_BYTES + 4:i + NONCE_BYTES + 4 + n]
        if len(body) != n:
            return records, "truncated record on the result channel"
        try:
            records.append([f.encode("ascii").decode("unicode_escape")
                            for f in body.decode("ascii").split("\t")])
        except (UnicodeError, ValueError):
            return records, "malformed record on the result channel"
        i += NONCE_BYTES + 4 + n
    return records, None


def _clip(text: str, limit: int = _MAX_MSG) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _verdict(raw: SandboxResult, n: int, nonce: bytes, lim: SandboxLimits) -> Verdict:
    records, tamper = _parse(raw.results, nonce)
    details: dict[str, Any] = {"tests": [], "sandbox": {
        k: v for k, v in raw.to_dict().items() if k not in ("stdout", "stderr")},
        "stdout": raw.stdout, "stderr": raw.stderr}
    if raw.error is not None:  # a fault, not a judgement: trainers skip it
        details["infra_error"] = details["unscored"] = True
        details["cause"] = f"sandbox error: {raw.error}"
        return Verdict(0.0, False, f"unscored: sandbox error: {raw.error}", details)
    head, body = (records[0], records[1:]) if records else (None, [])
    program_error, unreached = None, None
    if head is not None and head[0] == "N" and len(head) == 2:
        unreached = head[1]
        if body and body[0][0] == "D":
            body = body[1:]
        elif body:
            tamper = tamper or "unexpected record after the program stopped"
    elif head is not None and head[0] == "E":
        kind, etype, msg, line, tb = (head[1:] + [""] * 5)[:5]
        program_error = {"kind": kind, "error_type": etype, "error": _clip(msg),
                         "line": int(line) if line.isdigit() else None, "traceback": tb}
        if body and body[0][0] == "D":
            body = body[1:]
        elif body:
            tamper = tamper or "unexpected record after a program error"
    elif head is not None and head != ["P"]:
        tamper = tamper or "unexpected first record"
    tests, done = [], False
    for rec in body:
        if done:
            tamper = tamper or "record after the final record"
        elif rec[0] == "D":
            done = True
            if raw.exit_code is None and raw.signal is None and len(rec) == 3:
                details["sandbox"]["cpu_s"] = float(rec[1]) if _is_float(rec[1]) else None
                details["sandbox"]["max_rss_mb"] = (
                    int(rec[2]) / 1024 if rec[2].isdigit() else None)
        elif rec[0] == "T" and len(rec) == 8 and rec[1] == str(len(tests)) and len(tests) < n:
            _, _, ok, dur, etype, msg, line, tb = rec
            status = "passed" if ok == "1" else (
                "failed" if etype in ("AssertionError", "UntrustedComparison") else "error")
            tests.append({"index": len(tests), "passed": ok == "1", "status": status,
                          "error_type": etype or None, "error": _clip(msg) or None,
                          "line": int(line) if line.isdigit() else None,
                          "duration_s": float(dur) if _is_float(dur) else None,
                          "traceback": tb or None})
        else:
            tamper = tamper or "out-of-order or malformed test record"
    stopped = _why_stopped(raw, lim)
    first_missing = len(tests)
    for i in range(first_missing, n):
        status = ("not_run" if i > first_missing or program_error or unreached or head is None
                  else stopped[0])
        tests.append({"index": i, "passed": False, "status": status, "error_type": None,
                      "error": stopped[1] if status != "not_run" else None, "line": None,
                      "duration_s": None, "traceback": None})
    details["tests"] = tests
    details["passed_tests"] = k = sum(t["passed"] for t in tests)
    details["total_tests"] = n
    if program_error:
        details["program_error"] = program_error
    if tamper:
        details["integrity"] = tamper
        for t in tests:
            t["passed"] = False
        return Verdict(0.0, False, f"result channel tampered ({tamper})", details)
    if program_error:
        where = f" at line {program_error['line']}" if program_error["line"] else ""
        what = "syntax error" if program_error["kind"] == "syntax" else (
            f"program raised {program_error['error_type']}")
        msg = f": {program_error['error']}" if program_error["error"] else ""
        return Verdict(0.0, False, f"{what}{where}{msg}", details)
    if head is None or unreached:
        why = unreached or stopped[1]
        return Verdict(0.0, False, f"program did not reach the tests: {why}", details)
    score = k / n
    if k == n and done:
        return Verdict(1.0, True, f"all {n} tests passed", details)
    first = next((t for t in tests if not t["passed"]), None)
    if first is None:
        return Verdict(score, False, f"{k}/{n} tests passed but the harness did not finish: "
                       f"{stopped[1]}", details)
    return Verdict(score, False, f"{k}/{n} tests passed; {_describe_test(first)}", details)


def _describe_test(test: dict[str, Any]) -> str:
    head = f"test {test['index']} {test['status'].replace('_', ' ')}"
    if not test["error_type"]:
        return f"{head}: {test['error']}" if test["error"] else head
    at = f" at line {test['line']}" if test["line"] else ""
    msg = f": {_clip(test['error'], 200)}" if test["error"] else ""
    return f"{head} ({test['error_type']}{at}{msg})"


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _why_stopped(raw: SandboxResult, lim: SandboxLimits) -> tuple[str, str]:
    """(status for the interrupted test, explanation) from how the process ended."""
    if raw.timed_out:
        return "timeout", f"timed out after {lim.timeout_s:g} s"
    if raw.output_exceeded:
        return "crashed", "output limit exceeded (run killed)"
    if raw.memory_exceeded:
        return "crashed", "memory limit exceeded (run killed)"
    if raw.cpu_exceeded:
        return "timeout", "CPU time limit exceeded (run killed)"
    if raw.signal is not None:
        return "crashed", f"process killed by signal {raw.signal}"
    return "crashed", f"process exited early with exit code {raw.exit_code}"
