"""Consensus measures and aggregation for numeric answers (estimates, ratings, scores).

Distances are normalised by the width of the answer scale: ``value_range=(lo, hi)`` when given
(e.g. (1, 7) for a Likert item), otherwise the observed max - min. Each measure lies in [0, 1],
1 meaning everyone gave the same number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _values(values: Sequence[float] | np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("values must be a non-empty 1-D sequence of numbers")
    if not np.isfinite(x).all():
        raise ValueError("values must be finite (drop missing answers first)")
    return x


def _width(x: np.ndarray, value_range: tuple[float, float] | None) -> float:
    if value_range is None:
        return float(x.max() - x.min())
    lo, hi = map(float, value_range)
    if hi <= lo:
        raise ValueError("value_range must be (lo, hi) with hi > lo")
    if x.min() < lo or x.max() > hi:
        raise ValueError("values fall outside value_range")
    return hi - lo


def consensus_degree(
    values: Sequence[float] | np.ndarray, value_range: tuple[float, float] | None = None
) -> float:
    """Average-distance consensus degree: CD = 1 - mean_{i<j} |x_i - x_j| / (hi - lo).

    The classical compensatory measure of consensus reaching processes: the mean of the pairwise
    similarities 1 - d(x_i, x_j) (Herrera-Viedma et al. 2014, "A review of soft consensus models in
    a fuzzy environment", Inf. Fusion 17). 1.0 with one value or zero width.
    """
    x = _values(values)
    width = _width(x, value_range)
    if x.size < 2 or width == 0:
        return 1.0
    i, j = np.triu_indices(x.size, k=1)
    return float(1.0 - np.abs(x[i] - x[j]).mean() / width)


def largest_disagreement(values: Sequence[float] | np.ndarray) -> tuple[int, int, float]:
    """The pair (i, j), i < j, with the largest |x_i - x_j|, and that distance (the first pair in
    index order when several tie): the argmin and argmax of the values."""
    x = _values(values)
    lo, hi = int(np.argmin(x)), int(np.argmax(x))
    return min(lo, hi), max(lo, hi), float(x[hi] - x[lo])


def mutual_consensus(
    values: Sequence[float] | np.ndarray, value_range: tuple[float, float] | None = None
) -> float:
    """Mutual consensus: MC = 1 - kappa(x) / (hi - lo), kappa(x) = max_{i<j} |x_i - x_j|.

    García-Zamora, Dutta & Martínez 2025, "Mutual consensus and its application in minimum cost
    consensus models" (arXiv:2511.01614): a non-compensatory measure set by the two participants
    who disagree most, so close agreement among the rest cannot hide one outlier. MC <= CD always.
    1.0 with one value or zero width; with the default (observed) range it is 0.0 whenever the
    values differ, so pass the scale's ``value_range`` to compare sessions.
    """
    x = _values(values)
    width = _width(x, value_range)
    if x.size < 2 or width == 0:
        return 1.0
    return float(1.0 - (x.max() - x.min()) / width)


def owa(values: Sequence[float] | np.ndarray, weights: Sequence[float] | np.ndarray) -> float:
    """Ordered weighted averaging (Yager 1988, IEEE Trans. SMC 18(1)): OWA(x) = sum_j w_j b_j,
    b_j the j-th largest of x. Weights are non-negative and sum to 1; (1, 0, ..., 0) gives the max,
    (0, ..., 0, 1) the min, (1/n, ..., 1/n) the mean."""
    x = _values(values)
    w = np.asarray(weights, dtype=float)
    if w.shape != x.shape:
        raise ValueError(f"need {x.size} weights, got {w.size}")
    if (w < 0).any() or not np.isclose(w.sum(), 1.0):
        raise ValueError("OWA weights must be non-negative and sum to 1")
    return float(np.sort(x)[::-1] @ w)


def rim_quantifier_weights(n: int, alpha: float) -> np.ndarray:
    """OWA weights from the RIM quantifier Q(r) = r^alpha (Yager 1996, "Quantifier guided
    aggregation using OWA operators", Int. J. Intell. Syst. 11): w_i = Q(i/n) - Q((i-1)/n).

    alpha = 1 gives the mean, alpha < 1 leans to the largest values ("at least one"-like, orness
    > 0.5), alpha > 1 to the smallest ("most"/"all"-like)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if alpha <= 0:
        raise ValueError("alpha must be positive")
    r = np.arange(n + 1) / n
    return np.diff(r**alpha)


def orness(weights: Sequence[float] | np.ndarray) -> float:
    """Yager's orness of OWA weights: orness(w) = sum_{i=1}^{n} (n - i) w_i / (n - 1).

    1 for the max, 0 for the min, 0.5 for the mean; 0.5 for a single weight by convention."""
    w = np.asarray(weights, dtype=float)
    n = w.size
    if n == 0:
        raise ValueError("weights must be non-empty")
    if n == 1:
        return 0.5
    return float(((n - 1 - np.arange(n)) * w).sum() / (n - 1))
