"""Rank aggregation over ranked ballots: Borda count, Schulze method, Kemeny median ranking.

A ballot is a sequence of options, best first, without repeats. It may be partial: options it
leaves out are ranked below every option it names and tied with each other. ``counts`` (optional)
gives how many voters cast each ballot. ``options`` fixes the option set and its order; otherwise
it is every option named on some ballot, in order of first appearance. That order is also the
order in which ties are listed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

Ballot = Sequence[Hashable]

MAX_KEMENY_OPTIONS = 8


@dataclass(frozen=True)
class RankingResult:
    """``ranking``: options best first (ties in option order); ``winner``: the unique best option
    or ``None`` when several tie for first, listed in ``tied``; ``scores``: the rule's score per
    option (Borda points, or Schulze's count of options that do not beat it); ``ranks``: the
    ranking with ties, option -> 0 for the best, options of equal score sharing a rank, with no
    gaps (the Habermas Machine's "social ranking with ties")."""

    ranking: tuple[Hashable, ...]
    winner: Hashable | None
    tied: tuple[Hashable, ...]
    scores: dict[Hashable, float]
    ranks: dict[Hashable, int] = field(default_factory=dict)


def _prepare(
    ballots: Sequence[Ballot], options: Sequence[Hashable] | None, counts: Sequence[float] | None
) -> tuple[list[Hashable], list[list[int]], np.ndarray]:
    if counts is not None and len(counts) != len(ballots):
        raise ValueError("counts must pair up with ballots")
    opts: list[Hashable] = list(options) if options is not None else []
    index = {o: i for i, o in enumerate(opts)}
    if len(index) != len(opts):
        raise ValueError("options must be distinct")
    coded: list[list[int]] = []
    for b in ballots:
        row = []
        for o in b:
            if o not in index:
                if options is not None:
                    raise ValueError(f"ballot names {o!r}, which is not one of the options")
                index[o] = len(opts)
                opts.append(o)
            row.append(index[o])
        if len(set(row)) != len(row):
            raise ValueError(f"ballot {list(b)!r} ranks an option twice")
        coded.append(row)
    w = np.ones(len(ballots)) if counts is None else np.asarray(counts, dtype=float)
    if (w < 0).any():
        raise ValueError("counts must be non-negative")
    return opts, coded, w


def pairwise_preferences(
    ballots: Sequence[Ballot],
    options: Sequence[Hashable] | None = None,
    counts: Sequence[float] | None = None,
) -> tuple[np.ndarray, tuple[Hashable, ...]]:
    """Matrix d with d[i, j] = number of voters who rank option i above option j (an option named
    on a ballot is above every option the ballot leaves out). Returns ``(d, options)``."""
    opts, coded, w = _prepare(ballots, options, counts)
    m = len(opts)
    d = np.zeros((m, m))
    for row, weight in zip(coded, w, strict=True):
        rank = np.full(m, len(row), dtype=float)  # unranked options share the bottom rank
        rank[row] = np.arange(len(row))
        d += weight * (rank[:, None] < rank[None, :])
    return d, tuple(opts)


def _result(opts: Sequence[Hashable], scores: np.ndarray) -> RankingResult:
    if not opts:
        return RankingResult((), None, (), {}, {})
    order = sorted(range(len(opts)), key=lambda i: (-scores[i], i))
    ranks: dict[Hashable, int] = {}
    rank, previous = 0, scores[order[0]]
    for i in order:
        if not math.isclose(scores[i], previous):
            rank, previous = rank + 1, scores[i]
        ranks[opts[i]] = rank
    leaders = tuple(opts[i] for i in order if ranks[opts[i]] == 0)
    return RankingResult(
        ranking=tuple(opts[i] for i in order),
        winner=leaders[0] if len(leaders) == 1 else None,
        tied=leaders if len(leaders) > 1 else (),
        scores={o: float(s) for o, s in zip(opts, scores, strict=True)},
        ranks=ranks,
    )


def borda(
    ballots: Sequence[Ballot],
    options: Sequence[Hashable] | None = None,
    counts: Sequence[float] | None = None,
) -> RankingResult:
    """Borda count (de Borda 1781): with m options, position p (0 = best) earns m - 1 - p points;
    an option's score is its points summed over voters. Options a partial ballot leaves out earn 0
    from it (the "pessimistic" convention for truncated ballots)."""
    opts, coded, w = _prepare(ballots, options, counts)
    m = len(opts)
    scores = np.zeros(m)
    for row, weight in zip(coded, w, strict=True):
        scores[row] += weight * (m - 1 - np.arange(len(row)))
    return _result(opts, scores)


def schulze_strongest_paths(d: np.ndarray) -> np.ndarray:
    """Strongest path strengths p[i, j] (Schulze 2011, Soc. Choice Welf. 36): a link i -> j has
    strength d[i, j] when d[i, j] > d[j, i] (winning votes), else 0; a path is as strong as its
    weakest link; p[i, j] = strength of the strongest path (widest path, Floyd-Warshall)."""
    d = np.asarray(d, dtype=float)
    p = np.where(d > d.T, d, 0.0)
    np.fill_diagonal(p, 0.0)
    for k in range(p.shape[0]):
        p = np.maximum(p, np.minimum(p[:, k : k + 1], p[k : k + 1, :]))
        np.fill_diagonal(p, 0.0)
    return p


def schulze(
    ballots: Sequence[Ballot],
    options: Sequence[Hashable] | None = None,
    counts: Sequence[float] | None = None,
) -> RankingResult:
    """Schulze method (Schulze 2011), as the Habermas Machine ranks candidate group statements
    (Tessler et al. 2024, Science 386; google-deepmind/habermas_machine,
    ``social_choice/schulze_method.py``, ``Schulze.aggregate_with_ties``).

    With p the strongest paths (:func:`schulze_strongest_paths`), y beats x when
    p[y, x] > p[x, y]; this relation is transitive but not complete. ``scores[x]`` =
    #{y != x : p[x, y] >= p[y, x]} (options that do not beat x), and ``ranks`` is the dense rank
    of -scores. So if x beats y, x ranks strictly above y; the options of rank 0 are exactly the
    unbeaten ones, the Schulze winners: ``winner`` when there is one, else ``tied`` lists them
    all and ``winner`` is ``None``. Options neither better nor worse than each other are ordered
    by how many options beat them (fewer first; equal counts share a rank and are listed in
    option order). This is the Habermas Machine's ranking with ties (their
    ``weakly_preferred_count`` is our score + 1). Deviation: they then untie it with a seeded
    random ballot (TBRC) or random permutation and take the first as the winner; we break no
    ties."""
    d, opts = pairwise_preferences(ballots, options, counts)
    p = schulze_strongest_paths(d)
    beaten_by = (p < p.T).sum(axis=1)  # beaten_by[x] = #{y : p[y, x] > p[x, y]}
    return _result(opts, (len(opts) - 1 - beaten_by).astype(float))


@dataclass(frozen=True)
class KemenyResult:
    """``ranking``: a Kemeny ranking (the first optimum in option order); ``optimal``: every
    optimal ranking; ``agreement``: sum over ordered pairs (i above j in the ranking) of d[i, j];
    ``distance``: total Kendall tau distance from the ballots to the ranking."""

    ranking: tuple[Hashable, ...]
    optimal: tuple[tuple[Hashable, ...], ...]
    agreement: float
    distance: float


def kemeny(
    ballots: Sequence[Ballot],
    options: Sequence[Hashable] | None = None,
    counts: Sequence[float] | None = None,
    max_options: int = MAX_KEMENY_OPTIONS,
) -> KemenyResult:
    """Kemeny median ranking (Kemeny 1959; Young & Levenglick 1978): the ranking r that minimises
    sum_voters K(r, ballot), K = number of discordant pairs (Kendall tau distance), equivalently
    maximises sum_{i above j in r} d[i, j]. For a partial ballot, a pair it does not order (both
    left out) counts as neither concordant nor discordant. Exhaustive search over all m!
    rankings, so ``ValueError`` above ``max_options`` options (default 8: 40,320 rankings)."""
    d, opts = pairwise_preferences(ballots, options, counts)
    m = len(opts)
    if m > max_options:
        raise ValueError(
            f"Kemeny is brute force over {m}! rankings; {m} options exceeds max_options="
            f"{max_options}"
        )
    if m == 0:
        return KemenyResult((), ((),), 0.0, 0.0)
    perms = np.array(list(itertools.permutations(range(m))), dtype=np.int64)
    pos = np.argsort(perms, axis=1)  # pos[r, option] = position of option in ranking r
    above = pos[:, :, None] < pos[:, None, :]
    agreement = (above * d).sum(axis=(1, 2))
    best = agreement.max()
    hits = np.flatnonzero(np.isclose(agreement, best))
    optimal = tuple(tuple(opts[i] for i in perms[h]) for h in hits)
    # distance = voters who order the pair the other way, summed over pairs the ranking orders.
    distance = float((above * d.T).sum(axis=(1, 2))[hits[0]])
    return KemenyResult(optimal[0], optimal, float(best), distance)
