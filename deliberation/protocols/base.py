"""The protocol contract: a pure state machine over plain data.

A protocol receives the session's state (a :class:`SessionState` snapshot built from stored rows)
and an event, and returns the actions the engine must carry out. It does no I/O, so every protocol
can be driven through whole sessions in unit tests without a database or a server. The engine
(``deliberation.debates.engine``) turns rows into a state, calls the protocol, and applies the
actions in the same transaction.

Actions are idempotent by design: asking for a turn that is already requested is a no-op, so a
protocol may simply say "this is what should be happening now" after every event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


# --- state -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Speaker:
    id: int
    kind: str  # "human" or "agent"
    role: str  # "moderator", "debater" or "observer"
    position: int


@dataclass(frozen=True)
class SessionState:
    status: str  # draft, running, paused, finished
    settings: Mapping[str, Any]
    participants: Sequence[Speaker]
    round: int = 0  # the open round's number, 0 before the first round opens
    # Debaters whose turn in the current round is over: they posted, their agent turn failed or
    # was cancelled, or the moderator skipped them.
    spoken: frozenset[int] = field(default_factory=frozenset)

    @property
    def debaters(self) -> list[Speaker]:
        return sorted(
            (p for p in self.participants if p.role == "debater"), key=lambda p: (p.position, p.id)
        )


# --- events ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Started:
    pass


@dataclass(frozen=True)
class Resumed:
    pass


@dataclass(frozen=True)
class PostStored:
    participant_id: int


@dataclass(frozen=True)
class TurnFailed:
    participant_id: int


@dataclass(frozen=True)
class RoundAdvanced:
    """The moderator closes the current round now, whoever has not spoken yet."""


@dataclass(frozen=True)
class Ended:
    reason: str = "ended by the moderator"


Event = Started | Resumed | PostStored | TurnFailed | RoundAdvanced | Ended


# --- actions -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenRound:
    number: int


@dataclass(frozen=True)
class CloseRound:
    number: int


@dataclass(frozen=True)
class RequestTurn:
    participant_id: int


@dataclass(frozen=True)
class Finish:
    reason: str


Action = OpenRound | CloseRound | RequestTurn | Finish


class SettingsError(ValueError):
    """Invalid protocol settings; the message names the setting at fault."""


class Protocol:
    """Base class: subclasses set ``name``/``title``/``source`` and implement ``handle``."""

    name: ClassVar[str]
    title: ClassVar[str]
    source: ClassVar[str]
    defaults: ClassVar[Mapping[str, Any]] = {}

    def clean_settings(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return validated settings with defaults filled in, or raise SettingsError."""
        return {**self.defaults, **(raw or {})}

    def handle(self, state: SessionState, event: Event) -> list[Action]:
        raise NotImplementedError

    def current_speaker(self, state: SessionState) -> int | None:
        """The participant whose turn it is, or None when nobody is expected to speak."""
        raise NotImplementedError

    def may_post(self, state: SessionState, participant_id: int) -> bool:
        return state.status == "running" and self.current_speaker(state) == participant_id
