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

from deliberation.protocols import base as p
from deliberation.protocols.peer_review import score_meaning
from deliberation.protocols.quotes import verify_quotes
from deliberation.protocols.registry import get_protocol

from . import broadcast, engine
from .answers import AnswerError, clean_answer
from .models import DebateSession, Opinion, Participant, Post, Round
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
CHOICE_FORMATS = ("single_choice", "multiple_choice", "ranking")
MAX_PASSAGE_CHARS = 200_000


def create_session(
    *,
    moderator,
    title: str,
    question: str,
    answer_format: str = DebateSession.AnswerFormat.SINGLE_CHOICE,
    options: Iterable[str] = (),
    tolerance: float = 0.0,
    gold_answer: Any = None,
    protocol: str = "round_robin",
    protocol_settings: dict[str, Any] | None = None,
    join_role: str = DebateSession.JoinRole.DEBATER,
    agent_profiles: Iterable = (),
    judge_profile=None,
    passage: str = "",
) -> DebateSession:
    """Create a draft session with its moderator, agent debaters (in this order) and judge.

    ``passage`` is a judged debate's hidden source text: debaters see and quote it, judges do
    not (Khan et al. 2024); debaters' quotes of it are verified as they are stored.
    """
    if answer_format not in DebateSession.AnswerFormat.values:
        raise InvalidInput(f"Unknown answer format {answer_format!r}.", "answer_format")
    if join_role not in DebateSession.JoinRole.values:
        raise InvalidInput(
            f"Invitees can join as {', '.join(DebateSession.JoinRole.values)}, not {join_role!r}.",
            "join_role",
        )
    options = [str(o).strip() for o in options if o and str(o).strip()]
    if answer_format in CHOICE_FORMATS and len(options) < 2:
        raise InvalidInput("A choice or ranking question needs at least two options.", "options")
    if len(set(o.lower() for o in options)) != len(options):
        raise InvalidInput("Options must be distinct.", "options")
    if answer_format not in CHOICE_FORMATS:
        options = []
    try:
        tolerance = float(tolerance or 0)
    except (TypeError, ValueError):
        raise InvalidInput("Tolerance must be a number.", "tolerance") from None
    if not math.isfinite(tolerance) or tolerance < 0:
        raise InvalidInput("Tolerance must be zero or a positive number.", "tolerance")
    passage = str(passage or "").strip()
    if len(passage) > MAX_PASSAGE_CHARS:
        raise InvalidInput(
            f"A passage can have at most {MAX_PASSAGE_CHARS} characters ({len(passage)} sent).",
            "passage",
        )
    if gold_answer not in (None, ""):
        try:
            gold_answer = clean_answer(gold_answer, answer_format, options)
        except AnswerError as exc:
            raise InvalidInput(f"Gold answer: {exc}", "gold_answer") from None
    else:
        gold_answer = None
    try:
        proto = get_protocol(protocol)
        cleaned = proto.clean_settings(protocol_settings)
    except (KeyError, p.SettingsError) as exc:
        raise InvalidInput(str(exc).strip("'\""), "protocol_settings") from exc
    with transaction.atomic():
        session = DebateSession.objects.create(
            title=title.strip(),
            question=question.strip(),
            answer_format=answer_format,
            options=options,
            tolerance=tolerance,
            gold_answer=gold_answer,
            passage=passage,
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
        if judge_profile is not None:
            add_agent(session, judge_profile, role=Participant.Role.JUDGE)
    return session


def add_agent(
    session: DebateSession,
    profile,
    *,
    position: int | None = None,
    role: str = Participant.Role.DEBATER,
    side: str = "",
) -> Participant:
    if position is None:
        position = _next_position(session)
    taken = set(session.participants.values_list("display_name", flat=True))
    name, n = profile.name, 2
    while name in taken:  # the same profile twice: "Ada (simulated) #2"
        name, n = f"{profile.name} #{n}", n + 1
    return Participant.objects.create(
        session=session,
        kind=Participant.Kind.AGENT,
        agent_profile=profile,
        role=role,
        display_name=name[:100],
        position=position,
        side=side,
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
    score: Any = None,
    target_id: int | None = None,
) -> PostResult:
    """Store a person's post and let the protocol react; broadcast on commit.

    Moderators post notes at any time while the session is open; debaters and judges post when
    the protocol expects them. A peer review names its ``target_id`` and carries a 1-10
    ``score``. A retry with the same ``client_msg_id`` returns the post stored the first time
    instead of creating a second one.
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
    score = _clean_score(score)

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
            mine = [slot for slot in protocol.expected(state) if slot[0] == participant.pk]
            if target_id not in (None, ""):
                mine = [slot for slot in mine if slot[1] == _int_or_none(target_id)]
            if not mine:
                raise NotAllowed(_why_not_your_turn(session), "not_your_turn")
            slot = mine[0]
            if participant.role == Participant.Role.JUDGE and answer is not None:
                sides = verdict_options(session, state)
                if answer not in sides:
                    raise InvalidInput(
                        f"A verdict names one of the defended answers: {', '.join(sides)}.",
                        "answer",
                    )
            data: dict[str, Any] = {}
            if slot[1] is not None:  # a review: its score is the structured answer
                if score is None:
                    raise InvalidInput("A review needs a score from 1 to 10.", "score")
                means = score_meaning(session.protocol_settings)
                data = {"score": score, "score_means": means}
                answer, confidence = None, score / 10
            post = store_post(
                session,
                engine.current_round(session),
                participant,
                Post.Kind.ARGUMENT,
                text,
                answer=answer,
                confidence=confidence,
                client_msg_id=client_msg_id,
                target_id=slot[1],
                data=data,
                state=state,
            )
            engine.meet_deadline(session, participant, slot[1])
            engine.dispatch(session, p.PostStored(*slot))
            return PostResult(post, created=True)
    except IntegrityError:
        # Two deliveries of the same client message raced; the other one stored it.
        existing = _existing_post(participant, client_msg_id) if client_msg_id else None
        if existing is None:
            raise
        return PostResult(existing, created=False)


def verdict_options(session: DebateSession, state: p.SessionState) -> list[str]:
    """What a judge chooses between: the answers the two debaters defend (all options when
    the sides are not options of the question)."""
    sides = [d.side for d in state.debaters if d.side]
    if len(sides) == 2 and all(side in session.options for side in sides):
        return sides
    return list(session.options)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput("The review target must be a participant id.", "target") from None


def _existing_post(participant: Participant, client_msg_id: str) -> Post | None:
    return (
        Post.objects.select_related("author", "round", "target")
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
    if speaker is None:
        return "Nobody is to speak right now."
    return f"It is {engine.public_name(session, speaker)}'s turn."


def _clean_answer(session: DebateSession, answer: Any, confidence: Any) -> tuple[Any, float | None]:
    """Validate a structured answer against the session's answer format."""
    if answer in (None, "", []):
        answer = None
    else:
        try:
            answer = clean_answer(answer, session.answer_format, session.options)
        except AnswerError as exc:
            raise InvalidInput(str(exc), "answer") from None
    return answer, _clean_confidence(confidence)


def _clean_confidence(confidence: Any) -> float | None:
    if confidence in (None, ""):
        return None
    try:
        confidence = float(confidence)
    except (TypeError, ValueError):
        raise InvalidInput("Confidence must be a number between 0 and 1.", "confidence") from None
    if not 0 <= confidence <= 1:  # also refuses NaN
        raise InvalidInput("Confidence must be between 0 and 1.", "confidence")
    return confidence


def _clean_score(score: Any) -> int | None:
    if score in (None, ""):
        return None
    try:
        value = float(score)
    except (TypeError, ValueError):
        value = math.nan
    if not (1 <= value <= 10 and value == int(value)):  # NaN fails the range check
        raise InvalidInput("A review score must be a whole number from 1 to 10.", "score")
    return int(value)


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
    target_id: int | None = None,
    parse_status: str = Post.ParseStatus.NONE,
    data: dict | None = None,
    state: p.SessionState | None = None,
) -> Post:
    """Append a post with the next sequence number; the caller holds the session lock.

    The broadcast carries who may not see the post yet (sealed rounds, vote-only answers,
    a judge's verdicts), as the protocol's ``can_see`` decides, so consumers withhold it.

    In a session with a passage, a debater's argument gets its quotes of the passage verified
    (``data["quotes"]``, see ``protocols.quotes``); the text stays as written.
    """
    if (
        session.passage
        and kind == Post.Kind.ARGUMENT
        and author is not None
        and author.role == Participant.Role.DEBATER
    ):
        data = {**(data or {}), "quotes": verify_quotes(text, session.passage)}
    last = session.posts.aggregate(last=Max("seq"))["last"] or 0
    post = Post.objects.create(
        session=session,
        seq=last + 1,
        round=rnd,
        author=author,
        kind=kind,
        target_id=target_id,
        text=text,
        answer=answer,
        confidence=confidence,
        parse_status=parse_status,
        data=data or {},
        client_msg_id=client_msg_id,
    )
    message: dict[str, Any] = {"type": "post.created", "post": post_data(post)}
    if kind == Post.Kind.ARGUMENT and author is not None:
        state = state or engine.load_state(session)
        hidden, until = engine.hidden_from(
            state, get_protocol(session.protocol), engine.post_meta(message["post"])
        )
        if hidden:
            message.update(hidden_from=hidden, until=until)
    broadcast.send_on_commit(session.pk, message)
    return post


def add_system_post(session: DebateSession, text: str, rnd: Round | None = None) -> Post:
    return store_post(session, rnd, None, Post.Kind.SYSTEM, text)


def add_event(session: DebateSession, actor: Participant | None, text: str, **data: Any) -> Post:
    """Record a moderator action (or another event) in the transcript, with its details."""
    return store_post(
        session, engine.current_round(session), actor, Post.Kind.EVENT, text, data=data
    )


def posts_after(session_id: int, after_seq: int, upto_seq: int | None = None) -> list[dict]:
    """Posts with ``after_seq < seq <= upto_seq``, in order, as plain data (for catch-up)."""
    qs = Post.objects.filter(session_id=session_id, seq__gt=after_seq)
    if upto_seq is not None:
        qs = qs.filter(seq__lte=upto_seq)
    return [
        post_data(post) for post in qs.select_related("author", "round", "target").order_by("seq")
    ]


def posts_by_seq(session_id: int, seqs: Iterable[int]) -> list[dict]:
    qs = Post.objects.filter(session_id=session_id, seq__in=list(seqs))
    return [
        post_data(post) for post in qs.select_related("author", "round", "target").order_by("seq")
    ]


def last_seq(session_id: int) -> int:
    return Post.objects.filter(session_id=session_id).aggregate(last=Max("seq"))["last"] or 0


# --- private opinions --------------------------------------------------------------------------
def submit_opinion(
    participant: Participant, *, answer: Any, confidence: Any = None, note: str = ""
) -> Opinion:
    """Record (or correct) a participant's private opinion for the current round.

    As in the DEBATE benchmark, what a participant privately believes is kept apart from what
    they say publicly; only they and the moderator see it. Allowed while the round is open and
    after it closes, until the next round opens.
    """
    if participant.role not in (Participant.Role.DEBATER, Participant.Role.JUDGE):
        raise NotAllowed("Only debaters and judges report private opinions.", "forbidden")
    note = (note or "").strip()
    if len(note) > 2000:
        raise InvalidInput("A note can have at most 2000 characters.", "too_long")
    with transaction.atomic():
        session = DebateSession.objects.select_for_update().get(pk=participant.session_id)
        if session.status == DebateSession.Status.FINISHED:
            # A finished transcript is read-only: what was reported stays as it was.
            raise NotAllowed(
                "The session has finished; its opinions can no longer change.", "finished"
            )
        answer, confidence = _clean_answer(session, answer, confidence)
        if answer is None:
            raise InvalidInput("Give the answer you privately hold.", "answer")
        rnd = engine.current_round(session)
        if rnd is None:
            raise NotAllowed("No round has started yet.", "bad_state")
        opinion, _ = Opinion.objects.update_or_create(
            round=rnd,
            participant=participant,
            defaults={"session": session, "answer": answer, "confidence": confidence, "note": note},
        )
        broadcast.changed_on_commit(session.pk)
    return opinion
