"""Protocols by name, in the order the create-session form lists them."""

from __future__ import annotations

from .base import Protocol
from .judged import Judged
from .peer_review import PeerReview
from .round_robin import FreeDebate, RoundRobin
from .round_table import RoundTable
from .simultaneous import Simultaneous
from .socratic import Socratic
from .vote_only import VoteOnly

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        RoundRobin(),
        FreeDebate(),
        Simultaneous(),
        RoundTable(),
        PeerReview(),
        Socratic(),
        VoteOnly(),
        Judged(),
    )
}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None


def protocol_choices() -> list[tuple[str, str]]:
    return [(p.name, p.title) for p in PROTOCOLS.values()]
