"""Fitting Rule-Based Reward weights the way Mu et al. (2024) fit them: by ranking.

The reward used for RL is the total ``R_tot(p, c) = R_rm(p, c) + w · φ(p, c)``: the reward
model's score, held fixed, plus the rule-based reward (a linear function of the rule features
``φ``). For every prompt ``p`` the labelled completions fall into an *ideal* one(s) and worse
ones (less good, unacceptable); the weights minimise the hinge loss over the pairs
``(ideal a⁺, worse a⁻)`` of the same prompt::

    L(w) = mean over pairs of  max(0, margin − (R_tot(p, a⁺) − R_tot(p, a⁻)))   (+ l2/2 ‖w‖²)

so ``w`` is chosen for what the *sum* with the reward model ranks, not for pointwise targets.
``L`` is convex and piecewise linear; :func:`fit_ranking_weights` minimises it by full-batch
subgradient steps with Adam's per-coordinate scaling and a decaying step, keeps the best
iterate, and stops as soon as every pair clears the margin (loss 0 -- the minimum).

A certificate comes with the fit: if the mean hinge loss (without ``l2``) is below
``1 / pairs``, no pair is misordered (a misordered pair alone costs at least ``margin``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["RankingFit", "ranking_pairs", "fit_ranking_weights"]


@dataclass(frozen=True)
class RankingFit:
    """The fitted weights and what they achieve on the training pairs.

    ``loss``: the mean hinge loss (without ``l2``); ``gaps``: ``R_tot(a⁺) − R_tot(a⁻)`` per
    pair; ``misordered``: pairs with a gap ``<= 0``; ``pairs``: the ``(a⁺, a⁻)`` row indices.
    """

    weights: np.ndarray
    loss: float
    gaps: np.ndarray
    pairs: np.ndarray

    @property
    def misordered(self) -> int:
        return int((self.gaps <= 0).sum())


def ranking_pairs(groups: Sequence[object], ideal: Sequence[bool]) -> np.ndarray:
    """``(pairs, 2)`` row indices ``(ideal, worse)`` of the same group (prompt)."""
    if len(groups) != len(ideal):
        raise ValueError("groups and ideal need one entry per completion")
    rows: dict[object, tuple[list[int], list[int]]] = {}
    for i, (g, good) in enumerate(zip(groups, ideal, strict=True)):
        rows.setdefault(g, ([], []))[0 if good else 1].append(i)
    pairs = [(i, j) for best, worse in rows.values() for i in best for j in worse]
    return np.asarray(pairs, dtype=int).reshape(-1, 2)


def fit_ranking_weights(features: np.ndarray, rm_scores: Sequence[float],
                        groups: Sequence[object], ideal: Sequence[bool], margin: float = 1.0,
                        l2: float = 0.0, steps: int = 4000, lr: float = 0.1,
                        init: np.ndarray | None = None) -> RankingFit:
    """Minimise the ranking hinge loss of ``rm_scores + features @ w`` (see the module
    docstring). ``features``: ``(n, d)``; ``rm_scores``, ``groups`` (the prompt of each
    completion) and ``ideal`` (whether it is an ideal completion): ``(n,)``."""
    x = np.asarray(features, dtype=float)
    rm = np.asarray(rm_scores, dtype=float)
    if x.ndim != 2 or rm.shape != (x.shape[0],):
        raise ValueError("features must be (n, d) and rm_scores (n,)")
    if not (np.isfinite(x).all() and np.isfinite(rm).all()):
        raise ValueError("features and reward-model scores must be finite")
    if margin <= 0 or l2 < 0 or steps < 0 or lr <= 0:
        raise ValueError("need margin > 0, l2 >= 0, steps >= 0, lr > 0")
    pairs = ranking_pairs(groups, ideal)
    if not len(pairs):
        raise ValueError("no (ideal, worse) pair of the same prompt to rank")
    diff = x[pairs[:, 0]] - x[pairs[:, 1]]  # (m, d)
    rm_gap = rm[pairs[:, 0]] - rm[pairs[:, 1]]  # (m,), fixed
    w = np.zeros(x.shape[1]) if init is None else np.asarray(init, dtype=float).copy()

    def loss_of(v: np.ndarray) -> float:
        return float(np.maximum(0.0, margin - rm_gap - diff @ v).mean())

    best, best_obj = w.copy(), loss_of(w) + 0.5 * l2 * float(w @ w)
    m1, m2 = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, steps + 1):
        active = (margin - rm_gap - diff @ w) > 0
        if not active.any() and l2 == 0:
            best, best_obj = w.copy(), 0.0
            break
        grad = -(diff[active].sum(0)) / len(pairs) + l2 * w
        m1 = 0.9 * m1 + 0.1 * grad
        m2 = 0.999 * m2 + 0.001 * grad * grad
        step = lr / np.sqrt(t / 100.0 + 1.0)
        w = w - step * (m1 / (1 - 0.9**t)) / (np.sqrt(m2 / (1 - 0.999**t)) + 1e-12)
        obj = loss_of(w) + 0.5 * l2 * float(w @ w)
        if obj < best_obj:
            best, best_obj = w.copy(), obj
    gaps = rm_gap + diff @ best
    return RankingFit(weights=best, loss=loss_of(best), gaps=gaps, pairs=pairs)
