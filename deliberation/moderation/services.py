"""Adjudication services: record, revise and publish a session's final answer; the queue.

Who may adjudicate: the session's moderator (the user behind its moderator participant) and
staff. A decision needs a finished session, a final answer valid for the session's answer format,
a written rationale and at least one cited post of the session (by its ``#seq``). The first
decision needs no reason; every later one is a revision and must say why. Nothing is ever
overwritten: each decision is a new :class:`AdjudicationRevision` with a snapshot of the metrics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Max, Q
from django.template.loader import render_to_string
from django.utils import timezone

from deliberation.debates import broadcast
from deliberation.debates.answers import AnswerError, answer_key, clean_answer
from deliberation.debates.models import DebateSession, Participant, Post
from deliberation.debates.services import InvalidInput, NotAllowed

from . import live
from .models import Adjudication, AdjudicationRevision
from .signals import send_decision_published_on_commit

MAX_RATIONALE = 10_000
QUEUE_LIMIT = 200


def can_moderate(user, session: DebateSession) -> bool:
    """The session's moderator, or staff."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff:
        return True
    return Participant.objects.filter(
        session=session, user=user, role=Participant.Role.MODERATOR
    ).exists()


def moderated_sessions(user):
    """Sessions ``user`` may moderate: all for staff, else those they moderate."""
    qs = DebateSession.objects.all()
    if not user.is_staff:
        qs = qs.filter(participants__user=user, participants__role=Participant.Role.MODERATOR)
    return qs


def parse_seqs(value: Any) -> list[int]:
    """Post numbers from ``"#3, #7 12"`` or a list of numbers."""
    if isinstance(value, str):
        value = re.findall(r"\d+", value)
    try:
        return sorted({int(v) for v in value or ()})
    except (TypeError, ValueError):
        raise InvalidInput("Cite posts by their numbers, e.g. #3, #7.", "posts") from None


def current_revision(session: DebateSession) -> AdjudicationRevision | None:
    return (
        AdjudicationRevision.objects.filter(adjudication__session=session)
        .select_related("decided_by", "adjudication")
        .order_by("-number")
        .first()
    )


def revisions(session: DebateSession) -> list[AdjudicationRevision]:
    """Every decision on ``session``, newest first, with who decided and the cited posts."""
    return list(
        AdjudicationRevision.objects.filter(adjudication__session=session)
        .select_related("decided_by", "adjudication")
        .prefetch_related("posts")
        .order_by("-number")
    )


def published_revision(session: DebateSession) -> AdjudicationRevision | None:
    """What participants see: the current decision, once the adjudication is published."""
    revision = current_revision(session)
    if revision is None or not revision.adjudication.published:
        return None
    return revision


def decide(
    session: DebateSession,
    user,
    *,
    answer: Any,
    rationale: str,
    post_seqs: Iterable[int] | str,
    reason: str = "",
) -> AdjudicationRevision:
    """Record the final answer, or revise it (then ``reason`` is required)."""
    if not can_moderate(user, session):
        raise NotAllowed("Only the session's moderator or staff can adjudicate.", "forbidden")
    rationale, reason = (rationale or "").strip(), (reason or "").strip()
    if not rationale:
        raise InvalidInput("Write the rationale for the decision.", "rationale")
    if len(rationale) > MAX_RATIONALE or len(reason) > MAX_RATIONALE:
        raise InvalidInput(f"At most {MAX_RATIONALE} characters.", "too_long")
    try:
        answer = clean_answer(answer, session.answer_format, session.options)
    except AnswerError as exc:
        raise InvalidInput(str(exc), "answer") from None
    seqs = parse_seqs(post_seqs)
    if not seqs:
        raise InvalidInput("Cite at least one post the decision relies on.", "posts")
    with transaction.atomic():
        session = DebateSession.objects.select_for_update().get(pk=session.pk)
        if session.status != DebateSession.Status.FINISHED:
            raise NotAllowed("A session is adjudicated once it has finished.", "bad_state")
        posts = list(Post.objects.filter(session=session, seq__in=seqs))
        missing = sorted(set(seqs) - {p.seq for p in posts})
        if missing:
            listed = ", ".join(f"#{n}" for n in missing)
            raise InvalidInput(f"This session has no post {listed}.", "posts")
        adjudication, _ = Adjudication.objects.get_or_create(session=session)
        last = adjudication.revisions.aggregate(n=Max("number"))["n"] or 0
        if last and not reason:
            raise InvalidInput("Say why the decision is revised.", "reason")
        metrics = live.refresh(session)["metrics"]
        revision = AdjudicationRevision.objects.create(
            adjudication=adjudication,
            number=last + 1,
            final_answer=answer,
            rationale=rationale,
            reason=reason if last else "",
            decided_by=user,
            rules_agreeing=rules_agreeing(session, answer, metrics),
            metrics=metrics,
        )
        revision.posts.set(posts)
        if adjudication.published_at is not None:
            announce_decision(session, user)
    return revision


def rules_agreeing(session: DebateSession, answer: Any, metrics: dict[str, Any]) -> list[str]:
    """The rules whose recommended answer has the same vote key as ``answer``."""
    fmt, tol = session.answer_format, session.tolerance
    key = answer_key(answer, fmt, tol)
    return [
        r["rule"]
        for r in metrics.get("rules", [])
        if r["answer"] is not None and answer_key(r["answer"], fmt, tol) == key
    ]


def publish(session: DebateSession, user) -> Adjudication:
    """Show the current decision to the participants (idempotent)."""
    if not can_moderate(user, session):
        raise NotAllowed("Only the session's moderator or staff can publish.", "forbidden")
    with transaction.atomic():
        adjudication = Adjudication.objects.select_for_update().filter(session=session).first()
        if adjudication is None or not adjudication.revisions.exists():
            raise NotAllowed("Record a decision before publishing it.", "bad_state")
        if adjudication.published_at is None:
            adjudication.published_at = timezone.now()
            adjudication.published_by = user
            adjudication.save(update_fields=["published_at", "published_by"])
        announce_decision(session, user)
    return adjudication


def announce_decision(session: DebateSession, user=None) -> None:
    """Push the published decision to every participant's open page, once committed, and tell
    other apps (``decision_published``: e.g. an escalated item takes it as its final label)."""
    session_id = session.pk
    send_decision_published_on_commit(session, user)

    def send() -> None:
        revision = published_revision(DebateSession.objects.get(pk=session_id))
        if revision is None:
            return
        html = render_to_string(
            "moderation/_published.html",
            {"revision": revision, "session": revision.adjudication.session, "oob": True},
        )
        decision = {
            "answer": revision.final_answer,
            "rationale": revision.rationale,
            "revision": revision.number,
            "posts": sorted(revision.posts.values_list("seq", flat=True)),
        }
        broadcast.send_now(
            session_id, {"type": "decision.published", "decision": decision, "html": html}
        )

    transaction.on_commit(send)


# --- the queue ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueEntry:
    session: DebateSession
    rules_disagree: bool
    final_label: str
    status: str  # "awaiting" (no decision yet) or "unpublished" (decided, not yet published)


def queue(user) -> list[QueueEntry]:
    """Finished sessions awaiting a decision (or its publication): those whose rules disagree
    first, then the longest waiting. The rules come from each session's cached metrics."""
    sessions = list(
        moderated_sessions(user)
        .filter(status=DebateSession.Status.FINISHED)
        .filter(Q(adjudication__isnull=True) | Q(adjudication__published_at__isnull=True))
        .annotate(decisions=Max("adjudication__revisions__number"))
        .order_by("finished_at", "pk")
        .distinct()[:QUEUE_LIMIT]
    )
    keys = {live.cache_key(s): s for s in sessions}
    found = cache.get_many(list(keys))
    entries = []
    for key, session in keys.items():
        entry = found.get(key) or live.refresh(session)
        metrics = entry["metrics"]
        entries.append(
            QueueEntry(
                session=session,
                rules_disagree=bool(metrics.get("rules_disagree")),
                final_label=metrics.get("final_label") or "",
                status="unpublished" if session.decisions else "awaiting",
            )
        )
    entries.sort(key=lambda e: (not e.rules_disagree, e.status != "awaiting"))
    return entries
