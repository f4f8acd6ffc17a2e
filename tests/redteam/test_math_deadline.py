"""Red team for ``verify_math`` deadlines (issue #13 item 10 and its neighbours).

A policy that emits expensive answers must not make anyone else's call wait: the timeout
bounds the whole call, the wait for a free worker included. Before the fix, cheap calls
queued behind slow ones for 12.6 s with a 5 s timeout. Bounds here are generous safety
margins on a loaded 2-core box, not benchmarks.
"""

from __future__ import annotations

import threading
import time

import pytest

from judges.math import verify_math
from judges.math.pool import get_pool

SLACK = 2.5  # scheduling noise on a loaded 2-core machine
# slow to compare: a tower alone is judged by magnitude in-process (judges.math.magnitude)
SLOW = r"\boxed{2^{2^{2^{2^{20}}}} + 1}"


@pytest.fixture(scope="module", autouse=True)
def warm_pool():
    get_pool().warm()
    yield


def test_cheap_calls_are_not_held_behind_slow_ones() -> None:
    """Every worker busy with hostile answers: a cheap call still returns by its deadline."""
    pool = get_pool()
    stop = threading.Event()

    def hog() -> None:
        while not stop.is_set():
            verify_math(SLOW, "1", timeout=3.0)

    hogs = [threading.Thread(target=hog, daemon=True) for _ in range(pool.size + 1)]
    for t in hogs:
        t.start()
    time.sleep(0.5)  # the hogs hold every worker now
    waits: list[tuple[float, str]] = []
    try:
        for _ in range(3):
            start = time.monotonic()
            v = verify_math(r"\boxed{(x+1)^2}", "x^2+2x+1", timeout=0.5)
            waits.append((time.monotonic() - start, v.reason))
    finally:
        stop.set()
        for t in hogs:
            t.join(timeout=30)
    bound = 0.5 + pool.kill_grace_s + SLACK
    assert all(w < bound for w, _ in waits), waits
    # the ones that could not get a worker say so, and never pass
    assert all("timed out" in r or r == "correct" for _, r in waits), waits


def test_queue_timeout_is_a_failing_verdict_with_a_reason() -> None:
    pool = get_pool()
    held = [pool._checkout() for _ in range(pool.size)]
    try:
        start = time.monotonic()
        v = verify_math(r"\boxed{x+1}", "1+x", timeout=0.3)
        elapsed = time.monotonic() - start
    finally:
        for w in held:
            pool._idle.put(w)
    assert not v.passed and v.score == 0.0
    assert v.details["timed_out_in"] == "queue" and "no free worker" in v.reason
    assert elapsed < 0.3 + pool.kill_grace_s + SLACK
    assert verify_math(r"\boxed{x+1}", "1+x").passed  # the pool is fine afterwards


@pytest.mark.parametrize(
    "response",
    [
        r"\boxed{9^{9^{9^{9}}}}",
        "The answer is $9^9^9^9$.",
        r"\boxed{" + "{" * 45 + "x" + "}" * 45 + "}",
        r"\boxed{" + "+".join(["x"] * 600) + "}",
        r"\boxed{\int_0^{10^{10}} \sin(x^{x^x}) dx}",
        r"\boxed{(10^{10^{10}})!}",
    ],
)
def test_enormous_answers_fail_by_the_deadline(response: str) -> None:
    start = time.monotonic()
    v = verify_math(response, "42", timeout=1.0)
    assert not v.passed and v.reason
    assert time.monotonic() - start < 1.0 + get_pool().kill_grace_s + SLACK
