"""Round table (ReConcile): confidences, grouped context, the skip rule, stop on unanimity."""

from __future__ import annotations

from deliberation.protocols.base import (
    CloseRound,
    Contribution,
    Finish,
    OpenRound,
    PostMeta,
    RequestTurn,
    RoundView,
    SessionState,
)
from deliberation.protocols.round_table import RoundTable, agrees_with_everyone

from .driver import (
    ADA,
    ALICE,
    BABBAGE,
    BOB,
    DEADLINE,
    FAIL,
    FOUR,
    UNPARSED,
    Driver,
    Reply,
    slots,
)

ALL = slots(ADA, BABBAGE, ALICE, BOB)


def table(rounds=3) -> Driver:
    return Driver(RoundTable(), FOUR, {"rounds": rounds})


def by_participant(answers):
    """An outcome function: round -> {participant: outcome}."""
    return lambda rnd, slot: answers[rnd][slot[0]]


def test_unanimous_first_round_stops_at_once():
    d = table()
    assert d.start() == [OpenRound(1, "answer"), *(RequestTurn(pid) for pid, _ in ALL)]
    for pid, _ in ALL[:-1]:
        d.answer(pid, "X", confidence=0.8)
    assert d.answer(BOB.id, "X", confidence=0.6) == [
        CloseRound(1),
        Finish("consensus: every debater gives the same answer after round 1"),
    ]


def test_disagreement_continues_and_consensus_in_round_two_stops():
    d = table()
    d.start()
    d.run(
        by_participant(
            {
                1: {ADA.id: "X", BABBAGE.id: "Y", ALICE.id: "X", BOB.id: "X"},
                2: {ADA.id: "X", BABBAGE.id: Reply("X", 0.7), ALICE.id: "X", BOB.id: "X"},
            }
        )
    )
    assert d.opened == [(1, "answer"), (2, "discussion")]
    assert d.asked_in(2) == ALL  # nobody agreed with everyone, so nobody sat out
    assert d.finish_reason == "consensus: every debater gives the same answer after round 2"


def test_never_agreeing_stops_after_the_rounds():
    d = table(3)
    d.start()
    d.run(lambda rnd, slot: "X" if slot[0] in (ADA.id, BOB.id) else "Y")
    assert len(d.opened) == 3
    assert d.finish_reason == "completed 3 rounds"


def test_those_who_agree_with_everyone_who_answered_sit_the_round_out():
    d = table(3)
    d.start()
    d.run(
        by_participant(
            {
                1: {ADA.id: "X", BABBAGE.id: "X", ALICE.id: DEADLINE, BOB.id: "X"},
                2: {ALICE.id: "Y"},
                3: {ADA.id: "Y", BABBAGE.id: "Y", ALICE.id: "Y", BOB.id: "X"},
            }
        )
    )
    assert d.asked_in(2) == slots(ALICE)  # the others already agreed with everyone
    assert d.asked_in(3) == ALL  # Alice's Y broke the agreement
    assert d.finish_reason == "completed 3 rounds"


def test_a_sitting_out_debaters_earlier_answer_counts_for_unanimity():
    d = table(3)
    d.start()
    d.run(
        by_participant(
            {
                1: {ADA.id: "X", BABBAGE.id: "X", ALICE.id: UNPARSED, BOB.id: FAIL},
                2: {ALICE.id: "X", BOB.id: "X"},
            }
        )
    )
    assert d.asked_in(2) == slots(ALICE, BOB)
    assert d.finish_reason == "consensus: every debater gives the same answer after round 2"


def test_someone_who_never_answers_prevents_unanimity_and_is_asked_every_round():
    d = table(3)
    d.start()
    d.run(lambda rnd, slot: FAIL if slot[0] == BOB.id else "X")
    assert d.asked_in(2) == slots(BOB) and d.asked_in(3) == slots(BOB)
    assert d.finish_reason == "completed 3 rounds"


def test_a_lone_answer_agrees_vacuously_and_sits_out():
    d = table(2)
    d.start()
    d.run(lambda rnd, slot: "X" if slot[0] == ADA.id else FAIL)
    assert d.asked_in(2) == slots(BABBAGE, ALICE, BOB)


def test_latest_answer_counts_not_the_first():
    state = SessionState(
        status="running",
        settings={"rounds": 3},
        participants=FOUR,
        rounds=(
            RoundView(1, "answer", (_answered(ADA.id, "X"), _answered(BABBAGE.id, "Y")), False),
            RoundView(2, "discussion", (_answered(BABBAGE.id, "X"),), False),
        ),
    )
    assert agrees_with_everyone(state, ADA.id)
    assert agrees_with_everyone(state, BABBAGE.id)
    assert not agrees_with_everyone(state, ALICE.id)  # no answer: nothing to agree with


def _answered(pid, answer):
    return Contribution(pid, None, "answered", answer, 0.5)


def test_brief_independent_first_then_grouped_with_confidences():
    d = table()
    d.start()
    first = d.protocol.brief(d.state, (ADA.id, None))
    assert (first.phase, first.context) == ("answer", "none")
    assert "confiden" in first.instructions
    d.answer(ADA.id, "X")
    d.advance()
    later = d.protocol.brief(d.state, (ADA.id, None))
    assert (later.phase, later.context) == ("discussion", "grouped")
    assert later.instructions.startswith("Carefully review the following solutions")


def test_final_rule_and_sealing():
    d = table()
    assert d.protocol.final_rule == "confidence_weighted"
    d.start()
    d.answer(ADA.id, "X", confidence=0.9)
    post = PostMeta(round=1, author_id=ADA.id, kind="argument")
    assert not d.protocol.can_see(d.state, BABBAGE, post)
    d.advance()
    assert d.protocol.can_see(d.state, BABBAGE, post)
