import itertools

import numpy as np
import pytest

from deliberation.consensus.rankings import (
    borda,
    kemeny,
    pairwise_preferences,
    schulze,
    schulze_strongest_paths,
)

# Wikipedia, "Schulze method", example: 45 voters, 5 candidates.
SCHULZE_BALLOTS = [
    ("ACBED", 5),
    ("ADECB", 5),
    ("BEDAC", 8),
    ("CABED", 3),
    ("CAEBD", 7),
    ("CBADE", 2),
    ("DCEBA", 7),
    ("EBADC", 8),
]


def _expand(spec):
    return [list(b) for b, _ in spec], [c for _, c in spec]


def test_schulze_wikipedia_example():
    ballots, counts = _expand(SCHULZE_BALLOTS)
    d, opts = pairwise_preferences(ballots, options="ABCDE", counts=counts)
    assert opts == tuple("ABCDE")
    np.testing.assert_array_equal(
        d,
        [
            [0, 20, 26, 30, 22],
            [25, 0, 16, 33, 18],
            [19, 29, 0, 17, 24],
            [15, 12, 28, 0, 14],
            [23, 27, 21, 31, 0],
        ],
    )
    np.testing.assert_array_equal(
        schulze_strongest_paths(d),
        [
            [0, 28, 28, 30, 24],
            [25, 0, 28, 33, 24],
            [25, 29, 0, 29, 24],
            [25, 28, 28, 0, 24],
            [25, 28, 28, 31, 0],
        ],
    )
    r = schulze(ballots, options="ABCDE", counts=counts)
    assert r.winner == "E"
    assert r.ranking == ("E", "A", "C", "B", "D")
    assert r.tied == ()
    assert r.ranks == {"E": 0, "A": 1, "C": 2, "B": 3, "D": 4}


def test_schulze_counts_equal_repeated_ballots():
    ballots, counts = _expand(SCHULZE_BALLOTS)
    repeated = [b for b, c in zip(ballots, counts, strict=True) for _ in range(c)]
    assert schulze(repeated).ranking == schulze(ballots, counts=counts).ranking


def test_schulze_condorcet_cycle_with_even_strengths_ties():
    # Rock-paper-scissors: every pairwise contest 2-1 in a cycle, no winner.
    r = schulze([["R", "S", "P"], ["S", "P", "R"], ["P", "R", "S"]])
    assert r.winner is None
    assert r.tied == ("R", "S", "P")


def test_schulze_two_unbeaten_options_tie_even_if_one_beats_more():
    # A beats C 2-0; A-B and B-C are 1-1. A and B are both unbeaten, so they tie, although A
    # beats one option and B none (counting beaten opponents would make A the unique winner).
    ballots = [["A", "C", "B"], ["B", "A", "C"]]
    p = schulze_strongest_paths(pairwise_preferences(ballots)[0])
    assert list((p > p.T).sum(axis=1)) == [1, 0, 0]
    r = schulze(ballots)
    assert r.winner is None
    assert r.tied == ("A", "B")
    assert r.ranking == ("A", "B", "C")
    assert r.ranks == {"A": 0, "B": 0, "C": 1}
    assert r.scores == {"A": 2, "B": 2, "C": 1}


def test_schulze_tied_ranks_electowiki_example_2():
    # electowiki.org "Schulze method", example 2 (9 voters): B and D unbeaten, A and C beaten.
    ballots, counts = _expand([("ABCD", 3), ("DABC", 2), ("DBCA", 2), ("CBDA", 2)])
    r = schulze(ballots, options="ABCD", counts=counts)
    assert r.winner is None and r.tied == ("B", "D")
    assert r.ranks == {"A": 1, "B": 0, "C": 1, "D": 0}
    assert r.ranking == ("B", "D", "A", "C")


def _reference_schulze_ranks(ballots, options, counts):
    """The Habermas Machine's Schulze ranking with ties (``Schulze.aggregate_with_ties``),
    step by step in plain loops: rank arrays (0 = best; options a ballot leaves out share the
    rank after its last), pairwise defeats, strongest paths with the intermediate option in the
    outer loop, then the dense rank of -#{y : p[x][y] >= p[y][x]} (x itself included)."""
    m = len(options)
    rank_rows = []
    for ballot, count in zip(ballots, counts, strict=True):
        row = [len(ballot)] * m
        for position, option in enumerate(ballot):
            row[options.index(option)] = position
        rank_rows += [row] * count
    defeats = [[0] * m for _ in range(m)]
    for row in rank_rows:
        for x in range(m):
            for y in range(m):
                if row[x] < row[y]:
                    defeats[x][y] += 1
    paths = [[0] * m for _ in range(m)]
    for x in range(m):
        for y in range(m):
            if x != y and defeats[x][y] > defeats[y][x]:
                paths[x][y] = defeats[x][y]
    for k in range(m):
        for x in range(m):
            if x != k:
                for y in range(m):
                    if y != k and y != x:
                        paths[x][y] = max(paths[x][y], min(paths[x][k], paths[k][y]))
    weak = [sum(1 for y in range(m) if paths[x][y] - paths[y][x] >= 0) for x in range(m)]
    levels = sorted(set(weak), reverse=True)
    return {options[x]: levels.index(weak[x]) for x in range(m)}


def random_profiles(n=600, seed=2024):
    """(ballots, options, counts): 3-5 options, 2-9 ballots, some truncated, some weighted."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        options = list("ABCDE"[: rng.integers(3, 6)])
        ballots = []
        for _ in range(rng.integers(2, 10)):
            order = [str(o) for o in rng.permutation(options)]
            cut = len(order) if rng.random() < 0.7 else int(rng.integers(0, len(order)))
            ballots.append(order[:cut])
        weighted = rng.random() < 0.3
        counts = [int(c) for c in rng.integers(1, 4, len(ballots))] if weighted else None
        yield ballots, options, counts


def test_schulze_matches_habermas_machine_rule_on_random_profiles():
    checked = ties = 0
    for ballots, options, counts in random_profiles():
        expected = _reference_schulze_ranks(ballots, options, counts or [1] * len(ballots))
        r = schulze(ballots, options=options, counts=counts)
        assert r.ranks == expected, (ballots, counts)
        assert r.ranking == tuple(sorted(options, key=lambda o: (expected[o], options.index(o))))
        unbeaten = [o for o in options if expected[o] == 0]
        assert (r.winner, r.tied) == (
            (unbeaten[0], ()) if len(unbeaten) == 1 else (None, tuple(unbeaten))
        ), (ballots, counts)
        checked += 1
        ties += r.winner is None
    assert checked == 600 and 0 < ties < checked


def test_borda_worked_example():
    ballots, counts = _expand(SCHULZE_BALLOTS)
    r = borda(ballots, options="ABCDE", counts=counts)
    # A: 5*4 + 5*4 + 8*1 + 3*3 + 7*3 + 2*2 + 7*0 + 8*2 = 98
    assert r.scores == {"A": 98, "B": 92, "C": 89, "D": 69, "E": 102}
    assert r.winner == "E"
    assert r.ranking == ("E", "A", "B", "C", "D")  # Borda and Schulze disagree on B vs C


def test_borda_partial_ballots_and_ties():
    r = borda([["A", "B"], ["B"]], options=["A", "B", "C"])
    assert r.scores == {"A": 2, "B": 1 + 2, "C": 0}
    tie = borda([["A", "B"], ["B", "A"]])
    assert tie.winner is None and tie.tied == ("A", "B")


def test_ballot_validation():
    with pytest.raises(ValueError, match="twice"):
        borda([["A", "A"]])
    with pytest.raises(ValueError, match="not one of the options"):
        schulze([["A", "Z"]], options=["A", "B"])


# Wikipedia, "Kemeny-Young method": Tennessee capital, 100 voters.
TENNESSEE = [("MNCK", 42), ("NCKM", 26), ("CKNM", 15), ("KCNM", 17)]


def test_kemeny_wikipedia_example():
    ballots, counts = _expand(TENNESSEE)
    r = kemeny(ballots, counts=counts)
    assert r.ranking == ("N", "C", "K", "M")
    assert r.optimal == (("N", "C", "K", "M"),)
    assert r.agreement == 393
    assert r.distance == 600 - 393  # 6 pairs x 100 voters


def _kendall(r1, r2):
    pos = {o: i for i, o in enumerate(r2)}
    return sum(pos[a] > pos[b] for a, b in itertools.combinations(r1, 2))


def test_kemeny_minimises_total_kendall_distance():
    rng = np.random.default_rng(3)
    opts = list("ABCDE")
    ballots = [list(rng.permutation(opts)) for _ in range(9)]
    r = kemeny(ballots)
    totals = {p: sum(_kendall(p, b) for b in ballots) for p in itertools.permutations(opts)}
    best = min(totals.values())
    assert r.distance == best
    assert set(r.optimal) == {p for p, t in totals.items() if t == best}


def test_kemeny_ties_and_limit():
    r = kemeny([["A", "B"], ["B", "A"]])
    assert r.optimal == (("A", "B"), ("B", "A"))
    with pytest.raises(ValueError, match="max_options"):
        kemeny([list("ABCDEFGHI")])
    assert kemeny([list("ABC")], max_options=3).ranking == ("A", "B", "C")
