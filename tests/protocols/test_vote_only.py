"""Vote only (Debate or Vote baseline): one round of independent answers, nothing visible."""

from __future__ import annotations

import dataclasses

import pytest

from deliberation.protocols.base import (
    CloseRound,
    Finish,
    OpenRound,
    PostMeta,
    RequestTurn,
    SettingsError,
)
from deliberation.protocols.vote_only import VoteOnly

from .driver import ADA, ALICE, BABBAGE, BOB, DEADLINE, FAIL, FOUR, MOD, OBSERVER, ORDER, Driver


def vote() -> Driver:
    return Driver(VoteOnly(), FOUR)


def test_one_round_everyone_at_once_then_finish():
    d = vote()
    assert d.start() == [OpenRound(1, "answer"), *(RequestTurn(pid) for pid in ORDER)]
    d.answer(BOB.id, "X")
    d.answer(ADA.id, "Y")
    d.answer(ALICE.id, "X")
    assert d.answer(BABBAGE.id, "X") == [CloseRound(1), Finish("completed 1 round")]


def test_failures_and_absences_still_finish_after_one_round():
    d = vote()
    d.start()
    d.run(lambda rnd, slot: FAIL if slot[0] == ADA.id else DEADLINE if slot[0] == BOB.id else 1)
    assert d.opened == [(1, "answer")]
    assert d.statuses_in(1)[(BOB.id, None)] == "abstained"
    assert d.finish_reason == "completed 1 round"


def test_advance_finishes():
    d = vote()
    d.start()
    d.answer(ADA.id)
    assert d.advance() == [CloseRound(1), Finish("completed 1 round")]


def test_brief_is_independent():
    d = vote()
    d.start()
    brief = d.protocol.brief(d.state, (ADA.id, None))
    assert (brief.phase, brief.context, brief.answer_kind) == ("answer", "none", "answer")


def test_debaters_never_see_other_debaters_arguments_until_finished():
    d = vote()
    d.start()
    d.answer(ADA.id, "X")
    see = d.protocol.can_see
    post = PostMeta(round=1, author_id=ADA.id, kind="argument")
    assert not see(d.state, BABBAGE, post)
    assert see(d.state, ADA, post) and see(d.state, MOD, post)
    # Even with the round closed, as long as the session has not finished.
    closed = dataclasses.replace(
        d.state, rounds=(dataclasses.replace(d.state.rounds[0], open=False),), status="paused"
    )
    assert not see(closed, BABBAGE, post)
    assert see(closed, OBSERVER, post)  # observers do not vote
    assert see(closed, BABBAGE, PostMeta(round=1, author_id=MOD.id, kind="argument"))
    assert see(closed, BABBAGE, PostMeta(round=1, author_id=ADA.id, kind="note"))
    d.run()
    assert see(d.state, BABBAGE, post)


@pytest.mark.parametrize("raw", [{"rounds": 2}, {"cycles": 1}])
def test_vote_only_has_no_round_settings(raw):
    with pytest.raises(SettingsError, match="unknown setting"):
        VoteOnly().clean_settings(raw)
