"""Round robin and free debate driven through whole sessions."""

from __future__ import annotations

from collections import Counter

import pytest

from deliberation.protocols.base import (
    CloseRound,
    Ended,
    Finish,
    OpenRound,
    PostStored,
    RecordAbstention,
    RequestTurn,
    Resumed,
    RoundAdvanced,
    SessionState,
    SettingsError,
    Speaker,
    Started,
)
from deliberation.protocols.round_robin import MAX_ROUNDS, FreeDebate, RoundRobin

from .driver import (
    ADA,
    ALICE,
    BABBAGE,
    BOB,
    DEADLINE,
    FOUR,
    MOD,
    OBSERVER,
    ORDER,
    Driver,
    slots,
)

NON_DEBATERS = {MOD.id, OBSERVER.id}


def rr(rounds=3, participants=FOUR) -> Driver:
    return Driver(RoundRobin(), participants, {"rounds": rounds})


# --- whole sessions ----------------------------------------------------------------------------
def test_debaters_speak_in_position_order_people_and_agents_mixed():
    d = rr(2)
    assert d.start() == [OpenRound(1, "discussion"), RequestTurn(ADA.id)]
    d.run()
    assert d.speakers_in(1) == ORDER
    assert d.speakers_in(2) == ORDER
    # One at a time: every request came after the previous speaker spoke.
    assert [pid for _, (pid, _) in d.requests] == ORDER * 2


def test_equal_positions_are_ordered_by_id():
    first = Speaker(id=7, kind="agent", role="debater", position=1)
    second = Speaker(id=9, kind="human", role="debater", position=1)
    d = rr(1, (second, MOD, first))
    d.start()
    d.run()
    assert d.speakers_in(1) == [7, 9]


def test_each_debater_is_asked_once_per_round_and_nobody_else_ever():
    d = rr(3)
    d.start()
    d.run()
    for number in (1, 2, 3):
        assert Counter(d.speakers_in(number)) == Counter(ORDER)
    assert not {pid for _, (pid, _) in d.requests} & NON_DEBATERS


def test_session_finishes_after_the_configured_rounds_with_a_reason():
    d = rr(3)
    d.start()
    d.run()
    assert d.opened == [(1, "discussion"), (2, "discussion"), (3, "discussion")]
    assert d.closed == [1, 2, 3]
    assert d.finish_reason == "completed 3 rounds"
    assert d.actions[-2:] == [CloseRound(3), Finish("completed 3 rounds")]
    for event in (PostStored(ADA.id), RoundAdvanced(), Resumed(), Started(), Ended()):
        assert d.protocol.handle(d.state, event) == []


def test_a_single_round_session():
    d = rr(1)
    d.start()
    d.run()
    assert d.requests == [(1, (pid, None)) for pid in ORDER]
    assert d.finish_reason == "completed 1 round"


def test_a_failed_agent_turn_moves_on_and_the_agent_is_asked_next_round():
    d = rr(2)
    d.start()
    assert d.fail(ADA.id) == [RequestTurn(BABBAGE.id)]
    assert d.fail(BABBAGE.id) == [RequestTurn(ALICE.id)]
    d.answer(ALICE.id)
    assert d.answer(BOB.id) == [CloseRound(1), OpenRound(2, "discussion"), RequestTurn(ADA.id)]
    assert d.fail(ADA.id) == [RequestTurn(BABBAGE.id)]
    d.answer(BABBAGE.id)
    d.answer(ALICE.id)
    assert d.fail(BOB.id) == [CloseRound(2), Finish("completed 2 rounds")]


def test_unparsed_and_answerless_posts_also_end_the_turn():
    d = rr(1)
    d.start()
    assert d.unparsed(ADA.id) == [RequestTurn(BABBAGE.id)]
    assert d.no_answer(BABBAGE.id) == [RequestTurn(ALICE.id)]


def test_people_who_never_answer_abstain_at_their_deadline():
    d = rr(2)
    d.start()
    d.run(lambda rnd, slot: DEADLINE if slot[0] in (ALICE.id, BOB.id) else "A")
    assert d.abstentions == [
        (1, (ALICE.id, None), "deadline"),
        (1, (BOB.id, None), "deadline"),
        (2, (ALICE.id, None), "deadline"),
        (2, (BOB.id, None), "deadline"),
    ]
    assert d.finish_reason == "completed 2 rounds"


def test_a_deadline_for_someone_who_already_spoke_or_is_not_in_the_round_is_ignored():
    d = rr(2)
    d.start()
    d.answer(ADA.id)
    assert d.deadline(ADA.id) == []
    assert d.deadline(MOD.id) == []
    assert d.deadline(ADA.id, target=BOB.id) == []
    assert d.abstentions == []


def test_the_moderator_skips_the_current_speaker():
    d = rr(1)
    d.start()
    assert d.skip(ADA.id) == [RecordAbstention(ADA.id, reason="skipped"), RequestTurn(BABBAGE.id)]
    assert d.abstentions == [(1, (ADA.id, None), "skipped")]


def test_advancing_mid_round_leaves_the_rest_unasked():
    d = rr(2)
    d.start()
    d.answer(ADA.id)
    d.answer(BABBAGE.id)
    assert d.expected == [(ALICE.id, None)]  # ... who does not answer
    assert d.advance() == [CloseRound(1), OpenRound(2, "discussion"), RequestTurn(ADA.id)]
    assert d.speakers_in(1) == [ADA.id, BABBAGE.id, ALICE.id]
    d.answer(ADA.id)
    assert d.advance() == [CloseRound(2), Finish("completed 2 rounds")]


def test_ended_finishes_at_once_and_before_any_round():
    d = rr(3)
    d.start()
    d.answer(ADA.id)
    assert d.end() == [CloseRound(1), Finish("ended by the moderator")]
    assert d.opened == [(1, "discussion")]
    assert rr(3).end("out of time") == [Finish("out of time")]


# --- pause and resume --------------------------------------------------------------------------
def test_paused_session_asks_nobody_and_resume_asks_the_current_speaker():
    d = rr(2)
    d.start()
    d.answer(ADA.id)
    d.pause()
    assert d.expected == []
    assert d.late_answer(BABBAGE.id) == []  # kept, but nobody new is asked
    assert d.send(Started()) == []
    assert d.resume() == [RequestTurn(ALICE.id)]


def test_resume_after_the_round_completed_while_paused_opens_the_next_round():
    d = rr(2)
    d.start()
    for pid in ORDER[:-1]:
        d.answer(pid)
    d.pause()
    assert d.late_answer(BOB.id) == []
    assert d.resume() == [CloseRound(1), OpenRound(2, "discussion"), RequestTurn(ADA.id)]


def test_advancing_while_paused_opens_the_next_round_without_asking_anyone():
    d = rr(2)
    d.start()
    d.pause()
    assert d.advance() == [CloseRound(1), OpenRound(2, "discussion")]
    assert d.resume() == [RequestTurn(ADA.id)]
    assert d.requests == [(1, (ADA.id, None)), (2, (ADA.id, None))]


def test_start_without_debaters_and_before_running():
    assert rr(3, (MOD, OBSERVER)).start() == [Finish("no debaters")]
    d = rr(3)
    assert d.send(Started()) == []  # still a draft
    assert d.requests == [] and d.opened == []


def test_may_post_only_for_the_current_speaker_while_running():
    d = rr(2)
    everyone = [p.id for p in FOUR]
    allowed = lambda: [pid for pid in everyone if d.protocol.may_post(d.state, pid)]  # noqa: E731
    assert allowed() == []
    d.start()
    assert allowed() == [ADA.id]
    d.answer(ADA.id)
    d.answer(BABBAGE.id)
    assert allowed() == [ALICE.id]
    d.pause()
    assert allowed() == []
    d.resume()
    d.end()
    assert allowed() == []


def test_brief_uses_the_transcript_and_flags_the_last_round():
    d = rr(2)
    d.start()
    first = d.protocol.brief(d.state, (ADA.id, None))
    assert (first.phase, first.context, first.answer_kind) == ("discussion", "transcript", "answer")
    assert "last round" not in first.instructions
    d.advance()
    assert "last round" in d.protocol.brief(d.state, (ADA.id, None)).instructions


# --- free debate -------------------------------------------------------------------------------
def test_free_debate_follows_the_moderators_order_then_joining_order():
    d = Driver(FreeDebate(), FOUR, {"rounds": 1, "order": [BOB.id, ALICE.id]})
    d.start()
    d.run()
    assert d.speakers_in(1) == [BOB.id, ALICE.id, ADA.id, BABBAGE.id]


def test_free_debate_order_changes_take_effect_mid_round():
    d = Driver(FreeDebate(), FOUR, {"rounds": 2})
    d.start()
    d.answer(ADA.id)
    assert d.change(order=[BOB.id, ADA.id]) == [RequestTurn(BOB.id)]
    d.run()
    # Babbage had been asked before the change; the floor then went to Bob, back to Babbage.
    assert [pid for rnd, (pid, _) in d.requests if rnd == 1] == [
        ADA.id,
        BABBAGE.id,
        BOB.id,
        BABBAGE.id,
        ALICE.id,
    ]
    assert d.spoke_in(1) == slots(ADA, BOB, BABBAGE, ALICE)
    assert d.spoke_in(2) == slots(BOB, ADA, BABBAGE, ALICE)


def test_free_debate_ignores_ids_that_are_not_debaters():
    d = Driver(FreeDebate(), FOUR, {"rounds": 1, "order": [MOD.id, 999, BABBAGE.id]})
    d.start()
    d.run()
    assert d.speakers_in(1) == [BABBAGE.id, ADA.id, ALICE.id, BOB.id]


def test_settings_changed_while_paused_asks_nobody():
    d = Driver(FreeDebate(), FOUR, {"rounds": 1})
    d.start()
    d.pause()
    assert d.change(order=[BOB.id]) == []
    assert d.resume() == [RequestTurn(BOB.id)]


# --- settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "rounds"), [("4", 4), (4, 4), (1, 1), (MAX_ROUNDS, MAX_ROUNDS)])
def test_rounds_accepts_whole_numbers_in_range(raw, rounds):
    assert RoundRobin().clean_settings({"rounds": raw})["rounds"] == rounds


@pytest.mark.parametrize("raw", [0, -1, 51, "abc", True, False, 2.5, [3]])
def test_rounds_rejects(raw):
    with pytest.raises(SettingsError, match="rounds"):
        RoundRobin().clean_settings({"rounds": raw})


@pytest.mark.parametrize(
    ("raw", "expected"), [("15, 10", [15, 10]), ([10, "11"], [10, 11]), ("", []), (None, [])]
)
def test_order_accepts_lists_and_text(raw, expected):
    assert FreeDebate().clean_settings({"order": raw})["order"] == expected


@pytest.mark.parametrize("raw", ["a b", [1, 1], 5, [None]])
def test_order_rejects(raw):
    with pytest.raises(SettingsError, match="order"):
        FreeDebate().clean_settings({"order": raw})


def test_round_robin_has_no_order_setting():
    with pytest.raises(SettingsError, match=r"unknown setting.*order"):
        RoundRobin().clean_settings({"order": [1]})


def test_current_round_slots_are_planned_from_earlier_rounds_only():
    state = SessionState(status="running", settings={"rounds": 1}, participants=FOUR)
    assert RoundRobin().expected(state) == []  # no round yet
