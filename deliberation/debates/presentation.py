"""What one viewer sees of a post: the fairness and visibility rules applied per viewer.

Posts are broadcast once to the whole session group; each connection then shows them to its
viewer as the protocol allows. A post the viewer may not see yet (another debater's answer in
a sealed round, a vote-only answer, a judge's verdict) arrives as a *sealed* placeholder and is
revealed when its round closes or the session finishes. Under anonymisation, debaters and
judges see aliases ("Participant B") with no model name and no person/agent marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deliberation.protocols.registry import get_protocol

from . import engine
from .models import DebateSession, Participant
from .serializers import anonymised


@dataclass(frozen=True)
class Viewer:
    participant_id: int
    role: str
    anonymous: bool

    @classmethod
    def of(cls, participant: Participant) -> Viewer:
        return cls(
            participant.pk,
            participant.role,
            engine.anonymous_for(participant.session, participant.role),
        )


def present(post: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    if not viewer.anonymous:
        return post
    return {**post, "author": anonymised(post["author"]), "target": anonymised(post["target"])}


def sealed(post: dict[str, Any], viewer: Viewer, until: str) -> dict[str, Any]:
    """A placeholder that says someone answered, without what they said."""
    shown = present(post, viewer)
    return {
        **{k: shown[k] for k in ("id", "seq", "round", "phase", "author", "target", "created_at")},
        "kind": "sealed",
        "sealed_until": until,
        "text": "",
        "answer": None,
        "confidence": None,
        "parse_status": "",
        "data": {},
        "client_msg_id": None,
    }


def hidden_posts(session: DebateSession, viewer: Viewer, posts: list[dict]) -> dict[int, str]:
    """For catch-up: which of ``posts`` this viewer may not see yet (seq -> until)."""
    if viewer.role == Participant.Role.MODERATOR:
        return {}
    protocol = get_protocol(session.protocol)
    state = engine.load_state(session)
    me = state.speaker(viewer.participant_id)
    out: dict[int, str] = {}
    for post in posts:
        if post["kind"] != "argument" or not post["author"]:
            continue
        meta = engine.post_meta(post)
        if not protocol.can_see(state, me, meta):
            _, until = engine.hidden_from(state, protocol, meta)
            out[post["seq"]] = until or "finish"
    return out


def present_state(state: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    """The live state with the viewer's aliases applied (names in the participant list too),
    and ``mine``: the viewer's own pending slot, if any."""
    if viewer.anonymous:
        state = {
            **state,
            "current_speaker": anonymised(state.get("current_speaker")),
            "participants": [anonymised(p) for p in state.get("participants", [])],
            "expected": [
                {
                    **slot,
                    "participant": anonymised(slot["participant"]),
                    "target": anonymised(slot["target"]),
                }
                for slot in state.get("expected", [])
            ],
        }
    mine = next(
        (s for s in state.get("expected", []) if s["participant"]["id"] == viewer.participant_id),
        None,
    )
    return {**state, "mine": mine}
