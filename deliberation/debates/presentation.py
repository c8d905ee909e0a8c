"""What one viewer sees of a post: the fairness and visibility rules applied per viewer.

Posts are broadcast once to the whole session group; each connection then shows them to its
viewer as the protocol allows. A post the viewer may not see yet (another debater's answer in
a sealed round, a vote-only answer, a judge's verdict) arrives as a *sealed* placeholder and is
revealed when its round closes or the session finishes. Under anonymisation, debaters and
judges see aliases ("Participant B") with no model name and no person/agent marker; their
own posts and entries keep their name.
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


def passage_hidden(role: str | None, status: str | None) -> bool:
    """Whether a viewer with ``role`` may not read the session's passage now: judges judge by
    the debaters' quotes alone (Khan et al. 2024), until the session has finished. Moderators,
    debaters and observers (who have no say in the outcome) read it."""
    return role == Participant.Role.JUDGE and status != DebateSession.Status.FINISHED


def _alias(person: dict[str, Any] | None, viewer: Viewer) -> dict[str, Any] | None:
    """``person`` as ``viewer`` sees them: an alias, except for the viewer themself (who knows
    who they are; showing them their own alias only confuses)."""
    if person is not None and person.get("id") == viewer.participant_id:
        return person
    return anonymised(person)


def present(post: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    """``post`` as ``viewer`` sees it: aliases under anonymity; a system notice's ``detail``
    (a provider's error text, which may name its URL) for moderators only."""
    if "detail" in (post.get("data") or {}) and viewer.role != Participant.Role.MODERATOR:
        post = {**post, "data": {k: v for k, v in post["data"].items() if k != "detail"}}
    if not viewer.anonymous:
        return post
    return {
        **post,
        "author": _alias(post["author"], viewer),
        "target": _alias(post["target"], viewer),
    }


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


def as_seen(session: DebateSession, viewer: Viewer, posts: list[dict]) -> list[dict]:
    """``posts`` as ``viewer`` sees them now: sealed placeholders and aliases applied."""
    hidden = hidden_posts(session, viewer, posts)
    return [
        sealed(post, viewer, hidden[post["seq"]])
        if post["seq"] in hidden
        else present(post, viewer)
        for post in posts
    ]


def may_watch(event: dict[str, Any], viewer: Viewer) -> bool:
    """Whether ``viewer`` may watch an agent's reply stream in (``turn.*`` events carry the
    audience of the post the reply becomes; see ``agents.services.stream_audience``)."""
    if not event.get("sealed"):
        return True
    return viewer.role == Participant.Role.MODERATOR or viewer.participant_id in event.get(
        "visible_to", ()
    )


def present_turn(event: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    """A ``turn.started`` as ``viewer`` sees it: the agent under its alias when the viewer sees
    aliases, and ``sealed`` when the viewer may only learn that the agent is writing."""
    turn = event["turn"]
    if viewer.anonymous:
        turn = {**turn, "participant": _alias(turn["participant"], viewer)}
    return {**turn, "sealed": not may_watch(event, viewer)}


def present_state(state: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    """The live state with the viewer's aliases applied (names in the participant list too),
    and ``mine``: the viewer's own pending slot, if any."""
    if viewer.anonymous:
        state = {
            **state,
            "current_speaker": _alias(state.get("current_speaker"), viewer),
            "participants": [_alias(p, viewer) for p in state.get("participants", [])],
            "expected": [
                {
                    **slot,
                    "participant": _alias(slot["participant"], viewer),
                    "target": _alias(slot["target"], viewer),
                }
                for slot in state.get("expected", [])
            ],
        }
    mine = next(
        (s for s in state.get("expected", []) if s["participant"]["id"] == viewer.participant_id),
        None,
    )
    return {**state, "mine": mine}
