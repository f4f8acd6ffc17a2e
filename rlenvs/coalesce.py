"""One policy, several evaluations at once: concurrent ``generate`` calls merged into one batch.

The main job evaluates eleven environments with the same greedy settings. Run one after the
other, each turn of each environment is a batch of ten conversations, and the model waits
while an environment judges (a sandbox run, an LLM judge). :class:`CoalescingPolicy` lets the
environments run in threads against one model: a call that arrives while the model is free
waits a short ``window_s`` (or until every registered client has a call pending), then the
calls with the same sampling settings go to the model as one batch, each conversation with
the seed its caller gave it -- so a reply does not depend on what it was batched with (up to
the float noise of padding) -- and each caller gets back exactly its own replies.

Faults stay with their callers: an exception from the model is raised in every caller of that
batch; a caller that stops waiting (its deadline) leaves the others unaffected.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from typing import Any

from judges.llm.base import Messages, SamplingParams, row_seeds

__all__ = ["CoalescingPolicy"]


@dataclasses.dataclass
class _Call:
    conversations: list[Messages]
    sampling: SamplingParams
    seeds: list[int | None]
    top_logprobs: int | None
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: list[Any] | None = None
    error: BaseException | None = None

    def key(self) -> tuple[Any, ...]:
        return (dataclasses.replace(self.sampling, seed=None), self.top_logprobs)


class CoalescingPolicy:
    """Wraps a policy with ``generate_completions(conversations, sampling, seeds=...)``
    (:class:`judges.llm.transformers_backend.TransformersChat` and the other local engines).

    Args:
        policy: the model every caller shares.
        window_s: how long the first call of a batch waits for others.
        max_batch: conversations per model call at most (default: the policy's ``batch_size``).

    Callers that take part register with :meth:`client` (a context manager); the batch goes as
    soon as each registered client has a call pending, or after ``window_s``.
    """

    def __init__(self, policy: Any, window_s: float = 0.05, max_batch: int | None = None):
        if not callable(getattr(policy, "generate_completions", None)):
            raise TypeError(f"{type(policy).__name__} has no generate_completions(); "
                            "coalescing needs per-conversation seeds")
        self.policy = policy
        self.window_s = window_s
        self.max_batch = max_batch or int(getattr(policy, "batch_size", 16) or 16)
        self.batch_size = self.max_batch
        self.name = getattr(policy, "name", type(policy).__name__)
        self._cond = threading.Condition()
        self._pending: list[_Call] = []
        self._clients = 0
        self._busy = False
        self.batches: list[int] = []  # conversations per model call (for reports and tests)

    def __getattr__(self, name: str) -> Any:  # model, tokenizer, dtype... of the real policy
        if name == "policy":
            raise AttributeError(name)
        return getattr(self.policy, name)

    # ----------------------------------------------------------------- clients
    def client(self) -> _Client:
        """``with policy.client(): ...`` -- a caller that will send calls for a while."""
        return _Client(self)

    def _join(self, delta: int) -> None:
        with self._cond:
            self._clients += delta
            self._cond.notify_all()

    # ----------------------------------------------------------------- the policy API
    def generate(self, conversations: Sequence[Messages],
                 sampling: SamplingParams | None = None) -> list[str]:
        return [c.text for c in self.generate_completions(conversations, sampling)]

    def generate_completions(self, conversations: Sequence[Messages],
                             sampling: SamplingParams | None = None,
                             seeds: Sequence[int | None] | None = None,
                             top_logprobs: int | None = None) -> list[Any]:
        sampling = sampling or SamplingParams()
        call = _Call(list(conversations), sampling, row_seeds(sampling, len(conversations), seeds),
                     top_logprobs)
        if not call.conversations:
            return []
        with self._cond:
            self._pending.append(call)
            self._cond.notify_all()
        while not call.done.is_set():
            batch = self._lead(call)
            if batch:
                self._run(batch)
            else:
                call.done.wait(0.01)
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result

    # ----------------------------------------------------------------- dispatch
    def _lead(self, call: _Call) -> list[_Call]:
        """If the model is free, become the dispatcher: wait for the others (at most
        ``window_s``), then take the pending calls that can share a batch with the first."""
        with self._cond:
            if self._busy or call.done.is_set() or not self._pending:
                return []
            self._busy = True
            deadline = time.monotonic() + self.window_s
            while len(self._pending) < max(self._clients, 1):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            first = self._pending[0]
            batch, size = [], 0
            for pending in list(self._pending):
                if pending.key() != first.key():
                    continue
                if batch and size + len(pending.conversations) > self.max_batch:
                    break
                batch.append(pending)
                size += len(pending.conversations)
            for taken in batch:
                self._pending.remove(taken)
            return batch

    def _run(self, batch: list[_Call]) -> None:
        conversations = [c for call in batch for c in call.conversations]
        seeds = [s for call in batch for s in call.seeds]
        try:
            out = self.policy.generate_completions(conversations, batch[0].sampling, seeds=seeds,
                                                   top_logprobs=batch[0].top_logprobs)
            if len(out) != len(conversations):
                raise RuntimeError(f"policy returned {len(out)} replies for "
                                   f"{len(conversations)} conversations")
            start = 0
            for call in batch:
                call.result = list(out[start : start + len(call.conversations)])
                start += len(call.conversations)
        except BaseException as e:  # noqa: BLE001 -- every caller of the batch sees its fault
            for call in batch:
                call.error = e
        finally:
            with self._cond:
                self._busy = False
                self.batches.append(len(conversations))
                self._cond.notify_all()
            for call in batch:
                call.done.set()


class _Client:
    def __init__(self, owner: CoalescingPolicy):
        self.owner = owner

    def __enter__(self) -> CoalescingPolicy:
        self.owner._join(+1)
        return self.owner

    def __exit__(self, *exc: Any) -> None:
        self.owner._join(-1)
