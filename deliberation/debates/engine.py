"""The protocol engine: turns stored rows into a protocol state, and protocol actions into rows.

Shared by every protocol. Callers hold the session row lock (``select_for_update``) inside a
transaction, so events of one session are handled one at a time, in order.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from deliberation.protocols import base as p
from deliberation.protocols.registry import get_protocol

from . import broadcast
from .models import DebateSession, Participant, Post, Round
from .serializers import session_state_data


def current_round(session: DebateSession) -> Round | None:
    return session.rounds.order_by("-number").first()


def load_state(session: DebateSession) -> p.SessionState:
    """Snapshot what the protocol needs: participants, the current round, who has spoken."""
    from deliberation.agents.models import AgentTurn

    rnd = current_round(session)
    participants = tuple(
        p.Speaker(id=pt.pk, kind=pt.kind, role=pt.role, position=pt.position)
        for pt in session.participants.all()
    )
    spoken: frozenset[int] = frozenset()
    if rnd is not None:
        posted = Post.objects.filter(
            round=rnd, kind=Post.Kind.ARGUMENT, author__isnull=False
        ).values_list("author_id", flat=True)
        ended_turns = AgentTurn.objects.filter(
            Q(status=AgentTurn.Status.FAILED) | Q(status=AgentTurn.Status.CANCELLED), round=rnd
        ).values_list("participant_id", flat=True)
        spoken = frozenset(posted) | frozenset(ended_turns)
    return p.SessionState(
        status=session.status,
        settings=session.protocol_settings,
        participants=participants,
        round=rnd.number if rnd else 0,
        spoken=spoken,
    )


def current_speaker(session: DebateSession) -> Participant | None:
    state = load_state(session)
    speaker_id = get_protocol(session.protocol).current_speaker(state)
    if speaker_id is None or state.status != DebateSession.Status.RUNNING:
        return None
    return session.participants.get(pk=speaker_id)


def dispatch(session: DebateSession, event: p.Event) -> list[p.Action]:
    """Feed one event to the session's protocol and apply, in order, the actions it returns.

    The protocol answers from one snapshot with everything the event implies (e.g. close
    round 1, open round 2, ask its first speaker), so no state is reloaded in between.
    """
    protocol = get_protocol(session.protocol)
    actions = protocol.handle(load_state(session), event)
    for action in actions:
        _apply(session, action)
    publish_state(session)
    return actions


def _apply(session: DebateSession, action: p.Action) -> None:
    from deliberation.agents.services import request_agent_turn

    from .services import add_system_post

    now = timezone.now()
    if isinstance(action, p.OpenRound):
        rnd, created = Round.objects.get_or_create(session=session, number=action.number)
        if created:
            add_system_post(session, f"Round {action.number} begins.", rnd)
    elif isinstance(action, p.CloseRound):
        Round.objects.filter(
            session=session, number=action.number, status=Round.Status.OPEN
        ).update(status=Round.Status.CLOSED, closed_at=now)
        # Agents who have not started speaking in a closed round no longer will.
        _cancel_queued_turns(session, "round closed", round__number=action.number)
    elif isinstance(action, p.RequestTurn):
        participant = session.participants.get(pk=action.participant_id)
        if participant.is_agent:
            request_agent_turn(session, current_round(session), participant)
    elif isinstance(action, p.Finish):
        session.status = DebateSession.Status.FINISHED
        session.finished_at = now
        session.finish_reason = action.reason[:200]
        session.save(update_fields=["status", "finished_at", "finish_reason"])
        _cancel_queued_turns(session, "session finished")
        add_system_post(session, f"Session finished: {action.reason}.", current_round(session))
    else:  # pragma: no cover - a protocol returned something the engine does not know
        raise TypeError(f"unknown protocol action {action!r}")


def _cancel_queued_turns(session: DebateSession, reason: str, **filters) -> None:
    from deliberation.agents.models import AgentTurn

    AgentTurn.objects.filter(session=session, status=AgentTurn.Status.QUEUED, **filters).update(
        status=AgentTurn.Status.CANCELLED, error=reason, finished_at=timezone.now()
    )


def state_data(session: DebateSession) -> dict:
    rnd = current_round(session)
    return session_state_data(
        session, round_number=rnd.number if rnd else 0, speaker=current_speaker(session)
    )


def publish_state(session: DebateSession) -> None:
    broadcast.send_on_commit(session.pk, {"type": "session.state", "state": state_data(session)})
