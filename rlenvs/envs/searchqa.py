"""``rlenvs/SearchQA-v0``: multi-hop questions over a small fictional encyclopedia.

The shipped corpus (``rlenvs/data/search_corpus.jsonl``, 44 short entries about invented places
and people) and questions (``rlenvs/data/searchqa.jsonl``, each needing two or three lookups)
make answers unambiguous. The policy has the BM25 ``search`` tool and answers in ``\\boxed{}``;
judging is normalised exact match, or the gold answer (or an alias) as whole words
in a short prediction that otherwise only restates the question (a list of candidates, a
negation, another entity the question names, or several different boxes is not an answer). Pass ``corpus=`` / ``questions=`` to use your own documents.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from judges import Verdict
from judges.math.reader import reader_view
from rlenvs.task_env import TaskEnv
from rlenvs.tasks import ListSource
from rlenvs.tools.answers import committed
from rlenvs.tools.search import DEFAULT_CORPUS, make_search_tool
from rlenvs.tools.tool_env import ToolEnv

__all__ = ["SearchQAEnv", "judge_short_answer", "normalize_answer", "DEFAULT_QUESTIONS"]

DEFAULT_QUESTIONS = Path(__file__).resolve().parent.parent / "data" / "searchqa.jsonl"
PROMPT = ("Answer the question using the search tool to look things up in the encyclopedia. "
          "Question: {question} Put your final answer (a short phrase) in \\boxed{{}}.")
MAX_CONTAINMENT_RATIO = 4


def normalize_answer(text: str) -> str:
    """The reader's view (look-alike letters read as ASCII, invisible characters dropped), lower
    case, no accents, punctuation, articles or thousands separators; single spaces. Applied to
    the gold and the answer alike."""
    text = unicodedata.normalize("NFKD", reader_view(text))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"\\text\{([^}]*)\}", r"\1", text)
    text = re.sub(r"[^\w\s]", " ", text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


# Words that turn one answer into several or into its opposite; never filler, even when the
# question itself uses them ("Is it A or B?").
_CONNECTIVES = frozenset("or and not no nor neither either but maybe perhaps possibly".split())
# Function words a question may start with (capitalised there, yet not a name).
_OPENERS = frozenset("in on at of by for from into off to with under over after before during "
                     "who what which when where how whose whom why".split())
_WORD = re.compile(r"\w+", flags=re.UNICODE)


def _filler(question: str) -> set[str]:
    """Words an answer may add to the gold because they only restate the question's *kind* of
    answer ("river", "year", "in"): the question's lower-case words. Never a name or a number
    (a capitalised word other than an opening function word, a word with a digit): those are
    other entities the question mentions, i.e. candidates (``Halvarth, Karsk`` for "In which
    city was the architect of the Halvarth Royal Opera born?")."""
    words = set()
    for k, m in enumerate(_WORD.finditer(question)):
        word = m.group()
        opener = k == 0 and word.lower() in _OPENERS
        if any(c.isdigit() for c in word) or (word[:1].isupper() and not opener):
            continue
        words.update(normalize_answer(word).split())
    return words - _CONNECTIVES - _alternatives(question)


def _alternatives(question: str) -> set[str]:
    """Words the question offers as choices ("a city or a town", "lake, river or sea"): the
    word on each side of ``or`` / ``nor``, and every word before a comma in a question that
    has one of them. They are candidates, so they are never filler."""
    raw = [normalize_answer(t) if t != "," else t for t in re.findall(r"\w+|,", question)]
    raw = [t for t in raw if t]  # articles are gone
    if not {"or", "nor"} & set(raw):
        return set()
    out = set()
    for i, t in enumerate(raw):
        if t in ("or", "nor", ","):
            if i > 0 and raw[i - 1] != ",":
                out.add(raw[i - 1])
            if t != "," and i + 1 < len(raw):
                out.add(raw[i + 1])
    return out


def _restates(pred: str, gold: str, question: str, golds: list[str]) -> bool:
    """``pred`` is ``gold`` plus words that restate the question (or another gold alias)."""
    m = re.search(rf"(?<!\w){re.escape(gold)}(?!\w)", pred)
    if m is None:
        return False
    rest = (pred[: m.start()] + " " + pred[m.end():]).split()
    given = _filler(question).union(*(g.split() for g in golds)) - _CONNECTIVES
    return all(w in given for w in rest)


def _match(pred: str, golds: list[str], question: str) -> str | None:
    """How ``pred`` (normalised) names a gold: ``"exact"``, ``"contains"`` or None."""
    for gold in golds:
        if pred == gold:
            return "exact"
        short = len(pred.split()) <= MAX_CONTAINMENT_RATIO * len(gold.split())
        if short and _restates(pred, gold, question, golds):
            return "contains"
    return None


def judge_short_answer(reply: str, task: Mapping[str, Any]) -> Verdict:
    """Normalised exact match, or the gold answer (or an alias) as whole words in a short boxed
    answer whose other words only restate the question ("the river Lusk" for "On which river
    ..."). A list of candidates, a negation ("Lusk or Ost", "not Lusk", "Halvarth Karsk" when
    the question names Halvarth) or several different boxes is not an answer; a later "the
    answer is X" must be right as well, and a box inside a thinking block is not an answer
    (:func:`rlenvs.tools.answers.committed`)."""
    got = committed(reply, normalize_answer)
    if got.answer is None:
        return Verdict(score=0.0, passed=False, reason=str(got.problem),
                       details={"extracted": None, "components": {"answer": 0.0}})
    boxed = got.answer
    golds = [normalize_answer(str(g)) for g in [task["answer"], *task.get("aliases", [])]]
    golds = [g for g in golds if g]
    question = str(task.get("question", ""))
    how = _match(normalize_answer(boxed), golds, question)
    wrong_later = [a for a in got.later if _match(normalize_answer(a), golds, question) is None]
    correct = how is not None and not wrong_later
    shown = boxed if not wrong_later else f"{boxed}, then {wrong_later[0]}"
    return Verdict(
        score=1.0 if correct else 0.0,
        passed=correct,
        reason=f"correct ({how} match)" if correct
        else f"expected {task['answer']!r}, got {shown[:80]!r}",
        details={"extracted": boxed[:200], "match": how if correct else None,
                 "components": {"answer": 1.0 if correct else 0.0}},
    )


class SearchQAEnv(ToolEnv):
    """Multi-hop QA with a ``search`` tool.

    Args:
        corpus: documents (list of ``{"id", "title", "text"}`` or strings) or a JSONL path.
        questions: JSONL path of ``{"question", "answer", "aliases"?}`` rows.
        **kwargs: ``ToolEnv`` options (``parser``, ``max_turns``, ``reward``...).
    """

    def __init__(self, corpus: Any = None, questions: str | Path = DEFAULT_QUESTIONS,
                 **kwargs: Any) -> None:
        source = ListSource.from_jsonl(questions, required=("question", "answer"))
        task_env = TaskEnv(
            source=source,
            prompt=lambda task: PROMPT.format(question=task["question"]),
            judge=judge_short_answer,
            required_keys=("question", "answer"),
            public_fields=("id", "question"),  # the rest is private (issue 26)
        )
        self.search_tool = make_search_tool(corpus if corpus is not None else DEFAULT_CORPUS)
        super().__init__(task_env, [self.search_tool], **kwargs)
