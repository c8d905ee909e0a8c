"""The protocol engine: turns stored rows into a protocol state, and protocol actions into rows.

Shared by every protocol. Callers hold the session row lock (``select_for_update``) inside a
transaction, so events of one session are handled one at a time, in order.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from deliberation.protocols import base as p
from deliberation.protocols.registry import get_protocol

from . import broadcast, signals
from .answers import answer_key
from .models import DebateSession, Participant, Post, Round, TurnDeadline
from .serializers import alias_for, participant_data, session_state_data

log = logging.getLogger(__name__)

ABSTENTION_EVENTS = {"abstained": "abstained", "skipped": "skipped"}


def current_round(session: DebateSession) -> Round | None:
    return session.rounds.order_by("-number").first()


def speakers(session: DebateSession) -> tuple[p.Speaker, ...]:
    return tuple(
        p.Speaker(id=pt.pk, kind=pt.kind, role=pt.role, position=pt.position, side=pt.side or None)
        for pt in session.participants.all()
    )


def load_state(session: DebateSession, upto_seq: int | None = None) -> p.SessionState:
    """Snapshot what the protocol needs: participants and every round's contributions.

    A post's answer becomes a hashable key (``answers.answer_key``) so protocols can compare
    answers; unparsed agent answers and abstentions are kept as such, never as a guess.

    ``upto_seq`` gives the state as it stood right after that post committed (for the replay):
    what happened from the next post on (posts, rounds opened or closed, turns that failed) is
    left out.
    """
    from deliberation.agents.models import AgentTurn

    rounds = list(
        session.rounds.order_by("number").values_list(
            "pk", "number", "phase", "status", "closed_at", "opened_at"
        )
    )
    posts = (
        Post.objects.filter(session=session, author__isnull=False, round__isnull=False)
        .filter(kind__in=(Post.Kind.ARGUMENT, Post.Kind.EVENT))
        .order_by("seq")
        .values_list(
            "round_id",
            "author_id",
            "target_id",
            "kind",
            "answer",
            "confidence",
            "parse_status",
            "data",
        )
    )
    ended = AgentTurn.objects.filter(
        session=session,
        status__in=(AgentTurn.Status.FAILED, AgentTurn.Status.CANCELLED),
        post__isnull=True,
    )
    session_status = session.status
    before = cut_time(session, upto_seq)
    if before is not None:
        posts = posts.filter(seq__lte=upto_seq)
        ended = ended.filter(finished_at__lt=before)
        rounds = [
            (pk, number, phase, _status_before(closed_at, before))
            for pk, number, phase, _, closed_at, opened_at in rounds
            if opened_at < before
        ]
        session_status = DebateSession.Status.RUNNING
    by_round: dict[int, list[p.Contribution]] = {pk: [] for pk, *_ in rounds}
    fmt, tolerance = session.answer_format, session.tolerance
    for round_id, author_id, target_id, kind, answer, confidence, parse_status, data in posts:
        if kind == Post.Kind.EVENT:
            status = ABSTENTION_EVENTS.get((data or {}).get("event"))
            if status:
                target = (data or {}).get("target")
                by_round[round_id].append(p.Contribution(author_id, target, status=status))
            continue
        if parse_status == Post.ParseStatus.UNPARSED:
            contribution = p.Contribution(author_id, target_id, status="unparsed")
        elif answer is not None or target_id is not None:
            contribution = p.Contribution(
                author_id,
                target_id,
                status="answered",
                answer=answer_key(answer, fmt, tolerance) if answer is not None else None,
                confidence=confidence,
            )
        else:
            contribution = p.Contribution(author_id, target_id, status="no_answer")
        by_round[round_id].append(contribution)
    for round_id, participant_id, target_id in ended.values_list(
        "round_id", "participant_id", "target_id"
    ):
        if round_id in by_round:
            by_round[round_id].append(p.Contribution(participant_id, target_id, status="failed"))
    return p.SessionState(
        status=session_status,
        settings=session.protocol_settings,
        participants=speakers(session),
        rounds=tuple(
            p.RoundView(number, phase, tuple(by_round[pk]), open=rstatus == Round.Status.OPEN)
            for pk, number, phase, rstatus, *_ in rounds
        ),
    )


def cut_time(session: DebateSession, upto_seq: int | None):
    """When the post after ``upto_seq`` was written: what existed before then is the session
    as it stood right after post ``upto_seq`` committed. None: no cut (the session as it is)."""
    if upto_seq is None:
        return None
    return (
        Post.objects.filter(session=session, seq__gt=upto_seq)
        .order_by("seq")
        .values_list("created_at", flat=True)
        .first()
    )


def _status_before(closed_at, before) -> str:
    if closed_at is not None and closed_at < before:
        return Round.Status.CLOSED
    return Round.Status.OPEN


def expected_slots(session: DebateSession, state: p.SessionState | None = None) -> list[p.Slot]:
    state = state or load_state(session)
    return get_protocol(session.protocol).expected(state)


def current_speaker(session: DebateSession) -> Participant | None:
    """The first participant expected to speak (several may be, in simultaneous rounds)."""
    slots = expected_slots(session)
    if not slots or session.status != DebateSession.Status.RUNNING:
        return None
    return session.participants.get(pk=slots[0][0])


def dispatch(session: DebateSession, event: p.Event) -> list[p.Action]:
    """Feed one event to the session's protocol and apply, in order, the actions it returns.

    The protocol answers from one snapshot with everything the event implies (e.g. close
    round 1, open round 2, ask its first speakers), so no state is reloaded in between.
    """
    protocol = get_protocol(session.protocol)
    actions = protocol.handle(load_state(session), event)
    for action in actions:
        _apply(session, action)
    publish_state(session)
    return actions


def _apply(session: DebateSession, action: p.Action) -> None:
    from deliberation.agents.services import request_agent_turn

    from .services import add_system_post, store_post

    now = timezone.now()
    if isinstance(action, p.OpenRound):
        rnd, created = Round.objects.get_or_create(
            session=session, number=action.number, defaults={"phase": action.phase}
        )
        if created:
            phase = f" ({action.phase})" if action.phase else ""
            add_system_post(session, f"Round {action.number}{phase} begins.", rnd)
    elif isinstance(action, p.CloseRound):
        closed = Round.objects.filter(
            session=session, number=action.number, status=Round.Status.OPEN
        ).update(status=Round.Status.CLOSED, closed_at=now)
        # Agents who have not started speaking in a closed round no longer will.
        _cancel_queued_turns(session, "round closed", round__number=action.number)
        TurnDeadline.objects.filter(
            session=session, round__number=action.number, status=TurnDeadline.Status.OPEN
        ).update(status=TurnDeadline.Status.CANCELLED)
        if closed:
            broadcast.send_on_commit(session.pk, {"type": "round.closed", "round": action.number})
            signals.round_closed.send(DebateSession, session=session, number=action.number)
    elif isinstance(action, p.RequestTurn):
        participant = session.participants.get(pk=action.participant_id)
        rnd = current_round(session)
        if participant.is_agent:
            target = session.participants.get(pk=action.target_id) if action.target_id else None
            request_agent_turn(session, rnd, participant, target)
        else:
            open_deadline(session, rnd, participant, action.target_id)
    elif isinstance(action, p.RecordAbstention):
        participant = session.participants.get(pk=action.participant_id)
        rnd = current_round(session)
        step = action.target_id or 0
        if action.reason == "deadline":
            text, event, status = (
                f"{public_name(session, participant)} did not answer in time (abstention).",
                "abstained",
                TurnDeadline.Status.EXPIRED,
            )
        else:
            text, event, status = (
                f"The moderator skipped {public_name(session, participant)}'s turn.",
                "skipped",
                TurnDeadline.Status.SKIPPED,
            )
        store_post(
            session,
            rnd,
            participant,
            Post.Kind.EVENT,
            text,
            data={"event": event, "target": action.target_id},
        )
        TurnDeadline.objects.filter(
            round=rnd, participant=participant, step=step, status=TurnDeadline.Status.OPEN
        ).update(status=status)
        _cancel_queued_turns(
            session, f"{event} by the moderator", round=rnd, participant=participant, step=step
        )
    elif isinstance(action, p.Finish):
        session.status = DebateSession.Status.FINISHED
        session.finished_at = now
        session.finish_reason = action.reason[:200]
        session.save(update_fields=["status", "finished_at", "finish_reason"])
        _cancel_queued_turns(session, "session finished")
        _end_running_turns(session, "session finished while the agent spoke")
        TurnDeadline.objects.filter(session=session, status=TurnDeadline.Status.OPEN).update(
            status=TurnDeadline.Status.CANCELLED
        )
        add_system_post(session, f"Session finished: {action.reason}.", current_round(session))
        session_id = session.pk
        transaction.on_commit(lambda: signals.session_finished.send(DebateSession, id=session_id))
    else:  # pragma: no cover - a protocol returned something the engine does not know
        raise TypeError(f"unknown protocol action {action!r}")


def _cancel_queued_turns(session: DebateSession, reason: str, **filters) -> None:
    from deliberation.agents.models import AgentTurn

    AgentTurn.objects.filter(session=session, status=AgentTurn.Status.QUEUED, **filters).update(
        status=AgentTurn.Status.CANCELLED, error=reason, finished_at=timezone.now()
    )


def _end_running_turns(session: DebateSession, reason: str) -> None:
    """Cancel the turns an agent is writing: nothing more is added to the session, so clients
    drop the partial text (``turn.reset``) and learn the turn ended (``turn.ended``). The worker,
    when it finishes, finds the turn no longer running and stores nothing (it keeps the reply on
    the turn for the record). An update, not a lock: a worker claiming the turn holds its row,
    never the session's, so this cannot deadlock with it."""
    from deliberation.agents.models import AgentTurn

    running = AgentTurn.objects.filter(session=session, status=AgentTurn.Status.RUNNING)
    for turn_id in list(running.values_list("pk", flat=True)):
        ended = AgentTurn.objects.filter(pk=turn_id, status=AgentTurn.Status.RUNNING).update(
            status=AgentTurn.Status.CANCELLED,
            error=reason,
            finished_at=timezone.now(),
            lease_until=None,
        )
        if ended:
            broadcast.send_on_commit(session.pk, {"type": "turn.reset", "turn_id": turn_id})
            broadcast.send_on_commit(
                session.pk,
                {"type": "turn.ended", "turn_id": turn_id, "status": AgentTurn.Status.CANCELLED},
            )


# --- people's deadlines ------------------------------------------------------------------------
def open_deadline(
    session: DebateSession, rnd: Round, participant: Participant, target_id: int | None
) -> TurnDeadline:
    """Give a person their turn with a deadline; the expiry task is scheduled on commit."""
    seconds = int(session.protocol_settings.get("turn_seconds") or 180)
    deadline, created = TurnDeadline.objects.get_or_create(
        round=rnd,
        participant=participant,
        step=target_id or 0,
        defaults={
            "session": session,
            "target_id": target_id,
            "due_at": timezone.now() + timedelta(seconds=seconds)
            if session.status == DebateSession.Status.RUNNING
            else None,
            "remaining_seconds": seconds,
        },
    )
    if created and deadline.due_at:
        schedule_expiry(deadline)
    return deadline


def schedule_expiry(deadline: TurnDeadline) -> None:
    deadline_id, due = deadline.pk, deadline.due_at
    transaction.on_commit(lambda: _send_expiry(deadline_id, due))


def _send_expiry(deadline_id: int, due) -> None:
    """Schedule the expiry task; never raises (it runs after commit, in the caller's socket or
    view, before the state broadcast). A deadline whose task could not be sent (the broker is
    down) is fired by the deadline sweeper (``sweep_deadlines``) once it is overdue."""
    from .tasks import expire_deadline

    try:
        expire_deadline.apply_async((deadline_id,), eta=due)
    except Exception:  # kombu's connection errors vary by transport
        log.warning(
            "could not schedule deadline %s; the deadline sweeper fires it",
            deadline_id,
            exc_info=True,
        )


def pause_deadlines(session: DebateSession) -> None:
    """Stop the clocks: keep what remains of each open deadline."""
    now = timezone.now()
    for deadline in session.deadlines.filter(status=TurnDeadline.Status.OPEN, due_at__isnull=False):
        deadline.remaining_seconds = max((deadline.due_at - now).total_seconds(), 0)
        deadline.due_at = None
        deadline.save(update_fields=["remaining_seconds", "due_at"])


def resume_deadlines(session: DebateSession) -> None:
    now = timezone.now()
    for deadline in session.deadlines.filter(status=TurnDeadline.Status.OPEN, due_at__isnull=True):
        deadline.due_at = now + timedelta(seconds=deadline.remaining_seconds or 0)
        deadline.save(update_fields=["due_at"])
        schedule_expiry(deadline)


def meet_deadline(session: DebateSession, participant: Participant, target_id: int | None):
    TurnDeadline.objects.filter(
        session=session,
        participant=participant,
        step=target_id or 0,
        status=TurnDeadline.Status.OPEN,
    ).update(status=TurnDeadline.Status.MET)


# --- what each participant sees ----------------------------------------------------------------
def hidden_from(state: p.SessionState, protocol, meta: p.PostMeta) -> tuple[list[int], str | None]:
    """Who may not see a post yet, and until when ("round" closes or the session "finish"es).

    Asked of the protocol's ``can_see`` once, when the post is stored, so that consumers can
    withhold it per viewer without reloading the session for every message.
    """
    viewers = [
        s
        for s in state.participants
        if s.role in ("debater", "judge", "observer") and s.id != meta.author_id
    ]
    hidden = [v for v in viewers if not protocol.can_see(state, v, meta)]
    if not hidden:
        return [], None
    current = state.current
    if current is not None and current.open:
        closed = replace(state, rounds=(*state.rounds[:-1], replace(current, open=False)))
        if all(protocol.can_see(closed, v, meta) for v in hidden):
            return [v.id for v in hidden], "round"
    return [v.id for v in hidden], "finish"


def post_meta(post: dict) -> p.PostMeta:
    return p.PostMeta(
        round=post.get("round"),
        author_id=(post.get("author") or {}).get("id"),
        kind=post["kind"],
        target_id=(post.get("target") or {}).get("id"),
    )


def anonymous_for(session: DebateSession, role: str | None) -> bool:
    """Whether a viewer with ``role`` sees participants under aliases (a fairness setting)."""
    if role in (None, Participant.Role.MODERATOR):
        return False
    protocol = get_protocol(session.protocol)
    if role == Participant.Role.JUDGE and getattr(protocol, "anonymous_to_judge", False):
        return True
    # Everyone but the moderator: an observer's page is often on a shared screen.
    return bool(session.protocol_settings.get("anonymise"))


def public_name(session: DebateSession, participant: Participant) -> str:
    """How text the server writes into the transcript (a failed turn, an abstention, a skip)
    names a participant: by alias when anyone in the session sees aliases, so that no stored
    text undoes the anonymity (such text reaches every viewer and every agent's prompt)."""
    protocol = get_protocol(session.protocol)
    anonymised = bool(session.protocol_settings.get("anonymise")) or getattr(
        protocol, "anonymous_to_judge", False
    )
    if anonymised and participant.role != Participant.Role.MODERATOR:
        return alias_for(participant.position)
    return participant.display_name


# --- the live state ----------------------------------------------------------------------------
def state_data(session: DebateSession) -> dict:
    state = load_state(session)
    protocol = get_protocol(session.protocol)
    slots = protocol.expected(state) if session.status == DebateSession.Status.RUNNING else []
    people = {pt.pk: pt for pt in session.participants.all()}
    deadlines = {
        (d.participant_id, d.step): d
        for d in session.deadlines.filter(status=TurnDeadline.Status.OPEN)
    }
    expected = []
    for pid, target in slots:
        deadline = deadlines.get((pid, target or 0))
        expected.append(
            {
                "participant": participant_data(people.get(pid)),
                "target": participant_data(people.get(target)) if target else None,
                "due_at": deadline.due_at.isoformat() if deadline and deadline.due_at else None,
                "remaining_seconds": deadline.remaining_seconds if deadline else None,
            }
        )
    speaker = people.get(slots[0][0]) if slots else None
    live = [
        {"name": s.name, "label": s.label or s.name, "value": session.protocol_settings.get(s.name)}
        for s in protocol.all_settings
        if s.live
    ]
    data = session_state_data(
        session,
        round_number=state.round,
        phase=state.phase,
        speaker=speaker,
        expected=expected,
        protocol_title=protocol.title,
        live_settings=live,
        rounds_total=protocol.rounds_total(session.protocol_settings),
    )
    if "review_score" in (session.protocol_settings or {}):
        data["review_score"] = session.protocol_settings["review_score"]  # the form's label
    if session.status == DebateSession.Status.FINISHED:
        from .outcomes import outcome_data, session_outcome

        data["outcome"] = outcome_data(session_outcome(session, state))
    return data


def publish_state(session: DebateSession) -> None:
    broadcast.send_on_commit(session.pk, {"type": "session.state", "state": state_data(session)})
    broadcast.changed_on_commit(session.pk)
