import math

import pytest

from deliberation.consensus.votes import (
    VoteResult,
    answer_counts,
    answer_shares,
    confidence_weighted_vote,
    distinct_count,
    majority,
    normalised_entropy,
    plurality,
    reconcile_weight,
    shannon_entropy,
    top_share,
    unanimous,
)


def test_counts_and_shares_ignore_missing_and_keep_order():
    answers = ["B", None, "A", "B", "C", None]
    assert answer_counts(answers) == {"B": 2, "A": 1, "C": 1}
    assert list(answer_counts(answers, options=["A", "B", "C", "D"]).items()) == [
        ("A", 1),
        ("B", 2),
        ("C", 1),
        ("D", 0),
    ]
    assert answer_shares(answers) == {"B": 0.5, "A": 0.25, "C": 0.25}
    assert answer_shares([None], options=["A"]) == {"A": 0.0}


def test_answer_outside_options_is_an_error():
    with pytest.raises(ValueError, match="not one of the options"):
        answer_counts(["A", "Z"], options=["A", "B"])


def test_plurality_unique_winner():
    r = plurality(["A", "B", "A", None, "C"])
    assert r == VoteResult(winner="A", tied=(), counts={"A": 2, "B": 1, "C": 1}, share=0.5)


def test_plurality_tie_is_explicit_by_default():
    r = plurality(["B", "A", "A", "B", "C"])
    assert r.winner is None
    assert r.tied == ("B", "A")
    assert r.share == pytest.approx(0.4)


def test_plurality_tie_breaks():
    answers = ["B", "A", "A", "B"]
    assert plurality(answers, tie_break="first").winner == "B"  # answered first
    assert plurality(answers, options=["A", "B"], tie_break="first").winner == "A"
    assert plurality(answers, tie_break="lexicographic").winner == "A"
    assert plurality([10, 9, 9, 10], tie_break="lexicographic").winner == 9  # numeric, not "10"
    r = plurality(answers, tie_break="first")
    assert r.tied == ("B", "A")  # the tie stays visible after it is broken
    with pytest.raises(ValueError, match="tie_break"):
        plurality(answers, tie_break="random")


def test_plurality_no_votes():
    r = plurality([None, None])
    assert r.winner is None and r.tied == () and r.share == 0.0


def test_majority_is_strict():
    assert majority(["A", "A", "B"]).winner == "A"
    half = majority(["A", "A", "B", "C"])
    assert half.winner is None and half.counts == {"A": 2, "B": 1, "C": 1}
    assert majority(["A", "A", "B", "B"]).tied == ("A", "B")
    # Missing answers are not votes: 2 of 3 cast votes is a majority.
    assert majority(["A", None, None, "A", "B"]).winner == "A"


@pytest.mark.parametrize(
    ("p", "w"),
    [
        (0.0, 0.1),
        (0.6, 0.1),
        (0.61, 0.3),
        (0.79, 0.3),
        (0.8, 0.5),
        (0.89, 0.5),
        (0.9, 0.8),
        (0.99, 0.8),
        (1.0, 1.0),
    ],
)
def test_reconcile_weight_bins(p, w):
    assert reconcile_weight(p) == w


@pytest.mark.parametrize("p", [-0.1, 1.01, math.nan])
def test_reconcile_weight_rejects_out_of_range(p):
    with pytest.raises(ValueError):
        reconcile_weight(p)


def test_confidence_weighted_vote_recalibrated_can_beat_plurality():
    answers = ["A", "A", "B"]
    confidences = [0.7, 0.7, 1.0]  # A: 0.3 + 0.3 = 0.6, B: 1.0
    r = confidence_weighted_vote(answers, confidences)
    assert r.winner == "B"
    assert r.counts == pytest.approx({"A": 0.6, "B": 1.0})
    assert r.share == pytest.approx(1.0 / 1.6)
    assert plurality(answers).winner == "A"


def test_confidence_weighted_vote_raw_confidences():
    r = confidence_weighted_vote(["A", "A", "B", None], [0.7, 0.7, 1.0, 1.0], recalibrate=False)
    assert r.winner == "A"
    assert r.counts == pytest.approx({"A": 1.4, "B": 1.0})


def test_confidence_weighted_vote_float_tie_is_a_tie():
    # 0.3 + 0.5 is not exactly 0.8 in binary floating point; it must still tie.
    r = confidence_weighted_vote(["A", "A", "B"], [0.7, 0.85, 0.95])
    assert r.winner is None and r.tied == ("A", "B")
    assert (
        confidence_weighted_vote(
            ["A", "A", "B"], [0.7, 0.85, 0.95], tie_break="lexicographic"
        ).winner
        == "A"
    )


def test_confidence_weighted_vote_validates_lengths():
    with pytest.raises(ValueError, match="pair up"):
        confidence_weighted_vote(["A"], [0.5, 0.5])


def test_shannon_entropy_values():
    assert shannon_entropy(["A", "A"]) == 0.0
    assert shannon_entropy(["A", "B"]) == pytest.approx(1.0)
    assert shannon_entropy(["A", "B", "C", "D"]) == pytest.approx(2.0)
    assert shannon_entropy(["A", "B", "C", "D"], base=4) == pytest.approx(1.0)
    # p = (1/2, 1/4, 1/4): H = 1.5 bits
    assert shannon_entropy(["A", "A", "B", "C", None]) == pytest.approx(1.5)
    assert shannon_entropy([]) == 0.0


def test_shannon_entropy_matches_scipy():
    from scipy.stats import entropy

    answers = list("AAABBCDDDDE")
    counts = list(answer_counts(answers).values())
    assert shannon_entropy(answers, base=2) == pytest.approx(entropy(counts, base=2))


def test_normalised_entropy_uses_options_when_given():
    answers = ["A", "B"]
    assert normalised_entropy(answers) == pytest.approx(1.0)  # K = 2 distinct answers
    assert normalised_entropy(answers, options=["A", "B", "C", "D"]) == pytest.approx(0.5)
    assert normalised_entropy(["A", "A"]) == 0.0
    assert normalised_entropy(["A", "A"], options=["A", "B"]) == 0.0


def test_top_share_distinct_unanimous():
    assert top_share(["A", "A", "B", None]) == pytest.approx(2 / 3)
    assert top_share([]) == 0.0
    assert distinct_count(["A", "B", None, "A"]) == 2
    assert unanimous(["A", None, "A"])
    assert not unanimous(["A", "B"])
    assert not unanimous([None])
