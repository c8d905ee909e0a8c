"""A pure driver that plays the engine's part, so protocols run whole sessions without a server.

It feeds one event to a protocol and applies the returned actions to a :class:`SessionState`
the way ``deliberation.debates.engine`` does with rows: OpenRound appends a round, CloseRound
closes it, RecordAbstention stores an abstained/skipped contribution, Finish ends the session,
and RequestTurn is recorded (checking that it asks for a slot of the open round that is not done
yet, while the session runs). Participants' actions append a contribution first (a post with an
answer, a failed agent turn...) and then send the matching event, as the services do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from deliberation.protocols.base import (
    Action,
    CloseRound,
    Contribution,
    DeadlinePassed,
    Ended,
    Finish,
    OpenRound,
    PostStored,
    Protocol,
    RecordAbstention,
    RequestTurn,
    Resumed,
    RoundAdvanced,
    RoundView,
    SessionState,
    SettingsChanged,
    Skipped,
    Slot,
    Speaker,
    Started,
    TurnFailed,
)

# --- a cast, deliberately out of order: ids unrelated to positions, people and agents mixed ----
MOD = Speaker(id=13, kind="human", role="moderator", position=0)
ALICE = Speaker(id=10, kind="human", role="debater", position=3)
ADA = Speaker(id=11, kind="agent", role="debater", position=1)
OBSERVER = Speaker(id=12, kind="human", role="observer", position=2)
BABBAGE = Speaker(id=14, kind="agent", role="debater", position=2)
BOB = Speaker(id=15, kind="human", role="debater", position=5)
JUDY = Speaker(id=16, kind="human", role="judge", position=6)
HAL = Speaker(id=17, kind="agent", role="judge", position=7)
FOUR = (ALICE, ADA, OBSERVER, MOD, BABBAGE, BOB)
ORDER = [ADA.id, BABBAGE.id, ALICE.id, BOB.id]  # debaters by position

# Two debaters with assigned sides (socratic and judged), given out of order.
PRO = Speaker(id=21, kind="agent", role="debater", position=1, side="yes")
CON = Speaker(id=20, kind="human", role="debater", position=2, side="no")
TWO = (CON, MOD, PRO, OBSERVER)


@dataclass(frozen=True)
class Reply:
    answer: Hashable | None
    confidence: float | None = None


FAIL = object()  # the agent turn fails
DEADLINE = object()  # the person never answers: the deadline passes
UNPARSED = object()  # the agent's answer cannot be read
NO_ANSWER = object()  # a post without an answer


class Driver:
    def __init__(
        self,
        protocol: Protocol,
        participants: Iterable[Speaker] = FOUR,
        settings: dict[str, Any] | None = None,
    ):
        self.protocol = protocol
        self.state = SessionState(
            status="draft",
            settings=protocol.clean_settings(settings),
            participants=tuple(participants),
        )
        self.requests: list[tuple[int, Slot]] = []  # (round, slot), every RequestTurn
        self.opened: list[tuple[int, str]] = []
        self.closed: list[int] = []
        self.abstentions: list[tuple[int, Slot, str]] = []
        self.finish_reason: str | None = None
        self.actions: list[Action] = []

    # --- the engine ----------------------------------------------------------------------------
    def send(self, event) -> list[Action]:
        actions = self.protocol.handle(self.state, event)
        self.actions.extend(actions)
        for action in actions:
            self._apply(action)
        return actions

    def _apply(self, action: Action) -> None:
        state = self.state
        assert state.status != "finished", f"{action!r} after the session finished"
        if isinstance(action, OpenRound):
            assert state.current is None or not state.current.open, "opened over an open round"
            assert action.number == state.round + 1, f"round {action.number} after {state.round}"
            self.opened.append((action.number, action.phase))
            self._set(rounds=(*state.rounds, RoundView(action.number, action.phase)))
        elif isinstance(action, CloseRound):
            current = state.current
            assert current is not None and current.open and action.number == current.number
            self.closed.append(action.number)
            self._set(rounds=(*state.rounds[:-1], replace(current, open=False)))
        elif isinstance(action, RequestTurn):
            slot = (action.participant_id, action.target_id)
            assert state.status == "running", f"{action!r} while {state.status}"
            assert state.current is not None and state.current.open
            assert slot not in state.done, f"{slot} asked again after speaking"
            assert slot in self.protocol.expected(state), f"{slot} asked but not expected"
            self.requests.append((state.round, slot))
        elif isinstance(action, RecordAbstention):
            slot = (action.participant_id, action.target_id)
            assert state.current is not None and state.current.open
            assert slot not in state.done
            self.abstentions.append((state.round, slot, action.reason))
            status = "abstained" if action.reason == "deadline" else "skipped"
            self.state = state.with_contribution(Contribution(*slot, status=status))
        elif isinstance(action, Finish):
            self.finish_reason = action.reason
            self._set(status="finished")
        else:  # pragma: no cover
            raise AssertionError(f"unknown action {action!r}")

    def _set(self, **changes) -> None:
        self.state = dataclasses.replace(self.state, **changes)

    # --- the moderator -------------------------------------------------------------------------
    def start(self) -> list[Action]:
        self._set(status="running")  # the service stores the status, then dispatches
        return self.send(Started())

    def pause(self) -> None:
        self._set(status="paused")

    def resume(self) -> list[Action]:
        self._set(status="running")
        return self.send(Resumed())

    def advance(self) -> list[Action]:
        return self.send(RoundAdvanced())

    def end(self, reason: str = "ended by the moderator") -> list[Action]:
        return self.send(Ended(reason))

    def skip(self, pid: int, target: int | None = None) -> list[Action]:
        return self.send(Skipped(pid, target))

    def change(self, **settings) -> list[Action]:
        cleaned = self.protocol.clean_settings({**self.state.settings, **settings})
        self._set(settings=cleaned)
        return self.send(SettingsChanged())

    # --- participants --------------------------------------------------------------------------
    def answer(
        self,
        pid: int,
        answer: Hashable | None = "A",
        target: int | None = None,
        confidence: float | None = None,
    ) -> list[Action]:
        self._expect((pid, target))
        return self._contribute(
            Contribution(pid, target, "answered", answer, confidence), PostStored(pid, target)
        )

    def late_answer(self, pid: int, answer: Hashable = "A", target: int | None = None):
        """A post that arrives while the turn is not expected (an agent mid-reply at pause)."""
        contribution = Contribution(pid, target, "answered", answer)
        return self._contribute(contribution, PostStored(pid, target))

    def unparsed(self, pid: int, target: int | None = None) -> list[Action]:
        self._expect((pid, target))
        return self._contribute(Contribution(pid, target, "unparsed"), PostStored(pid, target))

    def no_answer(self, pid: int, target: int | None = None) -> list[Action]:
        self._expect((pid, target))
        return self._contribute(Contribution(pid, target, "no_answer"), PostStored(pid, target))

    def fail(self, pid: int, target: int | None = None) -> list[Action]:
        self._expect((pid, target))
        return self._contribute(Contribution(pid, target, "failed"), TurnFailed(pid, target))

    def deadline(self, pid: int, target: int | None = None) -> list[Action]:
        return self.send(DeadlinePassed(pid, target))

    def _expect(self, slot: Slot) -> None:
        assert slot in self.protocol.expected(self.state), (
            f"{slot} speaks but expected {self.protocol.expected(self.state)}"
        )

    def _contribute(self, contribution: Contribution, event) -> list[Action]:
        self.state = self.state.with_contribution(contribution)
        return self.send(event)

    def reply(self, slot: Slot, outcome) -> list[Action]:
        pid, target = slot
        if outcome is FAIL:
            return self.fail(pid, target)
        if outcome is DEADLINE:
            return self.deadline(pid, target)
        if outcome is UNPARSED:
            return self.unparsed(pid, target)
        if outcome is NO_ANSWER:
            return self.no_answer(pid, target)
        if isinstance(outcome, Reply):
            return self.answer(pid, outcome.answer, target, outcome.confidence)
        return self.answer(pid, outcome, target)

    def run(self, outcome: Callable[[int, Slot], Any] = lambda rnd, slot: "A", limit=500):
        """Everyone expected replies with ``outcome(round, slot)`` until the session finishes."""
        for _ in range(limit):
            if self.state.status == "finished":
                return self
            expected = self.protocol.expected(self.state)
            assert expected, f"nobody expected in round {self.state.round}, yet not finished"
            self.reply(expected[0], outcome(self.state.round, expected[0]))
        raise AssertionError("the session never finished")

    # --- what happened -------------------------------------------------------------------------
    def asked_in(self, number: int) -> list[Slot]:
        """Slots requested in round ``number``, in first-request order, without repeats."""
        seen: list[Slot] = []
        for rnd, slot in self.requests:
            if rnd == number and slot not in seen:
                seen.append(slot)
        return seen

    def speakers_in(self, number: int) -> list[int]:
        return [pid for pid, _ in self.asked_in(number)]

    def spoke_in(self, number: int) -> list[Slot]:
        """Slots of round ``number`` in the order they were done (answers, failures, skips)."""
        rnd = next(r for r in self.state.rounds if r.number == number)
        return [c.slot for c in rnd.contributions]

    def statuses_in(self, number: int) -> dict[Slot, str]:
        rnd = next(r for r in self.state.rounds if r.number == number)
        return {c.slot: c.status for c in rnd.contributions}

    @property
    def phases(self) -> list[str]:
        return [phase for _, phase in self.opened]

    @property
    def expected(self) -> list[Slot]:
        return self.protocol.expected(self.state)


def ids(*speakers: Speaker) -> list[int]:
    return [s.id for s in speakers]


def slots(*speakers: Speaker) -> list[Slot]:
    return [(s.id, None) for s in speakers]
