"""Pairwise preference judged in both orders, and group rewards through Bradley-Terry.

The judge sees the request and two responses labelled A and B and must end with ``[[A]]``,
``[[B]]`` or ``[[C]]`` (tie). Every pair is judged twice, once with each response first; the
preference for the first response is the mean of the two readings (win 1, tie 0.5, loss 0),
which cancels a judge that always prefers one position. ``details`` records both raw judge
texts and whether the two orders agreed.

A reading is taken only from the judge's last line (``judges.llmjudge.parsing.parse_choice``);
a judge output without a verdict there (or cut at its token limit, or naming two choices) has
no reading. A pair without both readings is *unscored* -- a fault, not a tie: one reading
alone is the position bias the second order cancels -- with the cause in
``details["unscored_reason"]``; ``__call__`` then gives an unscored, not passed verdict, and
``group_rewards`` fits Bradley-Terry on the scored pairs only (a response without any is
unscored).

``group_rewards(responses, task)`` judges all pairs of a group (both orders, one backend
call), fits Bradley-Terry strengths and returns each response's expected win rate against the
rest of the group as its reward.

Both responses are framed so they cannot close their blocks or plant a verdict
(``judges.llmjudge.framing``). A backend failure gives failing verdicts with the reason
(``raise_on_error=True`` raises).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np

from judges.llm.base import ChatModel, Messages, SamplingParams
from judges.llmjudge.backend_call import failed_verdict, generate_outputs
from judges.llmjudge.bradley_terry import bradley_terry, expected_win_rates
from judges.llmjudge.framing import DATA_RULE, DEFAULT_MAX_CHARS, frame_response
from judges.llmjudge.parsing import parse_choice, task_prompt
from judges.verdict import Verdict

__all__ = ["PairwiseJudge"]

_SYSTEM = (
    "You compare two responses to the same request. " + DATA_RULE + " Explain briefly, then "
    "end with [[A]] if response A is better, [[B]] if response B is better, or [[C]] for a tie, "
    "on the last line."
)
_READING = {"A": 1.0, "B": 0.0, "C": 0.5}


class PairwiseJudge:
    """Preference between two responses, position bias cancelled by judging both orders.

    Args:
        model: any chat backend.
        criteria: what "better" means.
        sampling: judge decoding (greedy, 64 new tokens by default).
        baseline_key: for ``__call__``, the task key of the response to compare against.
        bt_prior: pseudo-wins per direction added before the Bradley-Terry fit.
        name: component name.
        max_response_chars: longer responses are cut (head and tail kept), never the criteria.
        raise_on_error: raise backend failures instead of returning failing verdicts.
    """

    def __init__(
        self,
        model: ChatModel,
        criteria: str = "Which response answers the request more helpfully and correctly?",
        sampling: SamplingParams | None = None,
        baseline_key: str = "reference",
        bt_prior: float = 0.5,
        name: str = "pairwise",
        max_response_chars: int = DEFAULT_MAX_CHARS,
        raise_on_error: bool = False,
    ) -> None:
        self.model = model
        self.criteria = criteria
        self.sampling = sampling or SamplingParams(temperature=0.0, max_new_tokens=64)
        self.baseline_key = baseline_key
        self.bt_prior = bt_prior
        self.name = name
        self.max_response_chars = max_response_chars
        self.raise_on_error = raise_on_error

    def messages(self, prompt: str, first: str, second: str) -> Messages:
        cap = self.max_response_chars
        user = (f"{self.criteria}\n\nRequest:\n{prompt}\n\n"
                f"{frame_response('RESPONSE A', first, cap)}\n\n"
                f"{frame_response('RESPONSE B', second, cap)}\n\n"
                "Which response is better? End with [[A]], [[B]] or [[C]].")
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]

    def compare_many(self, prompt: str, pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """For each ``(a, b)``: ``{"prob_a", "consistent", "readings", "judge_texts",
        "unscored"}`` (``prob_a`` 0.5 and ``"unscored_reason"`` when a reading is missing); on a
        backend failure each has ``"backend_error"`` instead (and ``prob_a`` 0.5)."""
        convs = []
        for a, b in pairs:
            convs += [self.messages(prompt, a, b), self.messages(prompt, b, a)]
        outputs, error = (generate_outputs(self.model, convs, self.sampling, self.raise_on_error)
                          if convs else ([], None))
        if error is not None:
            return [{"prob_a": 0.5, "consistent": False, "readings": [None, None],
                     "judge_texts": [], "backend_error": error} for _ in pairs]
        out = []
        for k in range(len(pairs)):
            (forward, cut1), (backward, cut2) = outputs[2 * k], outputs[2 * k + 1]
            c1, c2 = parse_choice(forward, truncated=cut1), parse_choice(backward, truncated=cut2)
            result: dict[str, Any] = {"prob_a": 0.5, "consistent": False, "readings": [c1, c2],
                                      "judge_texts": [forward, backward], "unscored": False}
            if c1 is None or c2 is None:
                orders = [name for name, c in (("A first", c1), ("B first", c2)) if c is None]
                result.update(unscored=True, unscored_reason=(
                    "unparseable judge output (no [[A]]/[[B]]/[[C]] verdict on the last line) "
                    f"with {' and '.join(orders)}"))
            else:
                r1, r2 = _READING[c1], 1.0 - _READING[c2]  # a was shown second
                result.update(prob_a=(r1 + r2) / 2, consistent=r1 == r2)
            out.append(result)
        return out

    def compare(self, prompt: str, a: str, b: str) -> dict[str, Any]:
        """One pair (see ``compare_many``)."""
        return self.compare_many(prompt, [(a, b)])[0]

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        """Preference of ``response`` over ``task[baseline_key]`` as a score in ``[0, 1]``."""
        if self.baseline_key not in task:
            return Verdict.fail(f"task has no {self.baseline_key!r} to compare with",
                                components={self.name: 0.0})
        result = self.compare(task_prompt(task), response, str(task[self.baseline_key]))
        if "backend_error" in result:
            return failed_verdict(result["backend_error"], self.name)
        if result["unscored"]:
            return Verdict(0.5, False, result["unscored_reason"],
                           {**result, "components": {self.name: 0.5}},
                           status="unscored", cause="judge_backend")
        score = result["prob_a"]
        return Verdict(score, score > 0.5, f"preferred over {self.baseline_key} with {score:.2f}",
                       {**result, "components": {self.name: score}})

    def group_rewards(self, responses: Sequence[str], task: Mapping[str, Any]) -> list[Verdict]:
        """All-pairs judging within a group, Bradley-Terry strengths -> per-response rewards."""
        n = len(responses)
        if n < 2:
            return [Verdict(0.5, True, "single response: neutral", {"components": {self.name: 0.5}})
                    for _ in responses]
        pairs = list(combinations(range(n), 2))
        results = self.compare_many(task_prompt(task), [(responses[i], responses[j])
                                                         for i, j in pairs])
        if results and "backend_error" in results[0]:
            return [failed_verdict(results[0]["backend_error"], self.name) for _ in responses]
        wins = np.zeros((n, n))
        scored = np.zeros(n, dtype=bool)
        for (i, j), result in zip(pairs, results, strict=True):
            if result["unscored"]:
                continue
            wins[i, j] += 2 * result["prob_a"]  # two games per pair
            wins[j, i] += 2 * (1 - result["prob_a"])
            scored[[i, j]] = True
        strengths = bradley_terry(wins, prior=self.bt_prior)
        rewards = expected_win_rates(strengths)
        out = []
        for i, (r, s) in enumerate(zip(rewards, strengths, strict=True)):
            details: dict[str, Any] = {"strength": float(s), "wins": wins[i].tolist(),
                                       "components": {self.name: float(r)}}
            if scored[i]:
                out.append(Verdict(float(r), float(r) >= 0.5,
                                   f"Bradley-Terry win rate {r:.2f} in group of {n}", details))
            else:
                reason = f"no pair of response {i} was scored (unparseable judge output)"
                out.append(Verdict(float(r), False, reason,
                                   {**details, "unscored": True, "unscored_reason": reason},
                                   status="unscored", cause="judge_backend"))
        return out
