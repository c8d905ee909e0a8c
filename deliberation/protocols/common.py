"""Pieces shared by several protocols: the ``rounds`` setting, answer look-ups, cast checks."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from .base import MAX_ROUNDS, SessionState, Setting, Speaker


def rounds_setting(default: int = 3, help: str = "Each debater speaks once per round.") -> Setting:
    return Setting("rounds", "int", default, label="Rounds", help=help, min=1, max=MAX_ROUNDS)


def latest_answers(state: SessionState, phases: Iterable[str] | None = None) -> dict[int, Hashable]:
    """Debater id -> their most recent usable (untargeted) answer, over every round so far.

    Only rounds whose phase is in ``phases`` count when it is given. Debaters who never gave a
    usable answer are absent. Reviews (targeted contributions) never count as answers.
    """
    wanted = set(phases) if phases is not None else None
    debaters = {d.id for d in state.debaters}
    latest: dict[int, Hashable] = {}
    for rnd in state.rounds:
        if wanted is not None and rnd.phase not in wanted:
            continue
        for pid, answer in rnd.answers().items():
            if pid in debaters:
                latest[pid] = answer
    return latest


def quoted(text: str | None) -> str:
    return f"\u201c{text}\u201d" if text else "your assigned position"


def two_debaters_problem(state: SessionState, title: str) -> str | None:
    """The message for a two-sided protocol whose debaters do not fit, else None."""
    debaters: list[Speaker] = state.debaters
    if len(debaters) != 2:
        return f"{title} needs exactly two debaters; this session has {len(debaters)}."
    first, second = (d.side for d in debaters)
    if first is not None and first == second:
        return (
            f"{title} needs the two debaters to defend different positions; both are assigned "
            f"{quoted(first)}."
        )
    return None
