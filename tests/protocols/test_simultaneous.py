"""Simultaneous debate (Du et al.): independent answers, then sealed revision rounds."""

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
from deliberation.protocols.simultaneous import Simultaneous

from .driver import (
    ADA,
    ALICE,
    BABBAGE,
    BOB,
    DEADLINE,
    FAIL,
    FOUR,
    MOD,
    OBSERVER,
    ORDER,
    Driver,
    slots,
)

EVERYONE = [RequestTurn(pid) for pid in ORDER]


def sim(rounds=3) -> Driver:
    return Driver(Simultaneous(), FOUR, {"rounds": rounds})


def test_round_one_asks_every_debater_at_once():
    d = sim()
    assert d.start() == [OpenRound(1, "answer"), *EVERYONE]
    assert d.expected == slots(ADA, BABBAGE, ALICE, BOB)
    # Each post leaves the others' turns requested (idempotently), in any answer order.
    assert d.answer(ALICE.id, "X") == [RequestTurn(ADA.id), RequestTurn(BABBAGE.id), *EVERYONE[3:]]
    assert d.answer(BOB.id, "X") == [RequestTurn(ADA.id), RequestTurn(BABBAGE.id)]
    d.answer(BABBAGE.id, "Y")
    assert d.answer(ADA.id, "X") == [CloseRound(1), OpenRound(2, "revise"), *EVERYONE]


def test_full_session_runs_the_configured_rounds_then_finishes():
    d = sim(3)
    d.start()
    d.run(lambda rnd, slot: "X")
    assert d.opened == [(1, "answer"), (2, "revise"), (3, "revise")]
    for number in (1, 2, 3):
        assert d.asked_in(number) == slots(ADA, BABBAGE, ALICE, BOB)
    assert d.finish_reason == "completed 3 rounds"
    assert d.actions[-2:] == [CloseRound(3), Finish("completed 3 rounds")]


def test_a_single_round_is_only_the_independent_answers():
    d = sim(1)
    d.start()
    d.run()
    assert d.opened == [(1, "answer")]
    assert d.finish_reason == "completed 1 round"


def test_unanimity_does_not_stop_the_debate_early():
    d = sim(2)
    d.start()
    d.run(lambda rnd, slot: "X")
    assert len(d.opened) == 2


def test_failures_and_absences_are_asked_again_in_the_next_round():
    d = sim(2)
    d.start()
    d.run(
        lambda rnd, slot: (
            FAIL if slot[0] == ADA.id and rnd == 1 else DEADLINE if slot[0] == BOB.id else "X"
        )
    )
    assert d.statuses_in(1) == {
        (ADA.id, None): "failed",
        (BABBAGE.id, None): "answered",
        (ALICE.id, None): "answered",
        (BOB.id, None): "abstained",
    }
    assert d.asked_in(2) == slots(ADA, BABBAGE, ALICE, BOB)
    assert d.abstentions == [(1, (BOB.id, None), "deadline"), (2, (BOB.id, None), "deadline")]


def test_advancing_mid_round_closes_it_and_asks_everyone_for_the_revision():
    d = sim(2)
    d.start()
    d.answer(ADA.id, "X")
    assert d.advance() == [CloseRound(1), OpenRound(2, "revise"), *EVERYONE]
    assert d.spoke_in(1) == slots(ADA)


def test_skip_one_debater_and_the_round_completes_without_them():
    d = sim(1)
    d.start()
    for pid in ORDER[:-1]:
        d.answer(pid)
    assert d.skip(BOB.id) == [
        RecordAbstention(BOB.id, reason="skipped"),
        CloseRound(1),
        Finish("completed 1 round"),
    ]


def test_pause_stops_requests_and_resume_asks_whoever_is_still_pending():
    d = sim(2)
    d.start()
    d.answer(ADA.id)
    d.pause()
    assert d.expected == []
    assert d.late_answer(BABBAGE.id) == []
    assert d.resume() == [RequestTurn(ALICE.id), RequestTurn(BOB.id)]


def test_brief_first_round_independent_then_the_others_solutions():
    d = sim(3)
    d.start()
    first = d.protocol.brief(d.state, (ADA.id, None))
    assert (first.phase, first.context, first.answer_kind) == ("answer", "none", "answer")
    d.advance()
    later = d.protocol.brief(d.state, (ADA.id, None))
    assert (later.phase, later.context) == ("revise", "others")  # Du et al.'s round prompt
    assert later.instructions.startswith("Using the reasoning from other agents")


def test_answers_of_the_open_round_are_sealed_until_it_closes():
    d = sim(2)
    d.start()
    d.answer(ADA.id, "X")
    post = PostMeta(round=1, author_id=ADA.id, kind="argument")
    see = d.protocol.can_see
    assert not see(d.state, BABBAGE, post)
    assert not see(d.state, OBSERVER, post)
    assert see(d.state, ADA, post)  # one's own post
    assert see(d.state, MOD, post) and see(d.state, None, post)
    assert see(d.state, BABBAGE, PostMeta(round=1, author_id=None, kind="system"))
    d.advance()
    assert see(d.state, BABBAGE, post)  # round 1 closed: visible while round 2 is sealed
    assert not see(d.state, BABBAGE, PostMeta(round=2, author_id=ALICE.id, kind="argument"))


@pytest.mark.parametrize("raw", [0, 51, "three", 1.5])
def test_rounds_setting_is_validated(raw):
    with pytest.raises(SettingsError, match="rounds"):
        Simultaneous().clean_settings({"rounds": raw})
