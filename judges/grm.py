"""Generative reward model with inference-time scaling (DeepSeek-GRM / SPCT style).

For each response the judge model writes **principles** for the request, a **critique** of
the response against them, and a **score** (``Score: N/10``). ``k`` such samples are drawn --
``k`` independent draws: sample ``i`` has its own seed (``seed + 1000 i``; an unseeded sampling
gets a fresh random base seed per call), so neither a seeded backend nor ``CachedChat`` can
hand back one reply ``k`` times -- and aggregated by voting:

* ``"sum"`` -- sum of the k scores, an unparseable sample counting as the lowest score;
  normalised by ``k * high`` range, so the vote spans ``k * (high - low) + 1`` levels;
* ``"mean"`` -- mean over the parseable samples only (``fallback_score`` unless a majority
  of the samples parse).

Nothing passes unless a strict majority of the samples (and of the voting samples) parse;
without one the verdict is *unscored* (a fault, ``details["unscored"]``). The response is
framed so it cannot close its block and its verdict-like lines are shown quoted; each score is
read only from the sample's own final verdict line (``judges.llmjudge.parsing``: never from
the response, nor from a critique that quotes or discusses it), and a sample cut at its token
limit has none. A backend failure is a failing verdict with the reason
(``raise_on_error=True`` raises).

An optional **meta judge** ``(sample_text, response, task) -> float`` rates each sample (e.g. a
``YesNoJudge`` asking "Is this critique correct?" wrapped by :func:`meta_from_judge`); only the
``k_meta`` best-rated samples vote. Scores are normalised to ``[0, 1]``; every sample's text,
score and meta rating are in ``details["samples"]``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from judges.llm.base import ChatModel, Messages, SamplingParams
from judges.llmjudge.backend_call import failed_verdict, generate_outputs
from judges.llmjudge.framing import DATA_RULE, DEFAULT_MAX_CHARS, judged_blocks
from judges.llmjudge.parsing import parse_score, task_prompt
from judges.verdict import Verdict

__all__ = ["GenerativeRewardModel", "meta_from_judge"]

MetaJudge = Callable[[str, str, Mapping[str, Any]], float]

_SYSTEM = (
    "You are a reward model. " + DATA_RULE + " First write 'Principles:' with 2-3 principles a "
    "good answer to the request must follow. Then write 'Critique:' judging the response against "
    "them. Finish with the line 'Score: N/{high}' where N is an integer from {low} to {high}, "
    "alone on the last line."
)


def meta_from_judge(judge: Callable[[str, Mapping[str, Any]], Verdict]) -> MetaJudge:
    """Use any judge of (critique text, task) as a meta judge: the rating is its score.

    The task the judge sees is the original task plus ``"response"`` (the judged response), so
    a ``YesNoJudge("Is this critique of the response accurate?")`` sees the request, the
    response and the critique. A pointwise meta judge's rating is read from its own verdict
    line only, so it may give a critique the score the critique gave.
    """

    def meta(sample_text: str, response: str, task: Mapping[str, Any]) -> float:
        return judge(sample_text, {**task, "response": response}).score

    return meta


class _BackendFailed(Exception):
    """A sample's backend call failed (the message is the verdict's reason)."""


class GenerativeRewardModel:
    """Principles -> critique -> score, k samples voted.

    Args:
        model: any chat backend.
        k: samples per response.
        aggregate: ``"sum"`` or ``"mean"`` (see the module docstring).
        low / high: score range asked for.
        sampling: sampling of each sample (temperature 0.7, seed 0, 128 new tokens by default;
            sample ``i`` uses ``seed + i``).
        meta_judge / k_meta: keep the ``k_meta`` samples the meta judge rates highest.
        fallback_score: score when no sample parses (``"mean"``).
        pass_threshold: normalised score at which ``passed`` is true.
        name: component name.
        max_response_chars: longer responses are cut (head and tail kept), never the prompt.
        raise_on_error: raise backend failures instead of returning failing verdicts.
    """

    def __init__(
        self,
        model: ChatModel,
        k: int = 4,
        aggregate: str = "sum",
        low: int = 1,
        high: int = 10,
        sampling: SamplingParams | None = None,
        meta_judge: MetaJudge | None = None,
        k_meta: int | None = None,
        fallback_score: float = 0.0,
        pass_threshold: float = 0.5,
        name: str = "grm",
        max_response_chars: int = DEFAULT_MAX_CHARS,
        raise_on_error: bool = False,
    ) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        if aggregate not in ("sum", "mean"):
            raise ValueError("aggregate must be 'sum' or 'mean'")
        if k_meta is not None and not 1 <= k_meta <= k:
            raise ValueError("k_meta must be in [1, k]")
        if k_meta is not None and meta_judge is None:
            raise ValueError("k_meta needs a meta_judge")
        self.model = model
        self.k = k
        self.aggregate = aggregate
        self.low, self.high = low, high
        self.sampling = sampling or SamplingParams(temperature=0.7, max_new_tokens=128, seed=0)
        self.meta_judge = meta_judge
        self.k_meta = k_meta
        self.fallback_score = fallback_score
        self.pass_threshold = pass_threshold
        self.name = name
        self.max_response_chars = max_response_chars
        self.raise_on_error = raise_on_error

    def messages(self, response: str, task: Mapping[str, Any]) -> Messages:
        return [
            {"role": "system", "content": _SYSTEM.format(low=self.low, high=self.high)},
            {"role": "user", "content": f"Request:\n{task_prompt(task)}\n\n"
                                        f"{judged_blocks(response, task, self.max_response_chars)}"},
        ]

    def _sample_texts(self, convs: list[Messages]) -> list[list[tuple[str, bool]]]:
        """k ``(text, truncated)`` samples per conversation, sample i with seed
        ``base + 1000 i`` (``base`` random per call when the sampling has no seed); backends
        offset it by the conversation's index."""
        base = self.sampling.seed if self.sampling.seed is not None else secrets.randbelow(2**30)
        per_sample = []
        for i in range(self.k):
            outputs, error = generate_outputs(self.model, convs,
                                              replace(self.sampling, seed=base + 1000 * i),
                                              self.raise_on_error)
            if error is not None:
                raise _BackendFailed(error)
            per_sample.append(outputs)
        return [[per_sample[i][c] for i in range(self.k)] for c in range(len(convs))]

    def vote(self, texts: Sequence[str], response: str, task: Mapping[str, Any],
             truncated: Sequence[bool] | None = None) -> Verdict:
        """Aggregate already generated samples for one response into a Verdict
        (``truncated[i]``: sample ``i`` was cut at its token limit)."""
        samples: list[dict[str, Any]] = []
        cut = list(truncated) if truncated is not None else [False] * len(texts)
        for text, was_cut in zip(texts, cut, strict=True):
            parsed = parse_score(text, self.low, self.high, was_cut)
            samples.append({"text": text, "score": parsed.value, "parse": parsed.reason})
        used = samples
        if self.meta_judge is not None:
            for s in samples:
                s["meta"] = float(self.meta_judge(s["text"], response, task))
            keep = self.k_meta or len(samples)
            used = sorted(samples, key=lambda s: -s["meta"])[:keep]
            for s in samples:
                s["kept"] = any(s is u for u in used)
        parsed = [s["score"] for s in used if s["score"] is not None]
        parsed_all = sum(s["score"] is not None for s in samples)
        majority = 2 * parsed_all > len(samples) and 2 * len(parsed) > len(used)
        span = self.high - self.low
        if self.aggregate == "sum":
            total = sum((v if v is not None else self.low) - self.low
                        for v in (s["score"] for s in used))
            score = total / (span * len(used))
            reason = f"vote sum {sum(v for v in parsed):g} over {len(used)} samples"
        elif not parsed:
            score, reason = self.fallback_score, "unparseable judge output in every sample"
        elif majority:
            score = (sum(parsed) / len(parsed) - self.low) / span
            reason = f"vote mean {sum(parsed) / len(parsed):.2f} over {len(parsed)} samples"
        else:
            score = self.fallback_score
            reason = "vote mean withheld"
        if parsed and not majority:
            reason += (f"; only {parsed_all} of {len(samples)} samples parsed: no majority, "
                       "not passed")
        details = {"samples": samples, "judge_text": [s["text"] for s in samples],
                   "unparseable": sum(s["score"] is None for s in used),
                   "components": {self.name: score}}
        if not majority:
            return Verdict.unscored(reason, "judge_backend", score, **details)
        return Verdict(score, majority and score >= self.pass_threshold, reason, details)

    def score_batch(
        self, responses: Sequence[str], tasks: Sequence[Mapping[str, Any]] | Mapping[str, Any]
    ) -> list[Verdict]:
        """Score many responses; ``k`` backend calls in all (one per sample index)."""
        task_list = [tasks] * len(responses) if isinstance(tasks, Mapping) else list(tasks)
        try:
            texts = self._sample_texts([self.messages(r, t) for r, t in zip(responses, task_list,
                                                                            strict=True)])
        except _BackendFailed as failure:
            return [failed_verdict(str(failure), self.name) for _ in responses]
        return [self.vote([text for text, _ in outputs], r, task, [c for _, c in outputs])
                for outputs, r, task in zip(texts, responses, task_list, strict=True)]

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        return self.score_batch([response], [task])[0]
