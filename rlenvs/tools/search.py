"""The ``search`` tool: BM25 ranking over a local corpus (the shipped one or the user's)."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rlenvs.tools.base import Tool, ToolError

__all__ = ["BM25Index", "make_search_tool", "load_corpus", "DEFAULT_CORPUS"]

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "data" / "search_corpus.jsonl"
_TOKEN = re.compile(r"\w+", flags=re.UNICODE)
_STOP = frozenset("a an and are as at be by for from has have in is it its of on or that the "
                  "this to was were which who whom what when where with how did does do".split())


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without common stop words."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]


def load_corpus(path: str | Path = DEFAULT_CORPUS) -> list[dict[str, str]]:
    """Documents ``{"id", "title", "text"}`` from a JSONL file."""
    docs = []
    with Path(path).open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                row = json.loads(line)
                if "text" not in row:
                    raise ValueError(f"{path}:{lineno}: a document needs a 'text' field")
                docs.append({"id": str(row.get("id", lineno)), "title": row.get("title", ""),
                             "text": row["text"]})
    return docs


class BM25Index:
    """Okapi BM25 (``k1``, ``b``) over documents with ``title`` and ``text``.

    Args:
        documents: dicts with ``text`` (and optionally ``id``, ``title``), or plain strings.
    """

    def __init__(self, documents: Iterable[Mapping[str, Any] | str], k1: float = 1.5,
                 b: float = 0.75) -> None:
        self.documents = [
            {"id": str(i), "title": "", "text": d} if isinstance(d, str)
            else {"id": str(d.get("id", i)), "title": str(d.get("title", "")), "text": str(d["text"])}
            for i, d in enumerate(documents)
        ]
        if not self.documents:
            raise ValueError("BM25Index needs at least one document")
        self.k1, self.b = k1, b
        self._tf = [Counter(tokenize(d["title"] + " " + d["text"])) for d in self.documents]
        self._len = [sum(tf.values()) for tf in self._tf]
        self._avg = sum(self._len) / len(self._len) or 1.0
        df: Counter[str] = Counter()
        for tf in self._tf:
            df.update(tf.keys())
        n = len(self.documents)
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

    def scores(self, query: str) -> list[float]:
        """The BM25 score of every document for ``query``."""
        terms = tokenize(query)
        out = []
        for tf, length in zip(self._tf, self._len, strict=True):
            s = 0.0
            for t in terms:
                f = tf.get(t, 0)
                if f:
                    norm = f + self.k1 * (1 - self.b + self.b * length / self._avg)
                    s += self._idf[t] * f * (self.k1 + 1) / norm
            out.append(s)
        return out

    def search(self, query: str, k: int = 3) -> list[tuple[dict[str, str], float]]:
        """Top ``k`` documents with a positive score (ties broken by corpus order)."""
        scored = [(s, i) for i, s in enumerate(self.scores(query)) if s > 0]
        scored.sort(key=lambda p: (-p[0], p[1]))
        return [(self.documents[i], s) for s, i in scored[:k]]


def make_search_tool(
    documents: Iterable[Mapping[str, Any] | str] | str | Path | None = None,
    max_results: int = 5,
    max_query_chars: int = 500,
) -> Tool:
    """A ``search`` tool over ``documents`` (a list, a JSONL path, or the shipped corpus)."""
    if documents is None or isinstance(documents, str | Path):
        documents = load_corpus(documents or DEFAULT_CORPUS)
    index = BM25Index(documents)

    def search(query: str, k: int = 3) -> str:
        """Search the encyclopedia and return the best-matching entries.

        Args:
            query: keywords to look for, e.g. "founder of Port Ilvane".
            k: how many entries to return (1-5).
        """
        if len(query) > max_query_chars:
            raise ToolError(f"query is {len(query)} characters; limit {max_query_chars}")
        if not tokenize(query):
            raise ToolError("the query has no searchable words")
        hits = index.search(query, k=max(1, min(k, max_results)))
        if not hits:
            return "No results."
        return "\n\n".join(f"[{i}] {d['title']}: {d['text']}" for i, (d, _) in enumerate(hits, 1))

    made = Tool(search, name="search")
    made.index = index  # type: ignore[attr-defined]
    return made
