"""Round robin: each round, every debater speaks once, in a fixed order.

The simplest turn-taking protocol: debaters (people and agents alike) speak in ascending
``position`` order; a round closes when everyone has spoken (or failed, or been skipped), or when
the moderator advances it; the session finishes after ``rounds`` rounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import (
    Action,
    CloseRound,
    Ended,
    Event,
    Finish,
    OpenRound,
    PostStored,
    Protocol,
    RequestTurn,
    Resumed,
    RoundAdvanced,
    SessionState,
    SettingsError,
    Started,
    TurnFailed,
)

MAX_ROUNDS = 50


class RoundRobin(Protocol):
    name = "round_robin"
    title = "Round robin"
    source = "Fixed-order turn taking; the baseline of most multi-agent debate frameworks."
    defaults = {"rounds": 3}

    def clean_settings(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        settings = super().clean_settings(raw)
        rounds = settings.get("rounds")
        if isinstance(rounds, bool) or not isinstance(rounds, int):
            try:
                rounds = int(str(rounds))
            except ValueError:
                raise SettingsError(f"rounds must be a whole number, not {rounds!r}") from None
        if not 1 <= rounds <= MAX_ROUNDS:
            raise SettingsError(f"rounds must be between 1 and {MAX_ROUNDS}")
        settings["rounds"] = rounds
        return settings

    def current_speaker(self, state: SessionState) -> int | None:
        if state.round == 0:
            return None
        for debater in state.debaters:
            if debater.id not in state.spoken:
                return debater.id
        return None

    def handle(self, state: SessionState, event: Event) -> list[Action]:
        if state.status == "finished":
            return []
        if isinstance(event, Ended):
            closing = [CloseRound(state.round)] if state.round else []
            return [*closing, Finish(event.reason)]
        if isinstance(event, RoundAdvanced):
            return self._next_round(state)
        if state.status != "running":
            return []  # paused or draft: a late post is kept but nobody new is asked to speak
        if isinstance(event, Started) and state.round == 0:
            if not state.debaters:
                return [Finish("no debaters")]
            return [OpenRound(1), RequestTurn(state.debaters[0].id)]
        if isinstance(event, Started | Resumed | PostStored | TurnFailed):
            speaker = self.current_speaker(state)
            if speaker is not None:
                return [RequestTurn(speaker)]
            return self._next_round(state)
        return []

    def _next_round(self, state: SessionState) -> list[Action]:
        actions: list[Action] = [CloseRound(state.round)] if state.round else []
        if state.round >= state.settings["rounds"]:
            n = state.settings["rounds"]
            return [*actions, Finish(f"completed {n} round{'' if n == 1 else 's'}")]
        actions.append(OpenRound(state.round + 1))
        if state.status == "running" and state.debaters:
            actions.append(RequestTurn(state.debaters[0].id))
        return actions
