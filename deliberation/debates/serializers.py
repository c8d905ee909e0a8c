"""Plain-data views of posts, participants and session state.

These dicts are what travels over the channel layer and the JSON WebSocket protocol
(documented in docs/websocket-protocol.md), and what templates render; keep them JSON-safe.
"""

from __future__ import annotations

from typing import Any

from .models import DebateSession, Participant, Post


def alias_for(position: int) -> str:
    """A neutral name from the speaking position: Participant A, B, ..., Z, AA, AB ..."""
    n, letters = max(position, 1), ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"Participant {letters}"


def participant_data(participant: Participant | None) -> dict[str, Any] | None:
    if participant is None:
        return None
    return {
        "id": participant.pk,
        "name": participant.display_name,
        "alias": alias_for(participant.position),
        "kind": participant.kind,
        "role": participant.role,
        "side": participant.side,
    }


def anonymised(person: dict[str, Any] | None) -> dict[str, Any] | None:
    """The same participant without name, model or person/agent marker."""
    if person is None or person.get("role") == "moderator":
        return person
    return {**person, "name": person["alias"], "kind": "participant"}


def post_data(post: Post) -> dict[str, Any]:
    """Serialise a post; expects ``author``, ``target`` and ``round`` loaded (select_related)."""
    return {
        "id": post.pk,
        "seq": post.seq,
        "kind": post.kind,
        "round": post.round.number if post.round_id else None,
        "phase": post.round.phase if post.round_id else "",
        "author": participant_data(post.author),
        "target": participant_data(post.target) if post.target_id else None,
        "text": post.text,
        "answer": post.answer,
        "confidence": post.confidence,
        "parse_status": post.parse_status,
        "data": post.data,
        "client_msg_id": post.client_msg_id,
        "created_at": post.created_at.isoformat(),
    }


def session_state_data(
    session: DebateSession,
    *,
    round_number: int,
    speaker: Participant | None,
    phase: str = "",
    expected: list[dict[str, Any]] | None = None,
    protocol_title: str = "",
    live_settings: list[dict[str, Any]] | None = None,
    rounds_total: int | None = None,
) -> dict[str, Any]:
    """The live state every page shows: status, round, who is expected, and who takes part."""
    return {
        "id": session.pk,
        "status": session.status,
        "protocol": session.protocol,
        "protocol_title": protocol_title,
        "round": round_number,
        "phase": phase,
        "rounds_total": rounds_total,
        "current_speaker": participant_data(speaker),
        "expected": expected or [],
        "finish_reason": session.finish_reason,
        "participants": [participant_data(pt) for pt in session.participants.all()],
        "live_settings": live_settings or [],
    }
