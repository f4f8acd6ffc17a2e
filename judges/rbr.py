"""Rule-based rewards (RBR, Mu et al. 2024): propositions graded as probabilities, rules per
response class, and a linear reward fitted so that reward model + RBR ranks ideal completions
first.

* A **proposition** is a yes/no fact about a response ("refuses", "apologizes", "is
  judgmental"). :class:`PropositionGrader` asks a judge model each one and reads ``P(yes)``
  from token probabilities (one backend call per response for all propositions). Any callable
  ``(response, task) -> {name: probability}`` can stand in for it (rule-based propositions).
* **Rules** map a response class (``task[class_key]``, e.g. ``"hard_refuse"``, ``"comply"``) to
  the desired value of some propositions: ``{"comply": {"refuses": False}, ...}``.
* **Features** for a response of class ``c``: for each proposition, the probability that it has
  its desired value under ``c`` (0 when ``c`` says nothing about it), plus the probability that
  every rule holds (their product), plus a constant 1.
* The RBR value is ``w · f``. Default weights put everything on "every rule holds".
* **The paper's combination**: the reward for RL is the total ``R_rm + w · f`` of a reward model
  (``R_rm``, e.g. a helpful-only RM, held fixed) and the RBR value: :meth:`RuleBasedReward.plus`
  is that judge (:class:`TotalReward`; its score is ``σ(R_rm + w · f)``, which orders responses
  exactly as the total, kept in ``details["components"]["total"]``).
* **The paper's fit**: :meth:`RuleBasedReward.fit` takes completions labelled ideal or not per
  prompt, holds the reward model's scores fixed and fits ``w`` to the ranking hinge loss of the
  *total* over the pairs (ideal, worse completion of the same prompt)
  (:func:`judges.rbr_fit.fit_ranking_weights`). Fitting ``w`` alone to pointwise targets, blind
  to the reward model it is added to, misorders pairs once the two are summed.
* Used alone as a judge, the RBR's score is ``clip(w · f, 0, 1)`` (``"linear"``) or
  ``sigmoid(w · f)`` (``"logistic"``), ``details["rbr_value"]`` the value ``w · f``.

A grader failure (the judge backend is down) is a failing verdict with the reason
(``raise_on_error=True`` raises); the response is framed for the grader the way every LLM judge
frames it (``judges.llmjudge.framing``), so it cannot close its block or fake a turn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from judges.rbr_fit import RankingFit, fit_ranking_weights
from judges.verdict import Verdict

__all__ = ["Proposition", "PropositionGrader", "RuleBasedReward", "TotalReward"]

JudgeFn = Callable[[str, Mapping[str, Any]], Verdict]

Grader = Callable[[str, Mapping[str, Any]], Mapping[str, float | None]]


@dataclass(frozen=True)
class Proposition:
    """A named yes/no question about a response."""

    name: str
    question: str


class PropositionGrader:
    """``P(yes)`` for every proposition, from a backend with ``choice_logprobs``."""

    def __init__(self, model: Any, propositions: Sequence[Proposition]) -> None:
        from judges.llmjudge.constraint import YesNoJudge

        if len({p.name for p in propositions}) != len(propositions):
            raise ValueError("proposition names must be unique")
        self.propositions = list(propositions)
        self._judges = [YesNoJudge(model, p.question, name=p.name) for p in propositions]
        self.model = model

    def __call__(self, response: str, task: Mapping[str, Any]) -> dict[str, float | None]:
        from judges.llmjudge.constraint import yes_probability

        convs = [j.messages(response, task) for j in self._judges]
        rows = self.model.choice_logprobs(convs, ["Yes", "No"])
        out = {}
        for p, row in zip(self.propositions, rows, strict=True):
            # None: the model gave neither answer a probability (a fault, not a coin flip)
            out[p.name] = yes_probability(row["Yes"], row["No"])
        return out


class RuleBasedReward:
    """Linear reward over rule features (see the module docstring).

    Args:
        grader: ``(response, task) -> {proposition: P(true)}``.
        rules: ``{response_class: {proposition: desired bool}}``.
        class_key: task key naming the response class.
        weights: one per feature (``feature_names``); default: all on ``all_rules``.
        link: ``"linear"`` (clipped) or ``"logistic"``.
    """

    def __init__(self, grader: Grader, rules: Mapping[str, Mapping[str, bool]],
                 class_key: str = "response_class", weights: Sequence[float] | None = None,
                 link: str = "linear", pass_threshold: float = 0.5, name: str = "rbr",
                 raise_on_error: bool = False) -> None:
        if link not in ("linear", "logistic"):
            raise ValueError("link must be 'linear' or 'logistic'")
        self.grader = grader
        self.rules = {c: dict(r) for c, r in rules.items()}
        self.propositions = sorted({p for r in self.rules.values() for p in r})
        self.feature_names = [*self.propositions, "all_rules", "bias"]
        self.class_key, self.link = class_key, link
        self.pass_threshold, self.name = pass_threshold, name
        self.raise_on_error = raise_on_error
        if weights is None:
            w = np.zeros(len(self.feature_names))
            w[-2] = 1.0
            self.weights = w
        else:
            self.weights = np.asarray(weights, dtype=float)
            if self.weights.shape != (len(self.feature_names),):
                raise ValueError(f"need {len(self.feature_names)} weights: {self.feature_names}")

    def features(self, probs: Mapping[str, float], response_class: str) -> np.ndarray:
        """Feature vector for proposition probabilities under a response class."""
        if response_class not in self.rules:
            raise ValueError(f"unknown response class {response_class!r}; "
                             f"known: {sorted(self.rules)}")
        wanted = self.rules[response_class]
        f = np.zeros(len(self.feature_names))
        all_rules = 1.0
        for i, name in enumerate(self.propositions):
            if name in wanted:
                p = float(probs[name])
                f[i] = p if wanted[name] else 1.0 - p
                all_rules *= f[i]
        f[-2], f[-1] = all_rules, 1.0
        return f

    def reward_from_features(self, f: np.ndarray) -> float:
        z = float(np.dot(self.weights, f))
        if self.link == "logistic":
            return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))
        return min(1.0, max(0.0, z))

    def fit(self, examples: Sequence[tuple[str, Mapping[str, Any], bool]],
            reward_model: JudgeFn | Sequence[float], group_key: str = "prompt",
            **kwargs: Any) -> RankingFit:
        """Fit the weights as the paper does: ``examples`` are ``(response, task, ideal)``
        completions, grouped by prompt (``task[group_key]``); ``reward_model`` is the judge
        whose score the RBR is added to (or its scores, one per example), held fixed. The
        weights minimise the hinge loss of ``R_rm + w · f`` over the pairs (ideal, worse
        completion of the same prompt); ``kwargs`` go to
        :func:`judges.rbr_fit.fit_ranking_weights` (``margin``, ``l2``, ``steps``, ``lr``).
        Returns the fit (weights, loss, per-pair gaps)."""
        if callable(reward_model):
            verdicts = [reward_model(r, t) for r, t, _ in examples]
            faults = [i for i, v in enumerate(verdicts) if v.details.get("unscored")]
            if faults:
                raise ValueError(f"the reward model could not score examples {faults[:5]}; "
                                 f"a fit on faults would be a fit on made-up scores")
            rm_scores = [v.score for v in verdicts]
        else:
            rm_scores = [float(s) for s in reward_model]
        if len(rm_scores) != len(examples):
            raise ValueError("need one reward-model score per example")
        missing = [i for i, (_, t, _) in enumerate(examples) if group_key not in t]
        if missing:
            raise ValueError(f"examples {missing[:5]} have no {group_key!r} to group them by")
        graded = [self.grader(r, t) for r, t, _ in examples]
        unread = [i for i, g in enumerate(graded) if any(v is None for v in g.values())]
        if unread:
            raise ValueError(f"the grader could not read examples {unread[:5]}; a fit on faults "
                             "would be a fit on made-up probabilities")
        x = np.stack([self.features(g, t[self.class_key])
                      for g, (_, t, _) in zip(graded, examples, strict=True)])
        result = fit_ranking_weights(x, rm_scores, [str(t[group_key]) for _, t, _ in examples],
                                     [bool(good) for _, _, good in examples], **kwargs)
        self.weights = result.weights
        return result

    def plus(self, reward_model: JudgeFn, name: str = "total") -> TotalReward:
        """The paper's reward for RL: ``reward_model`` + this RBR (see :class:`TotalReward`)."""
        return TotalReward(reward_model, self, name=name)

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        cls = task.get(self.class_key)
        if cls not in self.rules:
            return Verdict.fail(f"task has no known {self.class_key!r} (got {cls!r})",
                                components={self.name: 0.0})
        from judges.llmjudge.backend_call import call_backend, failed_verdict

        graded, error = call_backend(self.grader, response, task,
                                     raise_on_error=self.raise_on_error)
        if error is not None:
            return failed_verdict(error, self.name)
        probs = dict(graded)
        unread = sorted(n for n in self.rules[cls] if probs.get(n) is None)
        if unread:  # the grader could not read these propositions: no reward from a guess
            return Verdict.unscored(f"unscored: the grader gave no Yes/No probability for "
                                    f"{', '.join(unread)}", "judge_backend",
                                    propositions=probs, components={self.name: 0.0})
        f = self.features(probs, cls)
        score = self.reward_from_features(f)
        return Verdict(score, score >= self.pass_threshold, f"RBR reward {score:.3f} for {cls}",
                       {"propositions": probs,
                        "features": dict(zip(self.feature_names, f.tolist(), strict=True)),
                        "rbr_value": float(np.dot(self.weights, f)),
                        "components": {self.name: score}})


class TotalReward:
    """``R_tot = R_rm + w · f``: a reward model's score plus a rule-based reward's value (Mu et
    al. 2024). The score is ``σ(R_tot)`` (strictly increasing, so it ranks as the total does;
    ``details["components"]`` has ``rm``, ``rbr`` (``w · f``) and ``total``). Only the reward
    model's score is read, never its ``passed``. A judge that could not judge (the reward
    model's or the grader's ``details["unscored"]``) makes the total unscored (a fault: score
    0, not passed); an RBR that refuses the task (unknown response class) fails it with the
    reason. ``passed``: ``score >= pass_threshold`` (``R_tot >= 0`` by default).
    """

    def __init__(self, reward_model: JudgeFn, rbr: RuleBasedReward, name: str = "total",
                 pass_threshold: float = 0.5) -> None:
        self.reward_model, self.rbr = reward_model, rbr
        self.name, self.pass_threshold = name, pass_threshold

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        rm, rbr = self.reward_model(response, task), self.rbr(response, task)
        parts = {"rm": rm.to_dict(), "rbr": rbr.to_dict()}
        faults = [n for n, v in (("rm", rm), ("rbr", rbr)) if v.details.get("unscored")]
        if faults:
            reasons = "; ".join(f"{n}: {parts[n]['reason']}" for n in faults)
            return Verdict(0.0, False, f"not scored ({reasons})",
                           {"unscored": True, "faults": faults, "parts": parts},
                           status="unscored", cause=(rm if faults[0] == "rm" else rbr).cause)
        if "rbr_value" not in rbr.details:
            return Verdict(0.0, False, f"rbr: {rbr.reason}", {"parts": parts})
        value = float(rbr.details["rbr_value"])
        total = rm.score + value
        score = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, total))))
        return Verdict(score, score >= self.pass_threshold,
                       f"total reward {total:.3f} = rm {rm.score:.3f} + rbr {value:.3f}",
                       {"components": {"rm": rm.score, "rbr": value, "total": total},
                        "parts": parts})
