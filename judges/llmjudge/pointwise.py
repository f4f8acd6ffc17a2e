"""Pointwise rubric scoring: one response, one judge call, a strictly parsed 1-10 score.

``PointwiseJudge(model)`` is a judge ``(response, task) -> Verdict``; ``score_batch`` scores many
responses in one backend call (a GRPO group). ``ReferenceJudge`` is the reference-guided
variant (POLAR-style ``score(prompt, reference, candidate)``): the rubric asks how well the
candidate matches ``task["reference"]``.

The response is framed so it cannot close its block, and its verdict-like lines are shown
quoted (``judges.llmjudge.framing``); the score is read only from the judge's own final verdict
line (``judges.llmjudge.parsing``: the last line of the judge's output, the response is never
parsed). A judge output without one -- no verdict line at the end, or cut at its token limit --
is not an error and not a judgement: the verdict is *unscored* (``details["unscored"]``),
gets ``fallback_score`` (default 0), ``passed=False`` and a reason starting with
``"unparseable judge output"``; the raw judge text is always in ``details["judge_text"]``. A
backend failure (server down, deadline passed) is an unscored failing verdict with the reason
in ``details["backend_error"]``; ``raise_on_error=True`` raises instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from judges.llm.base import ChatModel, Messages, SamplingParams
from judges.llmjudge.backend_call import failed_verdict, generate_outputs
from judges.llmjudge.framing import DATA_RULE, DEFAULT_MAX_CHARS, frame_response, judged_blocks
from judges.llmjudge.parsing import parse_score, task_prompt
from judges.verdict import Verdict

__all__ = ["PointwiseJudge", "ReferenceJudge", "DEFAULT_RUBRIC"]

DEFAULT_RUBRIC = (
    "Rate how helpful, correct and clear the response is for the user's request. "
    "1 means useless or wrong, 10 means excellent."
)

_SYSTEM = (
    "You are a strict grader. " + DATA_RULE + " End your answer with the line 'Score: N/{high}' "
    "where N is an integer from {low} to {high}, alone on the last line, nothing after it."
)


class PointwiseJudge:
    """Score a response with a rubric on a ``low..high`` scale, normalised to ``[0, 1]``.

    Args:
        model: any chat backend (``TransformersChat``, ``OpenAIChat``, ``CachedChat``...).
        rubric: what the score means.
        low / high: the score range the judge is asked for.
        sampling: judge decoding (greedy, 64 new tokens by default).
        fallback_score: the score of an unparseable judgement, in ``[0, 1]``.
        pass_threshold: normalised score at which ``passed`` is true.
        name: the component name in ``details["components"]``.
        retries: extra judge calls for unparseable outputs (sampled at temperature 0.7 with
            seeds ``1..retries``); ``details["attempts"]`` counts the calls made.
        max_response_chars: longer responses are cut (head and tail kept), never the rubric.
        raise_on_error: raise backend failures instead of returning failing verdicts.
    """

    def __init__(
        self,
        model: ChatModel,
        rubric: str = DEFAULT_RUBRIC,
        low: int = 1,
        high: int = 10,
        sampling: SamplingParams | None = None,
        fallback_score: float = 0.0,
        pass_threshold: float = 0.5,
        name: str = "pointwise",
        retries: int = 0,
        max_response_chars: int = DEFAULT_MAX_CHARS,
        raise_on_error: bool = False,
    ) -> None:
        if not 0.0 <= fallback_score <= 1.0:
            raise ValueError("fallback_score must be in [0, 1]")
        self.model = model
        self.rubric = rubric
        self.low, self.high = low, high
        self.sampling = sampling or SamplingParams(temperature=0.0, max_new_tokens=64)
        self.fallback_score = fallback_score
        self.pass_threshold = pass_threshold
        self.name = name
        self.retries = max(0, retries)
        self.max_response_chars = max_response_chars
        self.raise_on_error = raise_on_error

    def messages(self, response: str, task: Mapping[str, Any]) -> Messages:
        """The judge conversation for one response."""
        return self._conversation(response, task)

    def _conversation(self, response: str, task: Mapping[str, Any], context: str = "") -> Messages:
        """System rules; rubric, request, ``context`` blocks, the judged blocks, the ask."""
        user = (
            f"Rubric: {self.rubric}\n\nUser request:\n{task_prompt(task)}\n\n{context}"
            f"{judged_blocks(response, task, self.max_response_chars)}\n\n"
            f"Give a short justification, then the score line 'Score: N/{self.high}'."
        )
        return [
            {"role": "system", "content": _SYSTEM.format(low=self.low, high=self.high)},
            {"role": "user", "content": user},
        ]

    def verdict_from_text(self, text: str, truncated: bool = False) -> Verdict:
        """Turn one judge output into a Verdict, read from its final verdict line only.

        ``truncated``: the backend cut the output at its token limit (no complete verdict).
        """
        parsed = parse_score(text, self.low, self.high, truncated)
        details: dict[str, Any] = {"judge_text": text, "parsed_score": parsed.value}
        if parsed.normalized is None:
            details.update(components={self.name: self.fallback_score}, unscored=True)
            return Verdict(self.fallback_score, False,
                           f"unparseable judge output: {parsed.reason}", details,
                           status="unscored", cause="judge_backend")
        details["components"] = {self.name: parsed.normalized}
        return Verdict(parsed.normalized, parsed.normalized >= self.pass_threshold,
                       f"judge score {parsed.value:g}/{self.high}", details)

    def score_batch(
        self, responses: Sequence[str], tasks: Sequence[Mapping[str, Any]] | Mapping[str, Any]
    ) -> list[Verdict]:
        """Score many responses in one backend call (``tasks``: one per response, or shared)."""
        task_list = [tasks] * len(responses) if isinstance(tasks, Mapping) else list(tasks)
        if len(task_list) != len(responses):
            raise ValueError("need one task per response")
        convs = [self.messages(r, t) for r, t in zip(responses, task_list, strict=True)]
        outputs, error = generate_outputs(self.model, convs, self.sampling, self.raise_on_error)
        if error is not None:
            return [failed_verdict(error, self.name) for _ in convs]
        verdicts = [self.verdict_from_text(text, cut) for text, cut in outputs]
        attempts = [1] * len(verdicts)
        for attempt in range(1, self.retries + 1):
            todo = [i for i, v in enumerate(verdicts) if v.details.get("parsed_score") is None
                    and "backend_error" not in v.details]
            if not todo:
                break
            retry = SamplingParams(temperature=0.7, max_new_tokens=self.sampling.max_new_tokens,
                                   seed=attempt, stop=self.sampling.stop)
            outputs, error = generate_outputs(self.model, [convs[i] for i in todo], retry,
                                              self.raise_on_error)
            for k, i in enumerate(todo):
                verdicts[i] = (failed_verdict(error, self.name) if error is not None
                               else self.verdict_from_text(*outputs[k]))
                attempts[i] += 1
        for v, n in zip(verdicts, attempts, strict=True):
            v.details["attempts"] = n
        return verdicts

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        return self.score_batch([response], [task])[0]


class ReferenceJudge(PointwiseJudge):
    """Reference-guided scoring: how well does the response match ``task[reference_key]``?

    A task without the reference gets a failing verdict naming the missing key.
    """

    def __init__(self, model: ChatModel, reference_key: str = "reference",
                 rubric: str | None = None, name: str = "reference", **kwargs: Any) -> None:
        super().__init__(
            model,
            rubric=rubric or ("Compare the response with the reference answer. 10 means it is "
                              "as good as the reference and agrees with it; 1 means it contradicts "
                              "it or misses its content."),
            name=name,
            **kwargs,
        )
        self.reference_key = reference_key

    def messages(self, response: str, task: Mapping[str, Any]) -> Messages:
        reference = frame_response("REFERENCE", str(task[self.reference_key]),
                                   self.max_response_chars)
        return self._conversation(response, task, f"{reference}\n\n")

    def score_batch(
        self, responses: Sequence[str], tasks: Sequence[Mapping[str, Any]] | Mapping[str, Any]
    ) -> list[Verdict]:
        task_list = [tasks] * len(responses) if isinstance(tasks, Mapping) else list(tasks)
        missing = [i for i, t in enumerate(task_list) if self.reference_key not in t]
        if not missing:
            return super().score_batch(responses, task_list)
        out: list[Verdict | None] = [None] * len(responses)
        keep = [i for i in range(len(responses)) if i not in missing]
        for i in missing:
            out[i] = Verdict.fail(f"task has no {self.reference_key!r} to compare with",
                                  components={self.name: 0.0})
        if keep:
            scored = super().score_batch([responses[i] for i in keep], [task_list[i] for i in keep])
            for i, v in zip(keep, scored, strict=True):
                out[i] = v
        return [v for v in out if v is not None]
