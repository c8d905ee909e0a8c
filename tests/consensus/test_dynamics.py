import math

import pytest

from deliberation.consensus.dynamics import (
    ConformityEvent,
    accuracy_per_participant,
    accuracy_per_round,
    accuracy_per_rule,
    answer_flips,
    conformity_events,
    correctness,
    kairos_scores,
    rule_correctness,
)
from deliberation.consensus.votes import confidence_weighted_vote

# Gold is "B". Round keys are deliberately inserted out of order: rounds are sorted.
ROUNDS = {
    2: {"ann": "A", "bob": "A", "cat": "A", "dan": "B"},
    0: {"ann": "A", "bob": "B", "cat": "A", "dan": "B"},
    1: {"ann": "A", "bob": "A", "cat": None, "dan": "B"},
}


def test_answer_flips_skip_missing_rounds():
    assert answer_flips(ROUNDS) == {"ann": 0, "bob": 1, "cat": 0, "dan": 0}
    assert answer_flips({0: {"x": "A"}, 1: {"x": None}, 2: {"x": "B"}, 3: {"x": "A"}}) == {"x": 2}


def test_conformity_events_classified_with_gold():
    events = conformity_events(ROUNDS, gold="B")
    # Round 0 -> 1: bob leaves B for A, the plurality of ann, cat, dan in round 0 (A, A, B).
    assert events == [ConformityEvent("bob", 1, 0, "B", "A", "right_to_wrong")]


def test_conformity_requires_moving_to_the_others_majority():
    rounds = {
        0: {"x": "A", "y": "B", "z": "B", "w": "C"},
        1: {"x": "C", "y": "B", "z": "B", "w": "B"},
    }
    # x moved to C, which is not the others' majority (B): not conformity.
    # w moved from C to B, the others' plurality in round 0 (A, B, B).
    events = conformity_events(rounds, gold="C")
    assert [(e.participant, e.kind) for e in events] == [("w", "right_to_wrong")]
    events = conformity_events(rounds, gold="D")
    assert [(e.participant, e.kind) for e in events] == [("w", "wrong_to_wrong")]
    assert conformity_events(rounds)[0].kind is None


def test_conformity_wrong_to_right_and_tied_majority():
    rounds = {0: {"x": "A", "y": "B", "z": "B"}, 1: {"x": "B", "y": "B", "z": "B"}}
    assert [e.kind for e in conformity_events(rounds, gold="B")] == ["wrong_to_right"]
    tied = {0: {"x": "A", "y": "B", "z": "C"}, 1: {"x": "B", "y": "B", "z": "C"}}
    assert conformity_events(tied, gold="B") == []  # others tie (B, C): no majority to follow


def test_conformity_strict_majority_rule():
    rounds = {
        0: {"x": "A", "y": "B", "z": "B", "v": "C", "u": "D"},
        1: {"x": "B", "y": "B", "z": "B", "v": "C", "u": "D"},
    }
    assert len(conformity_events(rounds)) == 1  # plurality of others: B (2 of 4)
    assert conformity_events(rounds, rule="majority") == []  # 2 of 4 is not > half


def test_right_to_right_with_predicate_gold():
    rounds = {0: {"x": "4", "y": "four", "z": "four"}, 1: {"x": "four", "y": "four", "z": "four"}}
    events = conformity_events(rounds, gold=lambda a: a in {"4", "four"})
    assert [e.kind for e in events] == ["right_to_right"]


def test_kairos_utility_resistance_f1():
    # Initially right: bob, dan; wrong: ann, cat. Finally right: dan only.
    s = kairos_scores([(ROUNDS, "B")])
    assert (s.initially_wrong, s.corrected, s.initially_right, s.kept) == (2, 0, 2, 1)
    assert s.utility == 0.0 and s.resistance == 0.5 and s.f1 == 0.0
    fixed = {0: {"a": "x", "b": "y", "c": "y"}, 1: {"a": "y", "b": "y", "c": "x"}}
    s = kairos_scores([(fixed, "y"), (ROUNDS, "B")])
    # pooled: wrong 1 + 2, corrected 1 + 0; right 2 + 2, kept 1 + 1
    assert s.utility == pytest.approx(1 / 3)
    assert s.resistance == pytest.approx(2 / 4)
    assert s.f1 == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))


def test_kairos_rounds_and_undefined_ratios():
    s = kairos_scores([(ROUNDS, "B")], initial=0, final=1)  # cat has no round-1 answer
    assert (s.initially_wrong, s.initially_right) == (1, 2)
    all_right = kairos_scores([({0: {"a": "B"}, 1: {"a": "B"}}, "B")])
    assert all_right.resistance == 1.0
    assert math.isnan(all_right.utility) and math.isnan(all_right.f1)


def test_correctness_and_accuracy():
    table = correctness(ROUNDS, "B")
    assert list(table) == [0, 1, 2]
    assert table[1] == {"ann": False, "bob": False, "cat": None, "dan": True}
    assert accuracy_per_round(ROUNDS, "B") == pytest.approx({0: 0.5, 1: 1 / 3, 2: 0.25})
    assert accuracy_per_round(ROUNDS, "B", missing="wrong")[1] == pytest.approx(0.25)
    assert accuracy_per_participant(ROUNDS, "B") == pytest.approx(
        {"ann": 0.0, "bob": 1 / 3, "cat": 0.0, "dan": 1.0}
    )


def test_rule_correctness_and_accuracy_per_rule():
    out = rule_correctness(ROUNDS, "B")
    # Round 0 is a 2-2 tie: plurality without tie-break decides nothing (wrong).
    assert out["plurality"] == {0: False, 1: False, 2: False}
    assert out["majority"] == {0: False, 1: False, 2: False}
    easy = {0: {"a": "B", "b": "B", "c": "A"}, 1: {"a": "B", "b": "B", "c": "B"}}
    acc = accuracy_per_rule([(ROUNDS, "B"), (easy, "B")])
    assert acc["plurality"] == {0: 0.5, 1: 0.5, 2: 0.0}


def test_custom_rule():
    confidences = {"ann": 0.6, "bob": 0.6, "cat": 0.6, "dan": 1.0}

    def weighted(answers):
        conf = list(confidences.values())
        pairs = [(a, c) for a, c in zip(answers, conf, strict=True) if a is not None]
        return confidence_weighted_vote([a for a, _ in pairs], [c for _, c in pairs]).winner

    out = rule_correctness(ROUNDS, "B", rules={"reconcile": weighted})
    # Round 1: A has 0.1 + 0.1, B has 1.0 -> B wins despite being the minority.
    assert out == {"reconcile": {0: True, 1: True, 2: True}}
