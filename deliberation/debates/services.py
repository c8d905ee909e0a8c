"""Use cases of a debate session: the only code that writes session state.

Each function runs in one transaction and takes the session row lock, so sequence numbers and
protocol events of one session are serialised. Services know nothing of HTTP or WebSockets;
they raise :class:`ServiceError` with a stable ``code`` that transports turn into a response.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from deliberation.protocols import base as p
from deliberation.protocols.registry import get_protocol

from . import broadcast, engine
from .models import DebateSession, Participant, Post, Round
from .serializers import post_data


class ServiceError(Exception):
    code = "invalid"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class NotAllowed(ServiceError):
    code = "forbidden"


class InvalidInput(ServiceError):
    code = "invalid"


# --- sessions and participants -----------------------------------------------------------------
def create_session(
    *,
    moderator,
    title: str,
    question: str,
    answer_format: str = DebateSession.AnswerFormat.SINGLE_CHOICE,
    options: Iterable[str] = (),
    protocol: str = "round_robin",
    protocol_settings: dict[str, Any] | None = None,
    join_role: str = DebateSession.JoinRole.DEBATER,
    agent_profiles: Iterable = (),
) -> DebateSession:
    """Create a draft session with its moderator and agent debaters (who speak in this order)."""
    if answer_format not in DebateSession.AnswerFormat.values:
        raise InvalidInput(f"Unknown answer format {answer_format!r}.", "answer_format")
    if join_role not in DebateSession.JoinRole.values:
        raise InvalidInput(
            f"Invitees can join as debater or observer, not {join_role!r}.", "join_role"
        )
    options = [o.strip() for o in options if o and o.strip()]
    if answer_format == DebateSession.AnswerFormat.SINGLE_CHOICE and len(options) < 2:
        raise InvalidInput("A single-choice question needs at least two options.", "options")
    if len(set(o.lower() for o in options)) != len(options):
        raise InvalidInput("Options must be distinct.", "options")
    try:
        cleaned = get_protocol(protocol).clean_settings(protocol_settings)
    except (KeyError, p.SettingsError) as exc:
        raise InvalidInput(str(exc), "protocol_settings") from exc
    with transaction.atomic():
        session = DebateSession.objects.create(
            title=title.strip(),
            question=question.strip(),
            answer_format=answer_format,
            options=options if answer_format == DebateSession.AnswerFormat.SINGLE_CHOICE else [],
            protocol=protocol,
            protocol_settings=cleaned,
            join_role=join_role,
            created_by=moderator,
        )
        Participant.objects.create(
            session=session,
            kind=Participant.Kind.HUMAN,
            user=moderator,
            role=Participant.Role.MODERATOR,
            display_name=_display_name(moderator),
            position=0,
        )
        for position, profile in enumerate(agent_profiles, start=1):
            add_agent(session, profile, position=position)
    return session


def add_agent(session: DebateSession, profile, *, position: int | None = None) -> Participant:
    if position is None:
        position = _next_position(session)
    return Participant.objects.create(
        session=session,
        kind=Participant.Kind.AGENT,
        agent_profile=profile,
        role=Participant.Role.DEBATER,
        display_name=profile.name,
        position=position,
    )


def join_session(user, invite_token: str) -> Participant:
    """Join through an invite link; joining twice returns the existing participation."""
    with transaction.atomic():
        try:
            session = DebateSession.objects.select_for_update().get(invite_token=invite_token)
        except DebateSession.DoesNotExist:
            raise NotAllowed("This invite link is not valid.", "bad_invite") from None
        existing = session.participants.filter(user=user).first()
        if existing:
            return existing
        if session.status == DebateSession.Status.FINISHED:
            raise NotAllowed("This session has finished.", "finished")
        participant = Participant.objects.create(
            session=session,
            kind=Participant.Kind.HUMAN,
            user=user,
            role=session.join_role,
            display_name=_display_name(user),
            position=_next_position(session),
        )
        engine.publish_state(session)
    return participant


def participant_for(session_id: int, user) -> Participant | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        Participant.objects.select_related("session")
        .filter(session_id=session_id, user=user)
        .first()
    )


def _display_name(user) -> str:
    return (user.get_full_name() or user.get_username())[:100]


def _next_position(session: DebateSession) -> int:
    top = session.participants.aggregate(top=Max("position"))["top"]
    return (top or 0) + 1


# --- posts -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PostResult:
    post: Post
    created: bool  # False when a client retry returned the post stored the first time


def submit_post(
    participant: Participant,
    text: str,
    *,
    client_msg_id: str | None = None,
    answer: Any = None,
    confidence: float | None = None,
) -> PostResult:
    """Store a person's post and let the protocol react; broadcast on commit.

    Moderators post notes at any time while the session is open; debaters post arguments when
    the protocol gives them the turn. A retry with the same ``client_msg_id`` returns the post
    stored the first time instead of creating a second one.
    """
    text = (text or "").strip()
    client_msg_id = (str(client_msg_id).strip()[:64] or None) if client_msg_id else None
    if client_msg_id:
        existing = _existing_post(participant, client_msg_id)
        if existing:
            return PostResult(existing, created=False)
    limit = settings.DELIBERATION["MAX_POST_CHARS"]
    if not text:
        raise InvalidInput("A post cannot be empty.", "empty")
    if len(text) > limit:
        raise InvalidInput(
            f"A post can have at most {limit} characters ({len(text)} sent).", "too_long"
        )
    if not participant.can_post:
        raise NotAllowed("Observers can read but not post.", "forbidden")
    answer, confidence = _clean_answer(participant.session, answer, confidence)

    try:
        with transaction.atomic():
            session = DebateSession.objects.select_for_update().get(pk=participant.session_id)
            if client_msg_id:
                # Checked again under the lock: a racing duplicate waited for the first one.
                existing = _existing_post(participant, client_msg_id)
                if existing:
                    return PostResult(existing, created=False)
            if participant.role == Participant.Role.MODERATOR:
                if session.status == DebateSession.Status.FINISHED:
                    raise NotAllowed("The session has finished.", "finished")
                post = store_post(
                    session,
                    engine.current_round(session),
                    participant,
                    Post.Kind.NOTE,
                    text,
                    client_msg_id=client_msg_id,
                )
                return PostResult(post, created=True)
            state = engine.load_state(session)
            protocol = get_protocol(session.protocol)
            if not protocol.may_post(state, participant.pk):
                raise NotAllowed(_why_not_your_turn(session), "not_your_turn")
            post = store_post(
                session,
                engine.current_round(session),
                participant,
                Post.Kind.ARGUMENT,
                text,
                answer=answer,
                confidence=confidence,
                client_msg_id=client_msg_id,
            )
            engine.dispatch(session, p.PostStored(participant.pk))
            return PostResult(post, created=True)
    except IntegrityError:
        # Two deliveries of the same client message raced; the other one stored it.
        existing = _existing_post(participant, client_msg_id) if client_msg_id else None
        if existing is None:
            raise
        return PostResult(existing, created=False)


def _existing_post(participant: Participant, client_msg_id: str) -> Post | None:
    return (
        Post.objects.select_related("author", "round")
        .filter(author=participant, client_msg_id=client_msg_id)
        .first()
    )


def _why_not_your_turn(session: DebateSession) -> str:
    if session.status == DebateSession.Status.DRAFT:
        return "The session has not started yet."
    if session.status == DebateSession.Status.PAUSED:
        return "The session is paused."
    if session.status == DebateSession.Status.FINISHED:
        return "The session has finished."
    speaker = engine.current_speaker(session)
    return f"It is {speaker.display_name}'s turn." if speaker else "Nobody is to speak right now."


def _clean_answer(session: DebateSession, answer: Any, confidence: Any) -> tuple[Any, float | None]:
    """Validate a structured answer against the session's answer format."""
    if answer in (None, ""):
        answer = None
    elif session.answer_format == DebateSession.AnswerFormat.SINGLE_CHOICE:
        if answer not in session.options:
            raise InvalidInput(f"Answer must be one of: {', '.join(session.options)}.", "answer")
    elif session.answer_format == DebateSession.AnswerFormat.NUMERIC:
        try:
            answer = float(answer)
        except (TypeError, ValueError):
            raise InvalidInput("Answer must be a number.", "answer") from None
        if not math.isfinite(answer):
            raise InvalidInput("Answer must be a finite number.", "answer")
    else:
        answer = str(answer).strip()[:1000]
    if confidence in (None, ""):
        return answer, None
    try:
        confidence = float(confidence)
    except (TypeError, ValueError):
        raise InvalidInput("Confidence must be a number between 0 and 1.", "confidence") from None
    if not 0 <= confidence <= 1:
        raise InvalidInput("Confidence must be between 0 and 1.", "confidence")
    return answer, confidence


def store_post(
    session: DebateSession,
    rnd: Round | None,
    author: Participant | None,
    kind: str,
    text: str,
    *,
    answer: Any = None,
    confidence: float | None = None,
    client_msg_id: str | None = None,
) -> Post:
    """Append a post with the next sequence number; the caller holds the session lock."""
    last = session.posts.aggregate(last=Max("seq"))["last"] or 0
    post = Post.objects.create(
        session=session,
        seq=last + 1,
        round=rnd,
        author=author,
        kind=kind,
        text=text,
        answer=answer,
        confidence=confidence,
        client_msg_id=client_msg_id,
    )
    broadcast.send_on_commit(session.pk, {"type": "post.created", "post": post_data(post)})
    return post


def add_system_post(session: DebateSession, text: str, rnd: Round | None = None) -> Post:
    return store_post(session, rnd, None, Post.Kind.SYSTEM, text)


def posts_after(session_id: int, after_seq: int, upto_seq: int | None = None) -> list[dict]:
    """Posts with ``after_seq < seq <= upto_seq``, in order, as plain data (for catch-up)."""
    qs = Post.objects.filter(session_id=session_id, seq__gt=after_seq)
    if upto_seq is not None:
        qs = qs.filter(seq__lte=upto_seq)
    return [post_data(post) for post in qs.select_related("author", "round").order_by("seq")]


def last_seq(session_id: int) -> int:
    return Post.objects.filter(session_id=session_id).aggregate(last=Max("seq"))["last"] or 0


# --- moderator controls ------------------------------------------------------------------------
CONTROL_ACTIONS = ("start", "pause", "resume", "advance", "end")


def control(participant: Participant, action: str) -> DebateSession:
    """Apply a moderator action: start, pause, resume, advance (close the round) or end."""
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
        }[action]
        if session.status not in allowed:
            raise NotAllowed(f"Cannot {action} a session that is {session.status}.", "bad_state")
        if action == "start":
            session.status, session.started_at = S.RUNNING, timezone.now()
            session.save(update_fields=["status", "started_at"])
            engine.dispatch(session, p.Started())
        elif action == "pause":
            session.status = S.PAUSED
            session.save(update_fields=["status"])
            engine.publish_state(session)
        elif action == "resume":
            session.status = S.RUNNING
            session.save(update_fields=["status"])
            engine.dispatch(session, p.Resumed())
        elif action == "advance":
            if engine.current_round(session) is None:
                raise NotAllowed("No round is open.", "bad_state")
            engine.dispatch(session, p.RoundAdvanced())
        else:
            engine.dispatch(session, p.Ended())
    return session
