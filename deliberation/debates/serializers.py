"""Plain-data views of posts, participants and session state.

These dicts are what travels over the channel layer and the JSON WebSocket protocol
(documented in docs/websocket-protocol.md), and what templates render; keep them JSON-safe.
"""

from __future__ import annotations

from typing import Any

from .models import DebateSession, Participant, Post


def participant_data(participant: Participant | None) -> dict[str, Any] | None:
    if participant is None:
        return None
    return {
        "id": participant.pk,
        "name": participant.display_name,
        "kind": participant.kind,
        "role": participant.role,
    }


def post_data(post: Post) -> dict[str, Any]:
    """Serialise a post; expects ``author`` and ``round`` to be loaded (select_related)."""
    return {
        "id": post.pk,
        "seq": post.seq,
        "kind": post.kind,
        "round": post.round.number if post.round_id else None,
        "author": participant_data(post.author),
        "text": post.text,
        "answer": post.answer,
        "confidence": post.confidence,
        "client_msg_id": post.client_msg_id,
        "created_at": post.created_at.isoformat(),
    }


def session_state_data(
    session: DebateSession, *, round_number: int, speaker: Participant | None
) -> dict[str, Any]:
    """The live state every page shows: status, round, whose turn, and who takes part."""
    return {
        "id": session.pk,
        "status": session.status,
        "round": round_number,
        "rounds_total": session.protocol_settings.get("rounds"),
        "current_speaker": participant_data(speaker),
        "finish_reason": session.finish_reason,
        "participants": [participant_data(pt) for pt in session.participants.all()],
    }
