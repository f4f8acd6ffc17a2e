"""Rule-based rewards (RBR, Mu et al. 2024): propositions graded as probabilities, rules per
response class, and a linear reward fitted on a small labelled set.

* A **proposition** is a yes/no fact about a response ("refuses", "apologizes", "is
  judgmental"). :class:`PropositionGrader` asks a judge model each one and reads ``P(yes)``
  from token probabilities (one backend call per response for all propositions). Any callable
  ``(response, task) -> {name: probability}`` can stand in for it (rule-based propositions).
* **Rules** map a response class (``task[class_key]``, e.g. ``"hard_refuse"``, ``"comply"``) to
  the desired value of some propositions: ``{"comply": {"refuses": False}, ...}``.
* **Features** for a response of class ``c``: for each proposition, the probability that it has
  its desired value under ``c`` (0 when ``c`` says nothing about it), plus the probability that
  every rule holds (their product), plus a constant 1.
* The reward is ``clip(w · f, 0, 1)`` (``"linear"``) or ``sigmoid(w · f)`` (``"logistic"``).
  Default weights put everything on "every rule holds"; :meth:`RuleBasedReward.fit` fits ``w``
  by ridge least squares or logistic regression (numpy) on labelled examples. Combine the
  result with another reward through ``judges.combine.combine``.

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

from judges.verdict import Verdict

__all__ = ["Proposition", "PropositionGrader", "RuleBasedReward"]

Grader = Callable[[str, Mapping[str, Any]], Mapping[str, float]]


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

    def __call__(self, response: str, task: Mapping[str, Any]) -> dict[str, float]:
        from judges.llmjudge.constraint import yes_probability

        convs = [j.messages(response, task) for j in self._judges]
        rows = self.model.choice_logprobs(convs, ["Yes", "No"])
        out = {}
        for p, row in zip(self.propositions, rows, strict=True):
            prob = yes_probability(row["Yes"], row["No"])
            out[p.name] = 0.5 if prob is None else prob
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

    def fit_features(self, x: np.ndarray, y: np.ndarray, l2: float = 1e-3,
                     steps: int = 2000, lr: float = 0.5) -> np.ndarray:
        """Fit the weights to targets ``y`` in ``[0, 1]``: ridge least squares for ``linear``,
        logistic regression by gradient descent for ``logistic``. Returns the weights."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        if x.ndim != 2 or x.shape != (len(y), len(self.feature_names)):
            raise ValueError(f"x must be (n, {len(self.feature_names)}) with n = len(y)")
        if self.link == "linear":
            reg = l2 * np.eye(x.shape[1])
            self.weights = np.linalg.solve(x.T @ x + reg, x.T @ y)
        else:
            w = np.zeros(x.shape[1])
            for _ in range(steps):
                p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -60, 60)))
                w -= lr * (x.T @ (p - y) / len(y) + l2 * w)
            self.weights = w
        return self.weights

    def fit(self, examples: Sequence[tuple[str, Mapping[str, Any], float]], **kwargs: Any
            ) -> np.ndarray:
        """Grade ``(response, task, target)`` examples and fit the weights on them."""
        x = np.stack([self.features(self.grader(r, t), t[self.class_key]) for r, t, _ in examples])
        return self.fit_features(x, np.array([y for _, _, y in examples], float), **kwargs)

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
        f = self.features(probs, cls)
        score = self.reward_from_features(f)
        return Verdict(score, score >= self.pass_threshold, f"RBR reward {score:.3f} for {cls}",
                       {"propositions": probs,
                        "features": dict(zip(self.feature_names, f.tolist(), strict=True)),
                        "components": {self.name: score}})
