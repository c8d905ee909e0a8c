"""Round robin and free debate: debaters speak one after another, round after round.

Round robin is the turn taking of most multi-agent debate frameworks (AutoGen's round-robin group
chat, ChatArena's sequential environments): in each round every debater, person or agent, speaks
once in a fixed order (their joining position, ties broken by id) and sees everything said
before, including the earlier speakers of the same round. The session ends after ``rounds``
rounds. The final answer is the plurality of the last round's answers.

Free debate keeps the rounds but lets the moderator set, and change while the session runs, the
speaking order (the live ``order`` setting), as a chair gives the floor in a meeting. A new order
takes effect at once for those who have not yet spoken in the current round; debaters the order
does not name follow in joining order.

Sources: Wu et al. 2023, "AutoGen: Enabling Next-Gen LLM Applications via Multi-Agent
Conversation" (arXiv:2308.08155), round-robin group chat; Wu et al. 2023, "ChatArena:
Multi-Agent Language Game Environments for Large Language Models" (GitHub, Farama-Foundation).
"""

from __future__ import annotations

from .base import (
    MAX_ROUNDS,
    Brief,
    SessionState,
    Setting,
    Slot,
    Speaker,
    TurnProtocol,
    ordered_debaters,
)
from .common import rounds_setting

__all__ = ["MAX_ROUNDS", "ROUNDS", "FreeDebate", "RoundRobin"]

ROUNDS = rounds_setting(3)


class RoundRobin(TurnProtocol):
    name = "round_robin"
    title = "Round robin"
    source = (
        "Fixed-order turn taking, the baseline of multi-agent debate frameworks (AutoGen's "
        "round-robin group chat, Wu et al. 2023, arXiv:2308.08155; ChatArena)."
    )
    summary = "Every debater speaks once per round in joining order; plurality of the last round."
    settings_schema = (ROUNDS,)

    def round_plan(self, state: SessionState, number: int) -> tuple[str, list[Slot]] | None:
        if number > state.settings["rounds"] or not state.debaters:
            return None
        return "discussion", [(d.id, None) for d in self.speaking_order(state)]

    def speaking_order(self, state: SessionState) -> list[Speaker]:
        return state.debaters

    def brief(self, state: SessionState, slot: Slot) -> Brief:
        total = state.settings["rounds"]
        if state.round <= 1:
            text = "Give your answer to the question and the reasoning that supports it."
        else:
            text = (
                "Read what the others have said so far. Respond to their strongest points, "
                "then give your current answer; change it if you have been convinced."
            )
        if state.round == total and total > 1:
            text += " This is the last round: your answer now counts for the final result."
        return Brief(phase=state.phase, instructions=text, context="transcript")


class FreeDebate(RoundRobin):
    name = "free_debate"
    title = "Free debate"
    source = "A chaired discussion: the moderator sets (and may change) the speaking order."
    summary = "Debaters speak in the moderator's order, which can change between turns."
    settings_schema = (
        ROUNDS,
        Setting(
            "order",
            "ids",
            [],
            label="Speaking order",
            help="Participant ids in speaking order; others follow by joining order. "
            "The moderator may change it during the session.",
            live=True,
        ),
    )

    def speaking_order(self, state: SessionState) -> list[Speaker]:
        return ordered_debaters(state)
