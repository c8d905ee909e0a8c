import pytest

from deliberation.consensus.polis import group_aware_consensus, vote_matrix

VOTES = {
    "p1": {"s1": 1, "s2": 1, "s3": -1},
    "p2": {"s1": 1, "s2": -1, "s3": 0},
    "p3": {"s1": "agree", "s2": "disagree"},
    "p4": {"s1": 1, "s2": 1, "s3": None},
    "p5": {"s1": -1, "s3": 1},
}
GROUPS = {"p1": "g1", "p2": "g1", "p3": "g2", "p4": "g2", "p5": "g2"}


def test_vote_matrix():
    m, people, stmts = vote_matrix(VOTES)
    assert people == ("p1", "p2", "p3", "p4", "p5")
    assert stmts == ("s1", "s2", "s3")
    assert m[2].tolist()[:2] == [1.0, -1.0]
    assert m[3, 2] != m[3, 2]  # NaN: not seen


def test_group_aware_consensus_worked_example():
    gac = group_aware_consensus(VOTES, GROUPS)
    # s1: g1 2 agrees of 2 seen -> 3/4; g2 2 agrees of 3 seen -> 3/5
    assert gac["s1"] == pytest.approx(3 / 4 * 3 / 5)
    # s2: g1 1 of 2 -> 2/4; g2 1 of 2 (p5 has not seen it) -> 2/4
    assert gac["s2"] == pytest.approx(1 / 4)
    # s3: g1 0 agrees of 2 seen (a pass counts as seen) -> 1/4; g2 1 of 1 -> 2/3
    assert gac["s3"] == pytest.approx(1 / 4 * 2 / 3)
    disagree = group_aware_consensus(VOTES, GROUPS, direction="disagree")
    # s2 disagree: g1 1 of 2 -> 2/4; g2 1 of 2 -> 2/4
    assert disagree["s2"] == pytest.approx(1 / 4)
    assert disagree["s1"] == pytest.approx(1 / 4 * 2 / 5)


def test_consensus_across_groups_beats_majority_of_one_group():
    # Big group g1 loves s_a, small g2 hates it; s_b is mildly liked by both.
    votes = {f"a{i}": {"s_a": 1, "s_b": 1 if i % 2 else 0} for i in range(8)}
    votes |= {f"b{i}": {"s_a": -1, "s_b": 1 if i % 2 else 0} for i in range(4)}
    groups = {p: ("g1" if p.startswith("a") else "g2") for p in votes}
    gac = group_aware_consensus(votes, groups)
    assert gac["s_b"] > gac["s_a"]


def test_unseen_group_factor_and_ungrouped_participants():
    gac = group_aware_consensus({"x": {"s": 1}, "y": {"t": 1}, "z": {"s": 1}}, {"x": 1, "y": 2})
    assert gac["s"] == pytest.approx(2 / 3 * 1 / 2)  # z has no group; group 2 never saw s


def test_invalid_votes():
    with pytest.raises(ValueError, match="vote"):
        group_aware_consensus({"x": {"s": 2}}, {"x": 1})
    with pytest.raises(ValueError, match="no participant"):
        group_aware_consensus({"x": {"s": 1}}, {})
