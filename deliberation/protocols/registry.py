"""Protocols by name."""

from __future__ import annotations

from .base import Protocol
from .round_robin import RoundRobin

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (RoundRobin(),)}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None


def protocol_choices() -> list[tuple[str, str]]:
    return [(p.name, p.title) for p in PROTOCOLS.values()]
