"""Wall-clock budgets for calls that may never return (a judge that hangs, a policy server that
stops answering, an environment whose ``step`` sleeps).

:func:`call_with_deadline` runs the call on a daemon thread and stops waiting for it when the
budget is spent: the caller goes on (recording the work as unscored, cause ``"deadline"``) and the
abandoned call finishes, or not, in the background without holding anything. A thread cannot be
killed; work that must be killed (user code, sympy, regexes) already runs in a process of its own
(the judges' sandboxes), so what is left here is waiting, which a thread bounds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["DeadlineExceeded", "call_with_deadline", "Budget"]

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    """A call ran past its wall-clock budget (the call itself may still be running)."""


def call_with_deadline(fn: Callable[..., T], timeout_s: float | None, *args: Any,
                       what: str = "call", **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, or :class:`DeadlineExceeded` after ``timeout_s`` seconds.

    ``timeout_s=None`` calls ``fn`` directly on this thread (no budget). An exception raised by
    ``fn`` is raised here. A ``KeyboardInterrupt`` while waiting reaches the caller at once.
    """
    if timeout_s is None:
        return fn(*args, **kwargs)
    if timeout_s <= 0:
        raise DeadlineExceeded(f"{what}: no time left in its budget")
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the waiting caller
            outcome["error"] = e

    worker = threading.Thread(target=work, name=f"deadline:{what}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise DeadlineExceeded(f"{what} ran past its budget of {timeout_s:.3g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class Budget:
    """Seconds left of an optional wall-clock budget (``None``: unlimited) that started now."""

    def __init__(self, seconds: float | None) -> None:
        if seconds is not None and seconds <= 0:
            raise ValueError(f"a time budget must be positive, got {seconds}")
        self.seconds = seconds
        self.started = time.monotonic()

    def left(self) -> float | None:
        if self.seconds is None:
            return None
        return self.seconds - (time.monotonic() - self.started)

    def spent(self) -> bool:
        left = self.left()
        return left is not None and left <= 0
