"""judges.code: concurrent use from threads and worker processes, and every fallback mode that
this machine supports."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from judges.code import SandboxUnavailable, run_python, run_tests, sandbox_info


def _program(k: int) -> str:
    return f"def f(x):\n    return x * {k}\n"


def _check(k: int) -> tuple[int, bool, bool]:
    """Run a passing and a failing case for ``k``; used in threads and worker processes."""
    good = run_tests(_program(k), f"assert f(3) == {3 * k}", timeout_s=5)
    bad = run_tests(_program(k), f"assert f(3) == {3 * k + 1}", timeout_s=5)
    return k, good.passed, bad.passed


def test_thread_pool_runs_do_not_interfere():
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(_check, range(24)))
    assert results == [(k, True, False) for k in range(24)]


def test_concurrent_timeouts_do_not_hold_up_other_runs():
    with ThreadPoolExecutor(4) as pool:
        slow = [pool.submit(run_tests, "while True:\n    pass\n", "assert True", 1.0)
                for _ in range(2)]
        fast = [pool.submit(_check, k) for k in range(6)]
        assert [f.result() for f in fast] == [(k, True, False) for k in range(6)]
        assert all("timed out" in f.result().reason for f in slow)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_workers(method):
    run_tests(_program(1), "assert f(1) == 1")  # the parent has a live sandbox server too
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        results = pool.map(_check, range(4))
    assert results == [(k, True, False) for k in range(4)]


def _available_modes() -> list[str]:
    modes = ["namespaces", "setuid", "rlimits"] if os.geteuid() == 0 else ["userns", "rlimits"]
    if os.geteuid() == 0:
        modes.append("userns")
    return modes


@pytest.mark.parametrize("mode", _available_modes())
def test_fallback_modes(mode):
    try:
        info = sandbox_info(mode)
    except SandboxUnavailable as exc:
        pytest.skip(f"mode {mode} not available here: {exc}")
    assert info["mode"] == mode
    assert run_tests(_program(2), ["assert f(2) == 4", "assert f(1) == 3"], timeout_s=5,
                     mode=mode).score == 0.5
    r = run_python("import os\nprint(os.getcwd())\nopen('scratch.txt', 'w').write('x')",
                   timeout_s=5, mode=mode)
    assert r.ok, r.stderr
    v = run_tests("import time\ntime.sleep(60)", "assert True", timeout_s=1, mode=mode)
    assert not v.passed and "timed out" in v.reason
    v = run_tests("import os\nos._exit(0)", "assert True", timeout_s=2, mode=mode)
    assert not v.passed
