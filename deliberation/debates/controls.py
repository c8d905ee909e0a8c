"""The moderator's controls and people's deadlines.

Every moderator action is stored in the transcript as an ``event`` post (who did what, when,
with which details) before the protocol reacts to it, so a session can be audited and replayed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from deliberation.agents.services import requeue_turns
from deliberation.protocols import base as p
from deliberation.protocols.registry import get_protocol

from . import engine
from .models import DebateSession, Participant, TurnDeadline
from .services import InvalidInput, NotAllowed, add_event

CONTROL_ACTIONS = ("start", "pause", "resume", "advance", "end", "extend", "skip", "set")
MAX_EXTENSION = 24 * 3600


def control(participant: Participant, action: str, **params: Any) -> DebateSession:
    """Apply a moderator action.

    ``start``, ``pause``, ``resume``, ``advance`` (close the round now), ``end`` (the session,
    early), ``extend`` (``participant_id``, ``seconds``: more time for a person's turn),
    ``skip`` (``participant_id``: record the pending turn as skipped) and ``set``
    (``name``, ``value``: change a live protocol setting such as the speaking order).
    """
    if action not in CONTROL_ACTIONS:
        raise InvalidInput(f"Unknown action {action!r}.", "unknown_action")
    if participant.role != Participant.Role.MODERATOR:
        raise NotAllowed("Only the moderator can do that.", "forbidden")
    S = DebateSession.Status
    with transaction.atomic():
        session = DebateSession.objects.select_for_update().get(pk=participant.session_id)
        allowed = {
            "start": {S.DRAFT},
            "pause": {S.RUNNING},
            "resume": {S.PAUSED},
            "advance": {S.RUNNING, S.PAUSED},
            "end": {S.DRAFT, S.RUNNING, S.PAUSED},
            "extend": {S.RUNNING, S.PAUSED},
            "skip": {S.RUNNING, S.PAUSED},
            "set": {S.DRAFT, S.RUNNING, S.PAUSED},
        }[action]
        if session.status not in allowed:
            raise NotAllowed(f"Cannot {action} a session that is {session.status}.", "bad_state")
        who = participant
        if action == "start":
            _start(session, who)
        elif action == "pause":
            session.status = S.PAUSED
            session.save(update_fields=["status"])
            engine.pause_deadlines(session)
            add_event(session, who, "The moderator paused the session.", event="pause")
            engine.publish_state(session)
        elif action == "resume":
            session.status = S.RUNNING
            session.save(update_fields=["status"])
            engine.resume_deadlines(session)
            add_event(session, who, "The moderator resumed the session.", event="resume")
            engine.dispatch(session, p.Resumed())
            requeue_turns(session)
        elif action == "advance":
            rnd = engine.current_round(session)
            if rnd is None or rnd.status != rnd.Status.OPEN:
                raise NotAllowed("No round is open.", "bad_state")
            add_event(session, who, f"The moderator closed round {rnd.number}.", event="advance")
            engine.dispatch(session, p.RoundAdvanced())
        elif action == "end":
            add_event(session, who, "The moderator ended the session.", event="end")
            engine.dispatch(session, p.Ended())
        elif action == "extend":
            _extend(session, who, params.get("participant_id"), params.get("seconds"))
        elif action == "skip":
            _skip(session, who, params.get("participant_id"))
        else:
            _set(session, who, params.get("name"), params.get("value"))
    return session


def _start(session: DebateSession, who: Participant) -> None:
    protocol = get_protocol(session.protocol)
    _assign_sides(session, protocol)
    problem = protocol.check_participants(engine.load_state(session))
    if problem:
        raise NotAllowed(problem, "participants")
    session.status, session.started_at = DebateSession.Status.RUNNING, timezone.now()
    session.save(update_fields=["status", "started_at"])
    add_event(session, who, "The moderator started the session.", event="start")
    engine.dispatch(session, p.Started())


def _assign_sides(session: DebateSession, protocol) -> None:
    """Protocols with two assigned sides: give unassigned debaters the first two options.

    Without options (numeric or free-text questions) the sides are "for" and "against" the
    question's proposition.
    """
    if protocol.debater_count != 2:
        return
    debaters = list(session.participants.filter(role=Participant.Role.DEBATER))
    defaults = session.options[:2] if len(session.options) >= 2 else ["for", "against"]
    taken = {d.side for d in debaters if d.side}
    free = [side for side in defaults if side not in taken]
    for debater in debaters:
        if not debater.side and free:
            debater.side = free.pop(0)
            debater.save(update_fields=["side"])


def _pending_slot(session: DebateSession, participant_id: Any) -> tuple[Participant, p.Slot]:
    try:
        target = session.participants.get(pk=int(participant_id))
    except (TypeError, ValueError, Participant.DoesNotExist):
        raise InvalidInput("Choose a participant of this session.", "participant") from None
    # While paused nobody is expected to speak, but the pending turns are still there.
    state = replace(engine.load_state(session), status=DebateSession.Status.RUNNING)
    slots = [s for s in get_protocol(session.protocol).expected(state) if s[0] == target.pk]
    if not slots:
        raise NotAllowed(f"{target.display_name} has no pending turn.", "no_turn")
    return target, slots[0]


def _extend(session: DebateSession, who: Participant, participant_id: Any, seconds: Any) -> None:
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        raise InvalidInput("Give the extension in whole seconds.", "seconds") from None
    if not 1 <= seconds <= MAX_EXTENSION:
        raise InvalidInput(f"An extension is 1 to {MAX_EXTENSION} seconds.", "seconds")
    target, slot = _pending_slot(session, participant_id)
    deadline = TurnDeadline.objects.filter(
        session=session, participant=target, step=slot[1] or 0, status=TurnDeadline.Status.OPEN
    ).first()
    if deadline is None:
        raise NotAllowed(f"{target.display_name}'s turn has no deadline.", "no_deadline")
    if deadline.due_at is None:  # paused: extend what remains
        deadline.remaining_seconds = (deadline.remaining_seconds or 0) + seconds
    else:
        deadline.due_at += timedelta(seconds=seconds)
    deadline.save(update_fields=["due_at", "remaining_seconds"])
    if deadline.due_at:
        engine.schedule_expiry(deadline)
    add_event(
        session,
        who,
        f"The moderator gave {engine.public_name(session, target)} {seconds} more seconds.",
        event="extend",
        participant=target.pk,
        seconds=seconds,
    )
    engine.publish_state(session)


def _skip(session: DebateSession, who: Participant, participant_id: Any) -> None:
    target, slot = _pending_slot(session, participant_id)
    add_event(
        session,
        who,
        f"The moderator skipped {engine.public_name(session, target)}.",
        event="skip",
        participant=target.pk,
    )
    engine.dispatch(session, p.Skipped(*slot))


def _set(session: DebateSession, who: Participant, name: Any, value: Any) -> None:
    protocol = get_protocol(session.protocol)
    setting = next((s for s in protocol.all_settings if s.name == name), None)
    if setting is None:
        raise InvalidInput(f"{protocol.title} has no setting {name!r}.", "name")
    if not setting.live and session.status != DebateSession.Status.DRAFT:
        raise NotAllowed(f"{setting.label or name} cannot change once started.", "not_live")
    try:
        cleaned = protocol.clean_settings({**session.protocol_settings, name: value})
    except p.SettingsError as exc:
        raise InvalidInput(str(exc), "value") from None
    if setting.kind == "ids":
        known = set(session.participants.values_list("pk", flat=True))
        if set(cleaned[name]) - known:
            raise InvalidInput("The order lists someone who is not in this session.", "value")
    session.protocol_settings = cleaned
    session.save(update_fields=["protocol_settings"])
    add_event(
        session,
        who,
        f"The moderator set {setting.label or name} to {cleaned[name]}.",
        event="set",
        name=name,
        value=cleaned[name],
    )
    engine.dispatch(session, p.SettingsChanged())


def expire_deadline(deadline_id: int) -> str:
    """Fire a person's deadline if it is really due (see ``tasks.expire_deadline``)."""
    with transaction.atomic():
        session_id = (
            TurnDeadline.objects.filter(pk=deadline_id).values_list("session_id", flat=True).first()
        )
        if session_id is None:
            return "gone"
        session = DebateSession.objects.select_for_update().get(pk=session_id)
        deadline = TurnDeadline.objects.get(pk=deadline_id)
        if deadline.status != TurnDeadline.Status.OPEN:
            return deadline.status
        if session.status != DebateSession.Status.RUNNING or deadline.due_at is None:
            return "paused"  # resuming reschedules it
        if deadline.due_at > timezone.now():
            engine.schedule_expiry(deadline)  # extended, or delivered early: try again when due
            return "not due"
        engine.dispatch(session, p.DeadlinePassed(deadline.participant_id, deadline.target_id))
        deadline.refresh_from_db()
        if deadline.status == TurnDeadline.Status.OPEN:  # the protocol had no such slot any more
            deadline.status = TurnDeadline.Status.CANCELLED
            deadline.save(update_fields=["status"])
    return "expired"


def sweep_overdue_deadlines(grace_seconds: float = 5) -> int:
    """Expire every open deadline overdue by more than ``grace_seconds``; returns how many."""
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    overdue = TurnDeadline.objects.filter(
        status=TurnDeadline.Status.OPEN,
        due_at__lte=cutoff,
        session__status=DebateSession.Status.RUNNING,
    ).values_list("pk", flat=True)
    return sum(expire_deadline(pk) == "expired" for pk in list(overdue))
