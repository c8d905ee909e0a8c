"""Peer review (Xu et al.): solve, review every other solution with a score, revise."""

from __future__ import annotations

import pytest

from deliberation.protocols.base import (
    CloseRound,
    Finish,
    OpenRound,
    PostMeta,
    RecordAbstention,
    RequestTurn,
    SettingsError,
)
from deliberation.protocols.peer_review import PeerReview

from .driver import ADA, ALICE, BABBAGE, FAIL, MOD, OBSERVER, Driver, slots

THREE = (ALICE, MOD, BABBAGE, ADA, OBSERVER)  # debaters by position: Ada, Babbage, Alice
A, B, C = ADA.id, BABBAGE.id, ALICE.id
ALL_PAIRS = [(A, B), (A, C), (B, A), (B, C), (C, A), (C, B)]


def review(cycles=1, cast=THREE) -> Driver:
    return Driver(PeerReview(), cast, {"cycles": cycles})


def test_solve_review_revise_with_every_ordered_pair():
    d = review()
    assert d.start() == [OpenRound(1, "solve"), RequestTurn(A), RequestTurn(B), RequestTurn(C)]
    d.answer(A, "X")
    d.answer(B, "Y")
    actions = d.answer(C, "X")
    assert actions[:2] == [CloseRound(1), OpenRound(2, "review")]
    assert actions[2:] == [RequestTurn(*pair) for pair in ALL_PAIRS]
    for reviewer, target in ALL_PAIRS[:-1]:
        d.answer(reviewer, 7, target=target)
    assert d.answer(C, 3, target=B) == [
        CloseRound(2),
        OpenRound(3, "revise"),
        RequestTurn(A),
        RequestTurn(B),
        RequestTurn(C),
    ]
    d.answer(A, "X")
    d.answer(B, "X")
    assert d.answer(C, "X") == [CloseRound(3), Finish("completed 3 rounds")]
    assert d.phases == ["solve", "review", "revise"]


def test_solutions_that_are_not_usable_are_not_reviewed_but_their_authors_review():
    d = review()
    d.start()
    d.run(lambda rnd, slot: FAIL if (rnd, slot[0]) == (1, C) else 5 if slot[1] else "X")
    assert d.asked_in(2) == [(A, B), (B, A), (C, A), (C, B)]
    assert d.asked_in(3) == slots(ADA, BABBAGE, ALICE)  # Alice revises too


def test_nobody_solved_leaves_an_empty_review_round():
    d = review()
    d.start()
    d.fail(A)
    d.deadline(C)
    assert d.fail(B) == [
        CloseRound(1),
        OpenRound(2, "review"),
        CloseRound(2),
        OpenRound(3, "revise"),
        RequestTurn(A),
        RequestTurn(B),
        RequestTurn(C),
    ]


def test_two_cycles_review_the_latest_solution():
    d = review(cycles=2)
    d.start()
    # Alice's first solution fails, her first revision counts as her solution in cycle two.
    d.run(lambda rnd, slot: FAIL if (rnd, slot[0]) == (1, C) else 5 if slot[1] else "X")
    assert d.phases == ["solve", "review", "revise", "review", "revise"]
    assert d.asked_in(2) == [(A, B), (B, A), (C, A), (C, B)]
    assert d.asked_in(4) == ALL_PAIRS
    assert d.finish_reason == "completed 5 rounds"


def test_a_reviewer_who_misses_the_deadline_abstains_for_that_pair_only():
    d = review()
    d.start()
    for pid in (A, B, C):
        d.answer(pid, "X")
    assert d.deadline(C, target=A) == [
        RecordAbstention(C, A, "deadline"),
        *(RequestTurn(*pair) for pair in ALL_PAIRS if pair != (C, A)),
    ]
    assert d.deadline(C, target=C) == []  # not a slot of this round
    assert d.skip(A, target=B)[0] == RecordAbstention(A, B, "skipped")
    assert (C, B) in d.expected and (C, A) not in d.expected


def test_briefs_per_phase():
    d = review()
    d.start()
    solve = d.protocol.brief(d.state, (A, None))
    assert (solve.phase, solve.context, solve.answer_kind) == ("solve", "none", "answer")
    for pid in (A, B, C):
        d.answer(pid, "X")
    rev = d.protocol.brief(d.state, (A, B))
    assert (rev.phase, rev.context, rev.answer_kind, rev.target_id) == (
        "review",
        "transcript",
        "review",
        B,
    )
    assert "1" in rev.instructions and "10" in rev.instructions
    d.advance()
    revise = d.protocol.brief(d.state, (A, None))
    assert (revise.phase, revise.context, revise.answer_kind) == ("revise", "transcript", "answer")
    assert revise.target_id is None


def test_check_participants_needs_two_debaters():
    d = review(cast=(ADA, MOD))
    assert d.protocol.check_participants(d.state) == (
        "Peer review needs at least two debaters; this session has 1."
    )
    assert d.start() == [Finish("Peer review needs at least two debaters; this session has 1.")]
    assert review().protocol.check_participants(review().state) is None


@pytest.mark.parametrize("raw", [0, 25, "one", True])
def test_cycles_setting_is_validated(raw):
    with pytest.raises(SettingsError, match="cycles"):
        PeerReview().clean_settings({"cycles": raw})


def test_rounds_is_not_a_peer_review_setting():
    with pytest.raises(SettingsError, match="unknown setting"):
        PeerReview().clean_settings({"rounds": 3})


def test_review_visibility():
    d = review()
    d.start()
    for pid in (A, B, C):
        d.answer(pid, "X")
    d.answer(A, 8, target=B)
    meta = PostMeta(round=2, author_id=A, kind="argument", target_id=B)
    assert not d.protocol.can_see(d.state, BABBAGE, meta)
    assert d.protocol.can_see(d.state, MOD, meta)
    d.advance()
    assert d.protocol.can_see(d.state, BABBAGE, meta)
