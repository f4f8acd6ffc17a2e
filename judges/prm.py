"""Process reward: one score per reasoning step, from a model, Monte-Carlo rollouts or rules.

Every process judge here is an ordinary judge ``(response, task) -> Verdict`` whose
``steps`` holds one score in ``[0, 1]`` per step, aligned with ``details["spans"]`` (character
offsets of each step in the response), and whose ``score`` aggregates them (``min`` -- the
common choice --, ``product`` as in "Let's Verify Step by Step", ``last`` or ``mean``):

* :class:`ModelPRM` -- a causal LM scores each step at a step tag: the steps are joined with
  ``step_tag`` after each one and the step score is ``softmax(logit[good], logit[bad])[good]``
  at the tag's last token (Math-Shepherd: tag ``ки``, tokens ``+``/``-``; Qwen2.5-Math-PRM
  uses ``<extra_0>`` with a 2-class head, which a causal-LM stand-in emulates with two
  tokens). The tokens are configurable; with SmolLM2 it is a mechanical stand-in, not a PRM.
* :class:`MonteCarloPRM` -- Math-Shepherd estimation: from each step prefix a policy completes
  the solution ``n`` times; a verifier judges each completion; the step value is the fraction
  correct (``"soft"``) or whether any is correct (``"hard"``). The last step is the response's
  own answer: it is judged by verifying the response itself, never a continuation of it (a
  continuation that "fixes" a wrong answer must not label a wrong response correct), and the
  verdict passes only if that answer is right.
* :func:`rule_step_judge` -- ``judges.math.check_steps`` through the same interface.

Outcome, the same rule for every judge here that knows the answer (a gold, a ``verifier``):
the **last step stands for the response's own final answer** -- its step score is at most the
outcome (so ``steps``, which process-reward trainers use as rewards, carry a wrong answer as a
0 step) -- and ``score = outcome_weight * outcome + (1 - outcome_weight) * aggregate``; it
passes only if the answer is right. Every right answer therefore scores at least
``outcome_weight`` and every wrong one less than ``1 - outcome_weight``; the weight is at least
0.5 (enforced), so no padding of steps lifts a wrong answer to a right one's reward, and
hard-to-continue steps never sink a right answer below a wrong one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from judges.llm.base import ChatModel, SamplingParams
from judges.llmjudge.parsing import task_prompt
from judges.verdict import Verdict

__all__ = ["split_into_steps", "aggregate_steps", "with_outcome", "ModelPRM", "MonteCarloPRM",
           "rule_step_judge"]

JudgeFn = Callable[[str, Mapping[str, Any]], Verdict]
AGGREGATES = ("min", "product", "last", "mean")
QWEN_PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


def split_into_steps(text: str, mode: str = "auto", separator: str | None = None
                     ) -> list[tuple[int, int]]:
    """Step spans ``(start, end)``: by a custom ``separator`` string, or by ``mode`` (``"auto"``,
    ``"steps"`` for "Step k:" markers, ``"lines"``, ``"paragraphs"``, ``"sentences"``; see
    ``judges.math.split_steps``)."""
    if separator is None:
        from judges.math.steps import split_steps

        return split_steps(text, mode)
    if not separator:
        raise ValueError("separator must be non-empty")
    spans, start = [], 0
    for m in [*re.finditer(re.escape(separator), text), None]:
        end = m.start() if m else len(text)
        seg = text[start:end]
        if seg.strip():
            lead = len(seg) - len(seg.lstrip())
            spans.append((start + lead, start + len(seg.rstrip())))
        if m:
            start = m.end()
    return spans


def aggregate_steps(values: Sequence[float], how: str = "min") -> float:
    """One score from step scores: ``min``, ``product``, ``last`` or ``mean`` (empty -> 0)."""
    if how not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}")
    if not values:
        return 0.0
    if how == "min":
        return min(values)
    if how == "product":
        return math.prod(values)
    if how == "last":
        return values[-1]
    return sum(values) / len(values)


def _verdict(values: list[float], spans: list[tuple[int, int]], how: str, threshold: float,
             name: str, **details: Any) -> Verdict:
    if not spans:
        return Verdict.fail("no steps found in the response", spans=[], components={name: 0.0})
    score = aggregate_steps(values, how)
    return Verdict(score, score >= threshold, f"{len(spans)} steps, {how} {score:.3f}",
                   {"spans": spans, "aggregate": how, "components": {name: score}, **details},
                   steps=values)


def with_outcome(verdict: Verdict, outcome: Verdict, outcome_weight: float, name: str,
                 how: str) -> Verdict:
    """A process verdict joined with the response's own outcome (see the module docstring):
    the last step is capped at the outcome score, the steps are re-aggregated with ``how``, and
    ``score = w * outcome + (1 - w) * aggregate``; it passes only when the outcome passes."""
    if not verdict.steps:
        return verdict
    steps = [*verdict.steps[:-1], min(verdict.steps[-1], outcome.score)]
    process = aggregate_steps(steps, how)
    score = outcome_weight * outcome.score + (1.0 - outcome_weight) * process
    details = dict(verdict.details)
    details.update(process_score=process, outcome_score=outcome.score,
                   components={**details.get("components", {}), name: score})
    reason = verdict.reason
    if outcome.details.get("unscored"):  # the outcome could not be judged: a fault, not a 0
        details.update(unscored=True, cause=f"outcome verifier: {outcome.reason}")
        reason += f"; unscored: the outcome verifier failed ({outcome.reason})"
        return Verdict(score, False, reason, details, steps, status="unscored",
                       cause=outcome.cause)
    elif not outcome.passed:
        reason += f"; the response's own final answer is wrong ({outcome.reason})"
    return Verdict(score, verdict.passed and outcome.passed, reason, details, steps)


class ModelPRM:
    """Per-step positive-class probability at step tags, from a local causal LM.

    Args:
        model / tokenizer: a ``transformers`` causal LM and its tokenizer (or use ``from_chat``).
        step_tag: text appended after every step; the score is read at its last token.
        good_token / bad_token: the two tokens compared (each must be one token).
        aggregate: ``min``, ``product``, ``last`` or ``mean``.
        split / separator: how the response is cut into steps (``split_into_steps``).
        system_prompt: system message before the question (Qwen2.5-Math-PRM's by default).
        verifier: optional judge of the whole response against the task (e.g. a
            ``verify_math`` wrapper): the outcome then counts as in the module docstring.
            Without it the score is the model's alone and a wrong answer can pass.
        outcome_weight: the outcome's share of the score when a ``verifier`` is given.
    """

    def __init__(self, model: Any, tokenizer: Any, step_tag: str = "\n\n", good_token: str = "+",
                 bad_token: str = "-", aggregate: str = "min", split: str = "auto",
                 separator: str | None = None, system_prompt: str = QWEN_PRM_SYSTEM,
                 pass_threshold: float = 0.5, name: str = "prm",
                 verifier: JudgeFn | None = None, outcome_weight: float = 0.5) -> None:
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}")
        self.verifier, self.outcome_weight = verifier, _weight(outcome_weight)
        self.model, self.tokenizer = model, tokenizer
        self.tag_ids = tokenizer(step_tag, add_special_tokens=False)["input_ids"]
        if not self.tag_ids:
            raise ValueError("step_tag tokenizes to nothing")
        self.token_ids = [self._single(good_token), self._single(bad_token)]
        self.aggregate, self.split, self.separator = aggregate, split, separator
        self.system_prompt, self.pass_threshold, self.name = system_prompt, pass_threshold, name

    def _single(self, token: str) -> int:
        ids = self.tokenizer(token, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"{token!r} is {len(ids)} tokens for this tokenizer; need one")
        return ids[0]

    @classmethod
    def from_chat(cls, chat: Any, **kwargs: Any) -> ModelPRM:
        """Reuse a ``TransformersChat``'s model and tokenizer (no second copy is loaded)."""
        return cls(chat.model, chat.tokenizer, **kwargs)

    def step_probabilities(self, question: str, steps: Sequence[str]) -> list[float]:
        """``P(good)`` at the tag after each step, from one forward pass."""
        from judges.llm.scoring import prompt_ids, tagged_position_logits

        conv = [{"role": "system", "content": self.system_prompt},
                {"role": "user", "content": question}]
        ids = prompt_ids(self.tokenizer, conv)
        positions = []
        for step in steps:
            ids += self.tokenizer(step, add_special_tokens=False)["input_ids"] + self.tag_ids
            positions.append(len(ids) - 1)
        logits = tagged_position_logits(self.model, ids, positions, self.token_ids)
        return [1.0 / (1.0 + math.exp(bad - good)) for good, bad in logits]

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        spans = split_into_steps(response, self.split, self.separator)
        values = self.step_probabilities(task_prompt(task), [response[a:b] for a, b in spans]) \
            if spans else []
        verdict = _verdict(values, spans, self.aggregate, self.pass_threshold, self.name)
        if self.verifier is None:
            return verdict
        return with_outcome(verdict, self.verifier(response, task), self.outcome_weight,
                            self.name, self.aggregate)


class MonteCarloPRM:
    """Math-Shepherd step values: complete from each step prefix ``n`` times and verify.

    Args:
        policy: the chat model that completes solutions.
        verifier: judge of a completed solution against the task (e.g. a ``verify_math``
            wrapper); ``passed`` counts as correct.
        n: completions per step.
        mode: ``"soft"`` (fraction correct) or ``"hard"`` (1 if any is correct).
        sampling: completion sampling (temperature 0.8, seeded, 128 tokens by default).
        outcome_weight: the outcome's share of the score (module docstring): a right answer
            scores at least ``outcome_weight``, a wrong one at most ``(1 - outcome_weight) *
            aggregate`` and never passes.
    """

    def __init__(self, policy: ChatModel, verifier: JudgeFn, n: int = 4, mode: str = "soft",
                 sampling: SamplingParams | None = None, aggregate: str = "min",
                 split: str = "auto", separator: str | None = None,
                 pass_threshold: float = 0.5, name: str = "mc_prm",
                 outcome_weight: float = 0.5) -> None:
        if mode not in ("soft", "hard"):
            raise ValueError("mode must be 'soft' or 'hard'")
        self.outcome_weight = _weight(outcome_weight)
        if n < 1 or aggregate not in AGGREGATES:
            raise ValueError(f"need n >= 1 and aggregate in {AGGREGATES}")
        self.policy, self.verifier, self.n, self.mode = policy, verifier, n, mode
        self.sampling = sampling or SamplingParams(temperature=0.8, max_new_tokens=128, seed=0)
        self.aggregate, self.split, self.separator = aggregate, split, separator
        self.pass_threshold, self.name = pass_threshold, name

    def continuation_prompt(self, question: str, prefix: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": (
            f"{question}\n\nHere is the beginning of a solution:\n{prefix}\n\n"
            "Continue this solution from where it stops (do not repeat it) and finish with "
            "the final answer in \\boxed{}.")}]

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        spans = split_into_steps(response, self.split, self.separator)
        if not spans:
            return _verdict([], spans, self.aggregate, self.pass_threshold, self.name)
        question = task_prompt(task)
        inner = spans[:-1]  # the last step is the response's own final answer
        convs = [self.continuation_prompt(question, response[:end])
                 for _, end in inner for _ in range(self.n)]
        completions = self.policy.generate(convs, self.sampling) if convs else []
        values, rollouts = [], []
        for k, (_, end) in enumerate(inner):
            chunk = completions[k * self.n : (k + 1) * self.n]
            correct = [self.verifier(response[:end] + "\n" + c, task).passed for c in chunk]
            values.append(sum(correct) / self.n if self.mode == "soft" else float(any(correct)))
            rollouts.append({"completions": chunk, "correct": correct})
        final = self.verifier(response, task)
        values.append(float(final.passed))
        rollouts.append({"completions": [], "correct": [final.passed], "final_answer": True,
                         "reason": final.reason})
        verdict = _verdict(values, spans, self.aggregate, self.pass_threshold, self.name,
                           rollouts=rollouts, mode=self.mode)
        # Steps that continuations could finish do not make a wrong answer right (under "mean",
        # n fixable steps and a wrong answer scored n/(n+1)); steps they could not finish do
        # not make a right answer score below a wrong one.
        return with_outcome(verdict, final, self.outcome_weight, self.name, self.aggregate)


def _weight(outcome_weight: float) -> float:
    """At least one half: below it, steps could lift a wrong answer over a right one."""
    if not 0.5 <= outcome_weight <= 1.0:
        raise ValueError(f"outcome_weight must be in [0.5, 1] (the answer must outweigh the "
                         f"steps), got {outcome_weight}")
    return float(outcome_weight)


def rule_step_judge(gold_key: str = "answer", aggregate: str = "min", **check_opts: Any
                    ) -> JudgeFn:
    """``judges.math.check_steps`` as a process judge (steps aligned with ``details["spans"]``),
    its step scores re-aggregated with ``aggregate``.

    With a gold answer in the task the outcome counts as in the module docstring (weight 0.5
    unless ``outcome_weight`` is given): the last step is capped at the outcome, so
    correct-looking steps cannot carry a wrong answer to a right answer's reward, nor a wrong
    answer's ``steps`` to a right one's step rewards. Without a gold the score is the step
    aggregate alone.
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}")
    outcome_weight = _weight(float(check_opts.get("outcome_weight", 0.5)))

    def judge(response: str, task: Mapping[str, Any]) -> Verdict:
        from judges.math import check_steps

        gold = task.get(gold_key)
        verdict = check_steps(response, None if gold is None else str(gold), **check_opts)
        if not verdict.steps:
            return verdict
        score = aggregate_steps(verdict.steps, aggregate)
        verdict.details.update(aggregate=aggregate, components={"rule_steps": score})
        outcome = verdict.details.get("outcome")
        if outcome is None:
            return Verdict(score, verdict.passed, verdict.reason, verdict.details, verdict.steps)
        process = Verdict(score, verdict.passed, verdict.reason, verdict.details, verdict.steps)
        judged = Verdict(outcome["score"], outcome["passed"], outcome.get("reason", ""),
                         dict(outcome.get("details") or {}))
        return with_outcome(process, judged, outcome_weight, "rule_steps", aggregate)

    return judge
