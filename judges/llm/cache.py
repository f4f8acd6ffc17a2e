"""An on-disk cache in front of any chat backend: re-scoring makes no backend calls.

``CachedChat(model)`` stores every reply (and every ``choice_logprobs`` answer) in a sqlite
database, keyed by a hash of (model name, conversation, sampling parameters, kind of call).
The default file is ``$RLENVS_CACHE/llm-cache.sqlite`` (``~/.cache/rlenvs`` when unset); pass
``path`` for another file, or ``":memory:"`` for a per-process cache.

Sampling and keys: a greedy call (``temperature == 0``) is keyed by the conversation alone,
and only the missing conversations are sent to the backend. A stochastic call
(``temperature > 0``) is keyed per sample -- its key includes the position in the batch -- so
the same conversation asked ``k`` times in one batch gets ``k`` draws, never one reply ``k``
times. With a ``seed`` (backends derive per-conversation seeds from the position) a partial hit
re-sends the whole batch, reproducing exactly what the uncached backend returns; without one
only the missing positions are sent. Unseeded stochastic replies are cached too (re-scoring is
then reproducible); pass ``cache_unseeded=False`` to always sample such calls afresh. A judge
that wants fresh draws on every call gives each call its own seeds (the generative reward model
does).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judges.llm.base import Messages, SamplingParams

__all__ = ["CachedChat", "default_cache_path"]


def default_cache_path() -> Path:
    """``$RLENVS_CACHE/llm-cache.sqlite`` (``~/.cache/rlenvs`` when the variable is unset)."""
    from judges.llm.embedded import cache_root

    return cache_root() / "llm-cache.sqlite"


class CachedChat:
    """Wrap ``model`` (any ``ChatModel``) with a persistent reply cache.

    Attributes:
        hits / misses: counts of cached and backend-served conversations since construction.
    """

    def __init__(
        self, model: Any, path: str | Path | None = None, cache_unseeded: bool = True
    ) -> None:
        self.inner = model
        self.name = model.name
        self.cache_unseeded = cache_unseeded
        self.path = str(path) if path is not None else str(default_cache_path())
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, value TEXT)")
        self._db.commit()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------ storage

    def _key(self, kind: str, conv: Messages, params: Any, position: int | None) -> str:
        payload = json.dumps(
            {"kind": kind, "model": self.name, "messages": conv, "params": params, "pos": position},
            sort_keys=True, ensure_ascii=False, default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def _get(self, keys: list[str]) -> dict[str, Any]:
        with self._lock:
            found = {}
            for key in keys:
                row = self._db.execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    found[key] = json.loads(row[0])
            return found

    def _put(self, items: dict[str, Any]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO replies (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in items.items()],
            )
            self._db.commit()

    def _cached_call(
        self, kind: str, conversations: Sequence[Messages], params: Any, positional: bool,
        call: Any, exact: bool = False,
    ) -> list[Any]:
        convs = [[dict(m) for m in conv] for conv in conversations]
        keys = [self._key(kind, c, params, i if positional else None) for i, c in enumerate(convs)]
        found = self._get(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            todo = list(range(len(convs))) if exact else missing
            fresh = call([conversations[i] for i in todo])
            new = {keys[i]: value for i, value in zip(todo, fresh, strict=True)}
            self._put(new)
            found.update(new)
        return [found[k] for k in keys]

    # ------------------------------------------------------------------ backend API

    def generate(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None
    ) -> list[str]:
        """Like the wrapped model's ``generate``, served from the cache where possible."""
        sampling = sampling or SamplingParams()
        stochastic = sampling.temperature > 0
        if stochastic and sampling.seed is None and not self.cache_unseeded:
            return self.inner.generate(conversations, sampling)
        return self._cached_call(
            "generate", conversations, sampling.to_dict(), stochastic,
            lambda convs: self.inner.generate(convs, sampling),
            exact=stochastic and sampling.seed is not None,
        )

    def choice_logprobs(
        self, conversations: Sequence[Messages], choices: Sequence[str]
    ) -> list[dict[str, float]]:
        """Like the wrapped model's ``choice_logprobs`` (``-inf`` survives the round trip)."""
        rows = self._cached_call(
            "choice_logprobs", conversations, list(choices), False,
            lambda convs: [
                {c: (v if v != float("-inf") else "-inf") for c, v in row.items()}
                for row in self.inner.choice_logprobs(convs, list(choices))
            ],
        )
        return [{c: float(v) for c, v in row.items()} for row in rows]

    def clear(self) -> None:
        """Forget every cached reply in this file."""
        with self._lock:
            self._db.execute("DELETE FROM replies")
            self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __getattr__(self, name: str) -> Any:  # attributes of the wrapped backend
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
