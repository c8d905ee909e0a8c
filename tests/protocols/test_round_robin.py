"""The round-robin protocol driven through whole sessions, without a database.

A tiny driver plays the engine's part: it feeds events to the protocol and applies the actions
the way ``deliberation.debates.engine`` does (a new round clears who has spoken, a turn request
is recorded, a stored post or failed turn marks its author as spoken, Finish ends the session).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from deliberation.protocols.base import (
    CloseRound,
    Ended,
    Finish,
    OpenRound,
    PostStored,
    RequestTurn,
    Resumed,
    RoundAdvanced,
    SessionState,
    SettingsError,
    Speaker,
    Started,
    TurnFailed,
)
from deliberation.protocols.registry import PROTOCOLS, get_protocol
from deliberation.protocols.round_robin import MAX_ROUNDS, RoundRobin

# Participants given deliberately out of order, with ids unrelated to speaking positions.
MOD = Speaker(id=13, kind="human", role="moderator", position=0)
ALICE = Speaker(id=10, kind="human", role="debater", position=3)
ADA = Speaker(id=11, kind="agent", role="debater", position=1)
OBSERVER = Speaker(id=12, kind="human", role="observer", position=2)
BABBAGE = Speaker(id=14, kind="agent", role="debater", position=2)
BOB = Speaker(id=15, kind="human", role="debater", position=5)
PEOPLE = (ALICE, ADA, OBSERVER, MOD, BABBAGE, BOB)
ORDER = [ADA.id, BABBAGE.id, ALICE.id, BOB.id]  # ascending position, people and agents mixed
NON_DEBATERS = {MOD.id, OBSERVER.id}


class Driver:
    """Plays the engine: feeds one event, applies the returned actions to the state."""

    def __init__(self, participants=PEOPLE, rounds: int = 3, status: str = "draft"):
        self.protocol = RoundRobin()
        self.state = SessionState(
            status=status,
            settings=self.protocol.clean_settings({"rounds": rounds}),
            participants=tuple(participants),
        )
        self.asked: list[tuple[int, int]] = []  # (round, participant) in the order asked
        self.opened: list[int] = []
        self.closed: list[int] = []
        self.finish_reason: str | None = None
        self.actions: list = []

    # --- what the engine does ------------------------------------------------------------------
    def send(self, event) -> list:
        actions = self.protocol.handle(self.state, event)
        self.actions.extend(actions)
        for action in actions:
            self._apply(action)
        return actions

    def _apply(self, action) -> None:
        if isinstance(action, OpenRound):
            self.opened.append(action.number)
            self._set(round=action.number, spoken=frozenset())
        elif isinstance(action, CloseRound):
            self.closed.append(action.number)
        elif isinstance(action, RequestTurn):
            self.asked.append((self.state.round, action.participant_id))
        elif isinstance(action, Finish):
            self.finish_reason = action.reason
            self._set(status="finished")
        else:  # pragma: no cover
            raise AssertionError(f"unknown action {action!r}")

    def _set(self, **changes) -> None:
        self.state = dataclasses.replace(self.state, **changes)

    # --- what people do ------------------------------------------------------------------------
    def start(self) -> list:
        self._set(status="running")  # the service stores the status, then dispatches
        return self.send(Started())

    def pause(self) -> None:
        self._set(status="paused")

    def resume(self) -> list:
        self._set(status="running")
        return self.send(Resumed())

    def post(self, participant_id: int) -> list:
        self._set(spoken=self.state.spoken | {participant_id})
        return self.send(PostStored(participant_id))

    def fail(self, participant_id: int) -> list:
        self._set(spoken=self.state.spoken | {participant_id})
        return self.send(TurnFailed(participant_id))

    @property
    def last_asked(self) -> int:
        return self.asked[-1][1]

    def answer_until_finished(self, limit: int = 1000) -> None:
        """Whoever was asked last answers, until the session finishes."""
        for _ in range(limit):
            if self.state.status == "finished":
                return
            self.post(self.last_asked)
        raise AssertionError("the session never finished")

    def asked_in(self, round_number: int) -> list[int]:
        return [pid for rnd, pid in self.asked if rnd == round_number]


# --- whole sessions ----------------------------------------------------------------------------
def test_debaters_speak_in_position_order_people_and_agents_mixed():
    d = Driver(rounds=2)
    assert d.start() == [OpenRound(1), RequestTurn(ADA.id)]
    d.answer_until_finished()
    assert d.asked_in(1) == ORDER
    assert d.asked_in(2) == ORDER


def test_equal_positions_are_ordered_by_id():
    first = Speaker(id=7, kind="agent", role="debater", position=1)
    second = Speaker(id=9, kind="human", role="debater", position=1)
    d = Driver(participants=(second, MOD, first), rounds=1)
    d.start()
    d.answer_until_finished()
    assert d.asked_in(1) == [7, 9]


def test_each_debater_is_asked_exactly_once_per_round_and_nobody_else_ever():
    d = Driver(rounds=3)
    d.start()
    d.answer_until_finished()
    for number in (1, 2, 3):
        assert Counter(d.asked_in(number)) == Counter(ORDER)
    assert not {pid for _, pid in d.asked} & NON_DEBATERS


def test_session_finishes_after_the_configured_rounds_with_a_reason():
    d = Driver(rounds=3)
    d.start()
    d.answer_until_finished()
    assert d.opened == [1, 2, 3]
    assert d.closed == [1, 2, 3]
    assert d.finish_reason == "completed 3 rounds"
    assert d.state.status == "finished"
    # The last post closed the last round and finished, without opening another.
    assert d.actions[-2:] == [CloseRound(3), Finish("completed 3 rounds")]
    # Once finished, nothing more happens.
    for event in (PostStored(ADA.id), RoundAdvanced(), Resumed(), Started(), Ended()):
        assert d.protocol.handle(d.state, event) == []


def test_a_single_round_session_finishes_after_everyone_spoke_once():
    d = Driver(rounds=1)
    d.start()
    d.answer_until_finished()
    assert d.asked == [(1, pid) for pid in ORDER]
    assert d.finish_reason == "completed 1 round"


def test_a_failed_agent_turn_moves_on_to_the_next_speaker():
    d = Driver(rounds=2)
    d.start()
    assert d.fail(ADA.id) == [RequestTurn(BABBAGE.id)]
    assert d.fail(BABBAGE.id) == [RequestTurn(ALICE.id)]
    d.post(ALICE.id)
    assert d.post(BOB.id) == [CloseRound(1), OpenRound(2), RequestTurn(ADA.id)]
    # Failed agents are asked again in the next round, and were not re-asked in round 1.
    assert d.asked_in(1) == ORDER
    assert d.fail(ADA.id) == [RequestTurn(BABBAGE.id)]
    d.post(BABBAGE.id)
    d.post(ALICE.id)
    # The last debater of the round failing still closes the round (here, the session).
    assert d.fail(BOB.id) == [CloseRound(2), Finish("completed 2 rounds")]


def test_a_person_who_never_answers_is_skipped_when_the_moderator_advances():
    d = Driver(rounds=2)
    d.start()
    d.post(ADA.id)
    d.post(BABBAGE.id)
    assert d.last_asked == ALICE.id  # ... who does not answer
    assert d.send(RoundAdvanced()) == [CloseRound(1), OpenRound(2), RequestTurn(ADA.id)]
    assert d.state.round == 2 and d.state.spoken == frozenset()
    assert d.asked_in(1) == [ADA.id, BABBAGE.id, ALICE.id]  # bob was never asked in round 1
    d.post(ADA.id)
    # On the last round, advancing finishes the session.
    assert d.send(RoundAdvanced()) == [CloseRound(2), Finish("completed 2 rounds")]
    assert d.state.status == "finished"


def test_advancing_right_after_start_skips_everyone_of_round_one():
    d = Driver(rounds=3)
    d.start()
    assert d.send(RoundAdvanced()) == [CloseRound(1), OpenRound(2), RequestTurn(ADA.id)]
    assert d.send(RoundAdvanced()) == [CloseRound(2), OpenRound(3), RequestTurn(ADA.id)]
    assert d.send(RoundAdvanced()) == [CloseRound(3), Finish("completed 3 rounds")]


def test_ended_finishes_at_once():
    d = Driver(rounds=3)
    d.start()
    d.post(ADA.id)
    assert d.send(Ended()) == [CloseRound(1), Finish("ended by the moderator")]
    assert d.state.status == "finished" and d.opened == [1]


def test_ended_with_a_reason_and_before_any_round():
    d = Driver(rounds=3)
    assert d.send(Ended("out of time")) == [Finish("out of time")]  # no round 0 to close
    assert d.finish_reason == "out of time"


def test_ended_while_paused_finishes():
    d = Driver(rounds=3)
    d.start()
    d.pause()
    assert d.send(Ended()) == [CloseRound(1), Finish("ended by the moderator")]


# --- pause and resume --------------------------------------------------------------------------
def test_paused_session_asks_nobody_and_resume_asks_the_current_speaker():
    d = Driver(rounds=2)
    d.start()
    d.post(ADA.id)
    d.pause()
    # A post that arrives while paused (e.g. an agent that was mid-reply) is kept,
    # but nobody new is asked to speak.
    assert d.post(BABBAGE.id) == []
    assert d.send(Started()) == []
    assert d.last_asked == BABBAGE.id
    assert d.resume() == [RequestTurn(ALICE.id)]


def test_resume_asks_the_same_speaker_again_when_they_had_not_spoken():
    d = Driver(rounds=2)
    d.start()
    d.pause()
    assert d.resume() == [RequestTurn(ADA.id)]


def test_resume_after_the_round_ended_while_paused_opens_the_next_round():
    d = Driver(rounds=2)
    d.start()
    for pid in ORDER[:-1]:
        d.post(pid)
    d.pause()
    assert d.post(BOB.id) == []  # the round is complete, but paused: nothing moves
    assert d.resume() == [CloseRound(1), OpenRound(2), RequestTurn(ADA.id)]


def test_advancing_while_paused_opens_the_next_round_without_asking_anyone():
    d = Driver(rounds=2)
    d.start()
    d.pause()
    assert d.send(RoundAdvanced()) == [CloseRound(1), OpenRound(2)]
    assert d.asked == [(1, ADA.id)]
    assert d.resume() == [RequestTurn(ADA.id)]
    assert d.asked == [(1, ADA.id), (2, ADA.id)]


# --- edge cases --------------------------------------------------------------------------------
def test_start_without_debaters_finishes_with_no_debaters():
    d = Driver(participants=(MOD, OBSERVER), rounds=3)
    assert d.start() == [Finish("no debaters")]
    assert d.state.status == "finished" and d.asked == []


def test_start_before_the_status_is_running_does_nothing():
    d = Driver(rounds=3)
    assert d.send(Started()) == []  # still a draft
    assert d.asked == [] and d.opened == []


# --- may_post ----------------------------------------------------------------------------------
def test_may_post_only_for_the_current_speaker_while_running():
    d = Driver(rounds=2)
    rr = d.protocol
    everyone = [p.id for p in PEOPLE]
    assert not any(rr.may_post(d.state, pid) for pid in everyone)  # draft
    d.start()
    assert [pid for pid in everyone if rr.may_post(d.state, pid)] == [ADA.id]
    d.post(ADA.id)
    d.post(BABBAGE.id)
    assert [pid for pid in everyone if rr.may_post(d.state, pid)] == [ALICE.id]
    d.pause()
    assert not any(rr.may_post(d.state, pid) for pid in everyone)
    d.resume()
    assert rr.may_post(d.state, ALICE.id)
    d.send(Ended())
    assert not any(rr.may_post(d.state, pid) for pid in everyone)


def test_current_speaker_is_none_before_the_first_round_and_after_everyone_spoke():
    rr = RoundRobin()
    state = SessionState(status="running", settings={"rounds": 1}, participants=PEOPLE)
    assert rr.current_speaker(state) is None
    done = dataclasses.replace(state, round=1, spoken=frozenset(ORDER))
    assert rr.current_speaker(done) is None
    # Spoken non-debaters do not count as anybody's turn.
    partial = dataclasses.replace(state, round=1, spoken=frozenset({MOD.id, ADA.id}))
    assert rr.current_speaker(partial) == BABBAGE.id


# --- settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [None, {}])
def test_clean_settings_defaults_to_three_rounds(raw):
    assert RoundRobin().clean_settings(raw) == {"rounds": 3}


@pytest.mark.parametrize(("raw", "rounds"), [("4", 4), (4, 4), (1, 1), (MAX_ROUNDS, MAX_ROUNDS)])
def test_clean_settings_accepts_whole_numbers_in_range(raw, rounds):
    assert RoundRobin().clean_settings({"rounds": raw})["rounds"] == rounds


@pytest.mark.parametrize("raw", [0, -1, 51, "abc", True, False, None, 2.5, "", [3]])
def test_clean_settings_rejects(raw):
    with pytest.raises(SettingsError, match="rounds"):
        RoundRobin().clean_settings({"rounds": raw})


def test_clean_settings_does_not_change_its_input():
    raw = {"rounds": "4"}
    RoundRobin().clean_settings(raw)
    assert raw == {"rounds": "4"}


def test_registry_knows_round_robin_and_rejects_unknown_names():
    assert isinstance(get_protocol("round_robin"), RoundRobin)
    assert "round_robin" in PROTOCOLS
    with pytest.raises(KeyError, match="unknown protocol"):
        get_protocol("nope")
