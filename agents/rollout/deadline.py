"""Wall-clock budgets for rollouts, and the status of an episode's reward.

**Deadlines.** A rollout must not be held by one stuck call: a tool that sleeps forever, a judge
that never answers, an env server that stops replying. Every ``env.reset`` / ``env.step`` of a
trainer's rollout (chain, tree, ARPO) runs through :func:`call_within`, which runs the call in a
daemon worker thread and waits at most the time left to the episode (``episode_timeout_s``) and to
the round (``round_timeout_s``). A call still running then is **abandoned**: Python cannot kill a
thread, so the thread keeps running in the background until the call returns by itself (or the
process exits -- it is a daemon thread, it never holds the interpreter's exit) and its result is
dropped. The episode that made it is truncated and its reward is *unscored* with cause
``"deadline"``; its environment copy is never used again. (A ``reset`` given up is the one
exception: it ran on the trainer's own env, which the next task's ``reset`` uses again while the
abandoned call may still run -- an env whose ``reset`` can hang, a remote one, bounds it with its
own client deadline as well.) Unbounded CPU work that must really
stop (sympy, user code, tools) is the judges' business: they run it in a process they can kill.

**Status.** An episode's reward is a judgement only if every one of its steps was scored
(``info["reward_status"]``, :mod:`judges.verdict`); one fault anywhere makes the episode
*unscored* with that step's cause. Trainers retry unscored episodes and then leave them out of
group statistics, advantages and the loss.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from judges.verdict import SCORED, UNSCORED, Verdict, is_unscored
from rlenvs.deadlines import Budget, DeadlineExceeded, call_with_deadline

__all__ = ["Deadline", "EpisodeClock", "timed_step", "StepTimeout", "call_within", "guarded_step", "step_status",
           "episode_status", "unscored_step", "SCORED", "UNSCORED"]


#: a call did not return within its budget (it keeps running in an abandoned daemon thread)
StepTimeout = DeadlineExceeded


class Deadline(Budget):
    """A round's wall-clock budget (``None``: none): :class:`rlenvs.deadlines.Budget`, the one
    evaluation uses, with the names the rollouts read."""

    def passed(self) -> bool:
        return self.spent()

    @staticmethod
    def earliest(*deadlines: Deadline | None) -> float | None:
        """Seconds left until the earliest of ``deadlines`` (``None``: none is set)."""
        lefts = [x for x in (d.left() for d in deadlines if d is not None) if x is not None]
        return min(lefts) if lefts else None


class EpisodeClock:
    """The wall-clock seconds charged to one episode against its budget (``None``: none): the
    batched generation calls it took part in and its *own* env calls -- not the time it waited
    while another episode's stuck call ran, so one stuck tool does not use up the budgets of
    the episodes stepped after it (the round's deadline bounds the total)."""

    def __init__(self, budget: float | None, spent: float = 0.0) -> None:
        self.budget, self.spent = budget, spent

    def left(self) -> float | None:
        return None if self.budget is None else self.budget - self.spent

    def charge(self, seconds: float) -> None:
        self.spent += max(float(seconds), 0.0)

    def expired(self, deadline: Deadline | None = None) -> bool:
        left = [x for x in (self.left(), deadline.left() if deadline else None) if x is not None]
        return bool(left) and min(left) <= 0

    def timeout(self, deadline: Deadline | None = None) -> float | None:
        """Seconds the episode's next call may take: its budget left, the round's left."""
        left = [x for x in (self.left(), deadline.left() if deadline else None) if x is not None]
        return min(left) if left else None

    def copy(self) -> EpisodeClock:
        return EpisodeClock(self.budget, self.spent)


def call_within(fn: Callable[..., Any], *args: Any, timeout: float | None,
                name: str = "rollout-call") -> Any:
    """``fn(*args)``, waiting at most ``timeout`` seconds (``None``: run it here, unbounded);
    :class:`StepTimeout` when the budget runs out first (:func:`rlenvs.deadlines.
    call_with_deadline`, the one implementation evaluation uses too)."""
    return call_with_deadline(fn, timeout, *args, what=name)


def unscored_step(messages: list[dict[str, Any]], reason: str, cause: str
                  ) -> tuple[list[dict[str, Any]], float, bool, bool, dict[str, Any]]:
    """The ``env.step`` result a rollout records for a step it had to give up (deadline, env
    server gone): reward 0.0 (a placeholder nobody trains on), truncated, unscored."""
    verdict = Verdict.unscored(reason, cause)
    info = {"verdict": verdict, "reward_status": UNSCORED, "reward_cause": cause,
            "reward_components": {}, "rollout_fault": reason}
    return list(messages), 0.0, False, True, info


def step_status(info: dict[str, Any]) -> tuple[str, str | None]:
    """``(status, cause)`` of one step's ``info`` (``info["reward_status"]``, else the verdict's)."""
    status = info.get("reward_status")
    verdict = info.get("verdict")
    if status is None:
        status = UNSCORED if is_unscored(verdict) else SCORED
    if status != UNSCORED:
        return SCORED, None
    cause = info.get("reward_cause") or getattr(verdict, "cause", None) or "env"
    return UNSCORED, str(cause)


def episode_status(infos: list[dict[str, Any]]) -> tuple[str, str | None]:
    """``(status, cause)`` of an episode from its steps' infos: the first fault decides."""
    for info in infos:
        status, cause = step_status(info)
        if status == UNSCORED:
            return status, cause
    return SCORED, None


def guarded_step(env: Any, action: str, messages: list[dict[str, Any]], timeout: float | None
                 ) -> tuple[list[dict[str, Any]], float, bool, bool, dict[str, Any]]:
    """``env.step(action)`` within ``timeout`` seconds; a call that does not return in time
    gives :func:`unscored_step` with cause ``"deadline"`` (the call is abandoned), an env whose
    server went away (``OSError``) one with cause ``"env"``. ``messages``: the conversation
    before the step (the observation recorded for a step given up)."""
    try:
        return call_within(env.step, action, timeout=timeout, name="env.step")
    except StepTimeout as exc:
        return unscored_step(messages, f"deadline: {exc}", "deadline")
    except OSError as exc:
        return unscored_step(messages, f"env: {type(exc).__name__}: {exc}", "env")


def timed_step(env: Any, action: str, messages: list[dict[str, Any]], clock: EpisodeClock,
               deadline: Deadline | None = None
               ) -> tuple[list[dict[str, Any]], float, bool, bool, dict[str, Any]]:
    """:func:`guarded_step` within what is left of ``clock``'s budget and of the round's
    ``deadline``; the call's duration is charged to ``clock``."""
    started = time.monotonic()
    try:
        return guarded_step(env, action, messages, clock.timeout(deadline))
    finally:
        clock.charge(time.monotonic() - started)
