"""SocraSynth: two debaters argue opposing stances at a contentiousness the moderator sets.

Exactly two debaters take part, each with an assigned stance (``Speaker.side``: the moderator's
choice, else the engine gives the question's first option to the first debater and the second
to the second; without any, the first argues for the proposition and the second against it).
They speak in turn, the first debater first, for ``rounds`` rounds, each seeing the whole debate.

The moderator sets a contentiousness level between 0 and 1 (``contentiousness``, live: it can
be changed while the session runs). Round r is argued at level ``c0 / decay**(r - 1)``, so the
debate cools down round by round (SocraSynth divides the level by 1.2 each round; ``decay`` = 1
keeps it constant). Each turn's instructions translate the level into a tone, after the paper's
table of contentiousness levels:

    ~0.9  highly confrontational: challenge every point, concede nothing without strong evidence
    ~0.7  assertive: press the stance firmly, accepting only well-supported points
    ~0.5  balanced: argue the stance and acknowledge the opponent's good points
    ~0.3  cooperative: seek common ground while keeping the stance
     0    conciliatory: look for agreement and a joint conclusion

With ``closing`` on (the default), a last "closing" round at level 0 asks each debater for a
conciliatory closing statement, as the SocraSynth moderator gathers final conciliatory remarks.
The final rule is the plurality of the last round's answers; with two opposed debaters it is
often a tie, which the moderator adjudicates.

Source: Edward Y. Chang, "SocraSynth: Multi-LLM Reasoning with Conditional Statistics",
arXiv:2402.06634 (2024); builds on Chang, "Examining GPT-4's Capabilities and Enhancement with
SocraSynth", CSCI 2023.
"""

from __future__ import annotations

from .base import MAX_ROUNDS, Brief, SessionState, Setting, Slot, TurnProtocol
from .common import quoted, two_debaters_problem

# (lowest level of the band, name, what the debater is asked to do)
TONES: tuple[tuple[float, str, str], ...] = (
    (
        0.8,
        "highly confrontational",
        "Challenge every point your opponent makes, expose every weakness in their evidence "
        "and reasoning, and concede nothing that is not backed by strong evidence.",
    ),
    (
        0.6,
        "assertive",
        "Press your stance firmly and question your opponent's weak points, while accepting "
        "the points they support well.",
    ),
    (
        0.4,
        "balanced",
        "Argue your stance, and acknowledge your opponent's good points where they have them.",
    ),
    (
        0.15,
        "cooperative",
        "Keep your stance but seek common ground: build on what you and your opponent agree on.",
    ),
    (
        0.0,
        "conciliatory",
        "Look for agreement: recognise the merits of your opponent's position and work "
        "towards a joint conclusion.",
    ),
)


def tone(level: float) -> tuple[str, str]:
    """The tone's name and instruction for a contentiousness level in [0, 1]."""
    for lowest, name, text in TONES:
        if level >= lowest:
            return name, text
    return TONES[-1][1], TONES[-1][2]


class Socratic(TurnProtocol):
    name = "socratic"
    title = "SocraSynth (two stances, contentiousness)"
    source = (
        "Chang, 'SocraSynth: Multi-LLM Reasoning with Conditional Statistics', "
        "arXiv:2402.06634 (2024)."
    )
    summary = (
        "Two debaters argue assigned opposing stances at a moderator-set contentiousness that "
        "decays each round, then give conciliatory closing statements."
    )
    settings_schema = (
        Setting(
            "contentiousness",
            "float",
            0.9,
            label="Contentiousness",
            help="0 (conciliatory) to 1 (highly confrontational): the tone of round 1. The "
            "moderator may change it during the session.",
            min=0.0,
            max=1.0,
            live=True,
        ),
        Setting(
            "decay",
            "float",
            1.2,
            label="Contentiousness decay",
            help="Round r is argued at contentiousness / decay^(r-1); 1 keeps it constant.",
            min=1.0,
            max=10.0,
        ),
        Setting(
            "rounds",
            "int",
            3,
            label="Rounds",
            help="Debate rounds; each debater speaks once per round.",
            min=1,
            max=MAX_ROUNDS - 1,
        ),
        Setting(
            "closing",
            "bool",
            True,
            label="Closing statements",
            help="End with a round of conciliatory closing statements.",
        ),
    )
    sequential = True
    sealed = False
    final_rule = "plurality"
    debater_count = 2

    def check_participants(self, state: SessionState) -> str | None:
        return two_debaters_problem(state, "SocraSynth")

    def nobody_reason(self, state: SessionState) -> str:
        return self.check_participants(state) or "no debaters"

    def planned_rounds(self, settings):
        return int(settings["rounds"]) + (1 if settings.get("closing") else 0)

    def round_plan(self, state: SessionState, number: int) -> tuple[str, list[Slot]] | None:
        if self.check_participants(state):
            return None
        slots = [(d.id, None) for d in state.debaters]
        rounds = state.settings["rounds"]
        if number <= rounds:
            return "argument", slots
        if number == rounds + 1 and state.settings["closing"]:
            return "closing", slots
        return None

    def contentiousness(self, state: SessionState, number: int | None = None) -> float:
        """The level of round ``number`` (the current round by default); 0 when closing."""
        number = state.round if number is None else number
        if number > state.settings["rounds"]:
            return 0.0
        level = state.settings["contentiousness"] / state.settings["decay"] ** (max(number, 1) - 1)
        return round(level, 3)

    def stance(self, state: SessionState, participant_id: int) -> str:
        speaker = state.speaker(participant_id)
        if speaker is not None and speaker.side:
            return speaker.side
        ids = [d.id for d in state.debaters]
        first = not ids or ids[0] == participant_id
        return "for the proposition" if first else "against the proposition"

    def brief(self, state: SessionState, slot: Slot) -> Brief:
        stance = self.stance(state, slot[0])
        if state.phase == "closing":
            return Brief(
                phase="closing",
                instructions=f"Closing statement (contentiousness 0, conciliatory). Your "
                f"stance was {quoted(stance)}. Summarise where you and your opponent now agree, "
                "what remains open, and the recommendation you would both accept.",
                context="transcript",
                assigned=stance,
            )
        level = self.contentiousness(state)
        name, text = tone(level)
        opening = (
            "Open the debate: state your strongest arguments."
            if state.round <= 1
            else "Answer your opponent's latest arguments and strengthen your case."
        )
        return Brief(
            phase="argument",
            instructions=f"Your assigned stance: {quoted(stance)}; your opponent defends the "
            f"opposing one. {opening} Contentiousness {level:.2f} ({name}): {text}",
            context="transcript",
            assigned=stance,
        )
