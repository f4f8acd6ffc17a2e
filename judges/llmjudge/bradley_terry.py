"""Bradley-Terry strengths from a win matrix, fitted by the MM algorithm (Hunter, 2004).

Model: ``P(i beats j) = p_i / (p_i + p_j)``. With ``W_i`` the wins of ``i`` and ``n_ij`` the
games between ``i`` and ``j``, the minorize-maximize update is

    p_i <- W_i / sum_{j != i} n_ij / (p_i + p_j)

followed by rescaling to geometric mean 1; it increases the likelihood monotonically and
converges to the maximum-likelihood strengths when the comparison graph is strongly connected.
A ``prior`` adds that many pseudo-wins in both directions of every pair (keeps an undefeated
or winless response finite). Ties count half a win to each side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["bradley_terry", "expected_win_rates"]


def bradley_terry(
    wins: Sequence[Sequence[float]] | np.ndarray,
    prior: float = 0.0,
    max_iter: int = 10_000,
    tol: float = 1e-12,
) -> np.ndarray:
    """Strengths ``p`` (geometric mean 1) for ``wins[i][j]`` = times ``i`` beat ``j``."""
    w = np.asarray(wins, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError("wins must be a square matrix")
    if (w < 0).any() or prior < 0:
        raise ValueError("wins and prior must be non-negative")
    n = w.shape[0]
    w = w.copy()
    np.fill_diagonal(w, 0.0)
    if prior:
        w = w + prior * (1.0 - np.eye(n))
    games = w + w.T
    total_wins = w.sum(axis=1)
    p = np.ones(n)
    for _ in range(max_iter):
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.where(denom > 0, total_wins / np.where(denom > 0, denom, 1.0), p)
        positive = new > 0
        if positive.any():
            new = new / np.exp(np.log(new[positive]).mean())
        if np.max(np.abs(new - p)) < tol:
            p = new
            break
        p = new
    return p


def expected_win_rates(strengths: Sequence[float] | np.ndarray) -> np.ndarray:
    """Per item, the mean of ``p_i / (p_i + p_j)`` over the others: a reward in ``[0, 1]``."""
    p = np.asarray(strengths, dtype=float)
    n = len(p)
    if n == 1:
        return np.array([0.5])
    total = p[:, None] + p[None, :]
    pairwise = np.divide(p[:, None], total, out=np.full((n, n), 0.5), where=total > 0)
    np.fill_diagonal(pairwise, 0.0)
    return pairwise.sum(axis=1) / (n - 1)
