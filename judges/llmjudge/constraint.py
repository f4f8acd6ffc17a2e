"""Yes/no constraint judges decided by token probabilities (CGPO's LLM judges).

The judge model is asked a yes/no question about the response; instead of sampling an answer
we read the log-probabilities of the positive and negative tokens as the first reply token and
compare them: ``p = P(pos) / (P(pos) + P(neg))``. The verdict passes when ``p > threshold``;
its score is ``p``. Needs a backend with ``choice_logprobs`` (the local transformers backend, an
OpenAI-compatible server that serves ``logprobs``, or either behind ``CachedChat``).

When neither token is among the tokens the backend reports (an HTTP server's top-k), the verdict
gets ``fallback_score`` and a reason saying so. A backend failure is a failing verdict with the
reason (``raise_on_error=True`` raises). With ``task["response"]`` set (a meta judge, see
``judges.grm.meta_from_judge``) the judge sees the request, that response and the judged text
as its critique.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from judges.llm.base import Messages
from judges.llmjudge.backend_call import call_backend, failed_verdict
from judges.llmjudge.framing import DATA_RULE, DEFAULT_MAX_CHARS, judged_blocks
from judges.llmjudge.parsing import task_prompt
from judges.verdict import Verdict

__all__ = ["YesNoJudge", "yes_probability"]


def yes_probability(logprob_pos: float, logprob_neg: float) -> float | None:
    """``P(pos) / (P(pos) + P(neg))`` from two log-probabilities; ``None`` if both are ``-inf``."""
    if logprob_pos == -math.inf and logprob_neg == -math.inf:
        return None
    top = max(logprob_pos, logprob_neg)
    a, b = math.exp(logprob_pos - top), math.exp(logprob_neg - top)
    return a / (a + b)


class YesNoJudge:
    """A constraint judge: ``question`` about the response, answered by token probabilities.

    Args:
        model: a backend with ``choice_logprobs``.
        question: e.g. ``"Does the response refuse the request?"``.
        positive / negative: the answer tokens compared (``"Yes"`` / ``"No"``).
        pass_when: ``"yes"`` passes when the positive answer is likelier (``p > threshold``);
            ``"no"`` inverts it (for questions that name a violation, "Is it unsafe?").
        threshold: decision threshold on ``P(positive)``.
        fallback_score: score when neither token was reported.
        name: component name.
        max_response_chars: longer responses are cut (head and tail kept), never the question.
        raise_on_error: raise backend failures instead of returning failing verdicts.
    """

    def __init__(
        self,
        model: Any,
        question: str,
        positive: str = "Yes",
        negative: str = "No",
        pass_when: str = "yes",
        threshold: float = 0.5,
        fallback_score: float = 0.0,
        name: str = "constraint",
        max_response_chars: int = DEFAULT_MAX_CHARS,
        raise_on_error: bool = False,
    ) -> None:
        if pass_when not in ("yes", "no"):
            raise ValueError("pass_when must be 'yes' or 'no'")
        if not hasattr(model, "choice_logprobs"):
            raise TypeError(f"{type(model).__name__} has no choice_logprobs; use a backend "
                            "that reports log-probabilities")
        self.model = model
        self.question = question
        self.positive, self.negative = positive, negative
        self.pass_when = pass_when
        self.threshold = threshold
        self.fallback_score = fallback_score
        self.name = name
        self.max_response_chars = max_response_chars
        self.raise_on_error = raise_on_error

    def messages(self, response: str, task: Mapping[str, Any]) -> Messages:
        user = (f"Request:\n{task_prompt(task)}\n\n"
                f"{judged_blocks(response, task, self.max_response_chars)}\n\n"
                f"Question: {self.question}\nAnswer with one word: {self.positive} or "
                f"{self.negative}.")
        return [
            {"role": "system", "content": "You are a careful grader. " + DATA_RULE},
            {"role": "user", "content": user},
        ]

    def probabilities(
        self, responses: Sequence[str], tasks: Sequence[Mapping[str, Any]] | Mapping[str, Any]
    ) -> list[float | None]:
        """``P(positive)`` per response (``None`` when neither token was reported)."""
        task_list = [tasks] * len(responses) if isinstance(tasks, Mapping) else list(tasks)
        rows = self.model.choice_logprobs(
            [self.messages(r, t) for r, t in zip(responses, task_list, strict=True)],
            [self.positive, self.negative],
        )
        return [yes_probability(row[self.positive], row[self.negative]) for row in rows]

    def score_batch(
        self, responses: Sequence[str], tasks: Sequence[Mapping[str, Any]] | Mapping[str, Any]
    ) -> list[Verdict]:
        """One verdict per response, from one backend call."""
        probs, error = call_backend(self.probabilities, responses, tasks, expect=len(responses),
                                    raise_on_error=self.raise_on_error)
        if error is not None:
            return [failed_verdict(error, self.name) for _ in responses]
        out = []
        for p in probs:
            if p is None:
                out.append(Verdict(self.fallback_score, False,
                                   f"neither {self.positive!r} nor {self.negative!r} reported",
                                   {"p_positive": None, "unscored": True,
                                    "components": {self.name: self.fallback_score}},
                                   status="unscored", cause="judge_backend"))
                continue
            score = p if self.pass_when == "yes" else 1.0 - p
            passed = p > self.threshold if self.pass_when == "yes" else p <= self.threshold
            out.append(Verdict(score, passed,
                               f"P({self.positive})={p:.3f} for {self.question!r}",
                               {"p_positive": p, "components": {self.name: score}}))
        return out

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        return self.score_batch([response], [task])[0]
