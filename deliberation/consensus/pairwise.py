"""Bradley-Terry strengths from pairwise comparisons ("i beat j"), e.g. peer rankings of answers.

Fortytwo (2025) aggregates pairwise peer judgements of candidate answers this way and reports it
beats majority voting.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import connected_components


@dataclass(frozen=True)
class BradleyTerryResult:
    """``strengths``: pi_i, normalised to sum to 1; ``ranking``: options by strength, strongest
    first (ties in option order); ``iterations`` run; ``converged`` when the largest change of
    pi fell below ``tol`` before ``max_iter``."""

    strengths: dict[Hashable, float]
    ranking: tuple[Hashable, ...]
    iterations: int
    converged: bool

    def probability(self, i: Hashable, j: Hashable) -> float:
        """P(i beats j) = pi_i / (pi_i + pi_j)."""
        return self.strengths[i] / (self.strengths[i] + self.strengths[j])


def win_matrix(
    comparisons: Sequence[tuple[Hashable, Hashable]],
    options: Sequence[Hashable] | None = None,
    counts: Sequence[float] | None = None,
) -> tuple[np.ndarray, tuple[Hashable, ...]]:
    """w[i, j] = number of times option i beat option j, from (winner, loser) pairs."""
    if counts is not None and len(counts) != len(comparisons):
        raise ValueError("counts must pair up with comparisons")
    opts: list[Hashable] = list(options) if options is not None else []
    index = {o: k for k, o in enumerate(opts)}
    pairs = []
    for winner, loser in comparisons:
        if winner == loser:
            raise ValueError(f"an option cannot be compared with itself ({winner!r})")
        for o in (winner, loser):
            if o not in index:
                if options is not None:
                    raise ValueError(f"{o!r} is not one of the options")
                index[o] = len(opts)
                opts.append(o)
        pairs.append((index[winner], index[loser]))
    w = np.zeros((len(opts), len(opts)))
    c = np.ones(len(pairs)) if counts is None else np.asarray(counts, dtype=float)
    if pairs:
        a = np.asarray(pairs)
        np.add.at(w, (a[:, 0], a[:, 1]), c)
    return w, tuple(opts)


def bradley_terry(
    comparisons: Sequence[tuple[Hashable, Hashable]],
    options: Sequence[Hashable] | None = None,
    counts: Sequence[float] | None = None,
    pseudocount: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> BradleyTerryResult:
    """Maximum-likelihood Bradley-Terry strengths, P(i beats j) = pi_i / (pi_i + pi_j)
    (Bradley & Terry 1952), fitted with the MM algorithm of Hunter 2004 (Ann. Stat. 32(1), eq. 3):

        pi_i <- W_i / sum_{j != i} n_ij / (pi_i + pi_j),   then pi <- pi / sum(pi),

    W_i = wins of i, n_ij = comparisons between i and j. The MLE exists only when the "beats"
    graph is strongly connected (Hunter's Assumption 1: in every split of the options, someone on
    each side beats someone on the other); otherwise ``ValueError``, unless ``pseudocount`` > 0 adds
    that many virtual wins to every ordered pair (a symmetric prior that shrinks towards equal
    strengths and always makes the MLE exist).
    """
    w, opts = win_matrix(comparisons, options, counts)
    m = len(opts)
    if m == 0:
        return BradleyTerryResult({}, (), 0, True)
    if pseudocount < 0:
        raise ValueError("pseudocount must be non-negative")
    if pseudocount > 0:
        w = w + pseudocount * (1.0 - np.eye(m))
    if m > 1:
        n_comp, _ = connected_components(w > 0, directed=True, connection="strong")
        if n_comp > 1:
            raise ValueError(
                "the comparison graph is not strongly connected (some option never wins or never "
                "loses against part of the others), so the Bradley-Terry MLE does not exist; "
                "pass pseudocount > 0"
            )
    wins = w.sum(axis=1)
    n = w + w.T
    pi = np.full(m, 1.0 / m)
    converged = m == 1
    it = 0
    while not converged and it < max_iter:
        it += 1
        denom = (n / (pi[:, None] + pi[None, :])).sum(axis=1)
        new = wins / denom
        new /= new.sum()
        converged = bool(np.max(np.abs(new - pi)) < tol)
        pi = new
    order = sorted(range(m), key=lambda k: (-pi[k], k))
    return BradleyTerryResult(
        strengths={o: float(p) for o, p in zip(opts, pi, strict=True)},
        ranking=tuple(opts[k] for k in order),
        iterations=it,
        converged=converged,
    )
