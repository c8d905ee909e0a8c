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


def test_schulze_counts_equal_repeated_ballots():
    ballots, counts = _expand(SCHULZE_BALLOTS)
    repeated = [b for b, c in zip(ballots, counts, strict=True) for _ in range(c)]
    assert schulze(repeated).ranking == schulze(ballots, counts=counts).ranking


def test_schulze_condorcet_cycle_with_even_strengths_ties():
    # Rock-paper-scissors: every pairwise contest 2-1 in a cycle, no winner.
    r = schulze([["R", "S", "P"], ["S", "P", "R"], ["P", "R", "S"]])
    assert r.winner is None
    assert r.tied == ("R", "S", "P")


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
