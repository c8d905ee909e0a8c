"""Streaming exports of sessions: full-fidelity JSONL, and CSVs of posts and of answers per round.

Every export iterates the sessions in chunks (``.iterator(chunk_size=...)``) with the related
rows prefetched per chunk, so the number of queries per chunk is fixed and memory stays flat
whatever the number of sessions. The JSONL document (schema in ``docs/exports.md``) holds no
database id: participants, turns and posts are referred to by stable keys ("p0", "t3") and
sequence numbers, so export -> import -> export gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, QuerySet

from deliberation import csvsafe
from deliberation.debates.engine import ABSTENTION_EVENTS
from deliberation.debates.models import DebateSession, Participant, Post
from deliberation.moderation.metrics import session_metrics
from deliberation.moderation.models import AdjudicationRevision

from . import refs

FORMAT = "deliberation.session"
VERSION = 1
CHUNK_SIZE = 50
# Metrics fields that change on every computation or name the database row, not the session.
VOLATILE_METRICS = ("computed_at", "session_id")


def prefetched(sessions: QuerySet | Iterable[DebateSession], *, full: bool = True) -> QuerySet:
    """The sessions in id order, with the related rows the exports read prefetched.

    ``full=False`` (the CSVs) leaves out agent turns (their prompts are large), deadlines and
    the adjudication.
    """
    if not isinstance(sessions, QuerySet):
        sessions = DebateSession.objects.filter(pk__in=[s.pk for s in sessions])
    people = Prefetch(
        "participants", queryset=Participant.objects.select_related("user", "agent_profile")
    )
    sessions = sessions.order_by("pk").select_related("created_by")
    if not full:
        return sessions.prefetch_related(people, "rounds", "posts", "opinions")
    revisions = AdjudicationRevision.objects.select_related("decided_by").prefetch_related(
        Prefetch("posts", queryset=Post.objects.only("id", "seq", "session_id"))
    )
    return sessions.select_related("adjudication__published_by").prefetch_related(
        people,
        "rounds",
        "posts",
        "opinions",
        "agent_turns",
        "deadlines",
        Prefetch("adjudication__revisions", queryset=revisions),
    )


def iter_sessions(sessions, chunk_size: int = CHUNK_SIZE, *, full: bool = True):
    return prefetched(sessions, full=full).iterator(chunk_size=chunk_size)


# --- JSONL -------------------------------------------------------------------------------------
def iter_jsonl(sessions, *, metrics: bool = True, chunk_size: int = CHUNK_SIZE) -> Iterator[str]:
    """One line (ending in a newline) per session: ``{"format": "deliberation.session", ...}``.

    ``metrics=False`` leaves out the computed metrics (``null``); computing them costs a fixed
    number of queries per session, whatever its size.
    """
    for session in iter_sessions(sessions, chunk_size):
        yield dumps(session_document(session, metrics=metrics)) + "\n"


def dumps(document: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text kept as is."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def dec(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


class Keys:
    """Stable references for one session's participants and agent turns."""

    def __init__(self, session: DebateSession):
        self.participants = sorted(session.participants.all(), key=lambda p: (p.position, p.pk))
        self.participant = {p.pk: refs.participant_key(i) for i, p in enumerate(self.participants)}
        self.turns = sorted(session.agent_turns.all(), key=lambda t: t.pk)
        self.turn = {t.pk: refs.turn_key(i) for i, t in enumerate(self.turns)}
        self.rounds = {r.pk: r for r in session.rounds.all()}
        self.posts = {p.pk: p for p in session.posts.all()}

    def p(self, pk: Any) -> str | None:
        return self.participant.get(pk) if isinstance(pk, int) else None

    def t(self, pk: Any) -> str | None:
        return self.turn.get(pk) if isinstance(pk, int) else None

    def round_number(self, pk: int | None) -> int | None:
        return self.rounds[pk].number if pk in self.rounds else None

    def seq(self, pk: int | None) -> int | None:
        return self.posts[pk].seq if pk in self.posts else None


def session_document(session: DebateSession, *, metrics: bool = True) -> dict[str, Any]:
    """The full-fidelity document of one (prefetched) session; see ``docs/exports.md``."""
    keys = Keys(session)
    protocol = session.protocol
    return {
        "format": FORMAT,
        "version": VERSION,
        "session": {
            "title": session.title,
            "question": session.question,
            "answer_format": session.answer_format,
            "options": session.options,
            "tolerance": session.tolerance,
            "gold_answer": session.gold_answer,
            "passage": session.passage,
            "status": session.status,
            "protocol": protocol,
            "protocol_settings": refs.map_settings(protocol, session.protocol_settings, keys.p),
            "join_role": session.join_role,
            "created_by": session.created_by.get_username(),
            "created_at": iso(session.created_at),
            "started_at": iso(session.started_at),
            "finished_at": iso(session.finished_at),
            "finish_reason": session.finish_reason,
        },
        "participants": [_participant(keys, pt) for pt in keys.participants],
        "rounds": [
            {
                "number": r.number,
                "phase": r.phase,
                "status": r.status,
                "opened_at": iso(r.opened_at),
                "closed_at": iso(r.closed_at),
            }
            for r in sorted(session.rounds.all(), key=lambda r: r.number)
        ],
        "posts": [
            {
                "seq": post.seq,
                "round": keys.round_number(post.round_id),
                "author": keys.p(post.author_id),
                "kind": post.kind,
                "target": keys.p(post.target_id),
                "text": post.text,
                "answer": post.answer,
                "confidence": post.confidence,
                "parse_status": post.parse_status,
                "data": refs.map_post_data(protocol, post.kind, post.data, keys.p),
                "client_msg_id": post.client_msg_id,
                "created_at": iso(post.created_at),
            }
            for post in sorted(session.posts.all(), key=lambda p: p.seq)
        ],
        "opinions": sorted(
            (
                {
                    "round": keys.round_number(o.round_id),
                    "participant": keys.p(o.participant_id),
                    "answer": o.answer,
                    "confidence": o.confidence,
                    "note": o.note,
                    "created_at": iso(o.created_at),
                    "updated_at": iso(o.updated_at),
                }
                for o in session.opinions.all()
            ),
            key=lambda o: (o["round"], _order(o["participant"])),
        ),
        "agent_turns": [_turn(keys, t) for t in keys.turns],
        "deadlines": [
            {
                "round": keys.round_number(d.round_id),
                "participant": keys.p(d.participant_id),
                "target": keys.p(d.target_id),
                "status": d.status,
                "due_at": iso(d.due_at),
                "remaining_seconds": d.remaining_seconds,
                "created_at": iso(d.created_at),
            }
            for d in sorted(session.deadlines.all(), key=lambda d: d.pk)
        ],
        "adjudication": _adjudication(session, keys),
        "metrics": _metrics(session, keys) if metrics else None,
    }


def _order(key: str | None) -> int:
    return int(key[1:]) if key else -1


def _participant(keys: Keys, pt: Participant) -> dict[str, Any]:
    profile = pt.agent_profile
    return {
        "key": keys.participant[pt.pk],
        "kind": pt.kind,
        "role": pt.role,
        "display_name": pt.display_name,
        "position": pt.position,
        "side": pt.side,
        "joined_at": iso(pt.joined_at),
        "username": pt.user.get_username() if pt.user_id else None,
        "agent": agent_profile(profile) if profile is not None else None,
    }


def agent_profile(profile) -> dict[str, Any]:
    """A profile's configuration; the API key itself is never stored, only its variable name."""
    return {
        "name": profile.name,
        "backend": profile.backend,
        "model": profile.model,
        "base_url": profile.base_url,
        "api_key_env": profile.api_key_env,
        "parameters": profile.parameters,
        "system_prompt": profile.system_prompt,
        "seed": profile.seed,
        "timeout_seconds": profile.timeout_seconds,
        "max_retries": profile.max_retries,
        "prompt_price_per_mtok": dec(profile.prompt_price_per_mtok),
        "completion_price_per_mtok": dec(profile.completion_price_per_mtok),
    }


def _turn(keys: Keys, t) -> dict[str, Any]:
    return {
        "key": keys.turn[t.pk],
        "round": keys.round_number(t.round_id),
        "participant": keys.p(t.participant_id),
        "target": keys.p(t.target_id),
        "status": t.status,
        "attempts": t.attempts,
        "lease_until": iso(t.lease_until),
        "backend": t.backend,
        "model": t.model,
        "parameters": t.parameters,
        "prompt": t.prompt,
        "reply": t.reply,
        "repair_reply": t.repair_reply,
        "parse_status": t.parse_status,
        "prompt_tokens": t.prompt_tokens,
        "completion_tokens": t.completion_tokens,
        "latency_ms": t.latency_ms,
        "cost_usd": dec(t.cost_usd),
        "error": t.error,
        "post": keys.seq(t.post_id),
        "created_at": iso(t.created_at),
        "started_at": iso(t.started_at),
        "finished_at": iso(t.finished_at),
    }


def _adjudication(session: DebateSession, keys: Keys) -> dict[str, Any] | None:
    try:
        adjudication = session.adjudication
    except DebateSession.adjudication.RelatedObjectDoesNotExist:
        return None
    revisions = sorted(adjudication.revisions.all(), key=lambda r: r.number)
    return {
        "created_at": iso(adjudication.created_at),
        "published_at": iso(adjudication.published_at),
        "published_by": (
            adjudication.published_by.get_username() if adjudication.published_by_id else None
        ),
        "revisions": [
            {
                "number": r.number,
                "final_answer": r.final_answer,
                "rationale": r.rationale,
                "reason": r.reason,
                "decided_by": r.decided_by.get_username(),
                "decided_at": iso(r.decided_at),
                "posts": sorted(p.seq for p in r.posts.all()),
                "rules_agreeing": r.rules_agreeing,
                "metrics": snapshot_out(r.metrics, keys),
            }
            for r in revisions
        ],
    }


def snapshot_out(metrics: dict[str, Any], keys: Keys) -> dict[str, Any]:
    """A stored metrics snapshot with its ids as keys; ``session_id`` is the importer's to set."""
    out = refs.map_metrics(metrics, keys.p, keys.t)
    if isinstance(out, dict) and "session_id" in out:
        out["session_id"] = None
    return out


def _metrics(session: DebateSession, keys: Keys) -> dict[str, Any]:
    """The session's metrics, recomputed from the stored rows (never imported: derived)."""
    out = refs.map_metrics(session_metrics(session), keys.p, keys.t)
    for name in VOLATILE_METRICS:
        out.pop(name, None)
    return out


# --- CSV ---------------------------------------------------------------------------------------
class _Echo:
    """A file-like object whose ``write`` returns the line, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


POST_COLUMNS = [
    "session_id",
    "session_title",
    "seq",
    "round",
    "phase",
    "kind",
    "event",
    "author",
    "author_kind",
    "author_role",
    "target",
    "answer",
    "confidence",
    "parse_status",
    "score",
    "text",
    "created_at",
]

ANSWER_COLUMNS = [
    "session_id",
    "session_title",
    "round",
    "phase",
    "participant",
    "participant_kind",
    "role",
    "status",
    "answer",
    "confidence",
    "seq",
    "private_answer",
    "private_confidence",
    "correct_answer",
]


def cell(value: Any) -> Any:
    """A CSV cell: text as is, numbers as numbers, lists and objects as JSON, None as empty."""
    if value is None:
        return ""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def iter_posts_csv(sessions, *, chunk_size: int = CHUNK_SIZE) -> Iterator[str]:
    """One row per post, every kind, in sequence order within each session."""
    writer = csvsafe.writer(_Echo())
    yield writer.writerow(POST_COLUMNS)
    for session in iter_sessions(sessions, chunk_size, full=False):
        people = {p.pk: p for p in session.participants.all()}
        rounds = {r.pk: r for r in session.rounds.all()}
        for post in sorted(session.posts.all(), key=lambda p: p.seq):
            author, target = people.get(post.author_id), people.get(post.target_id)
            rnd = rounds.get(post.round_id)
            data = post.data if isinstance(post.data, dict) else {}
            yield writer.writerow(
                [
                    session.pk,
                    session.title,
                    post.seq,
                    cell(rnd.number if rnd else None),
                    rnd.phase if rnd else "",
                    post.kind,
                    cell(data.get("event")) if post.kind == Post.Kind.EVENT else "",
                    author.display_name if author else "",
                    author.kind if author else "",
                    author.role if author else "",
                    target.display_name if target else "",
                    cell(post.answer),
                    cell(post.confidence),
                    post.parse_status,
                    cell(data.get("score")),
                    post.text,
                    iso(post.created_at),
                ]
            )


def iter_answers_csv(sessions, *, chunk_size: int = CHUNK_SIZE) -> Iterator[str]:
    """One row per answering participant (debaters and judges) per round.

    ``status`` is "answered", "unparsed" (an agent's unreadable answer), "abstained" (deadline
    passed), "skipped" (by the moderator) or empty (no contribution): only "answered" rows carry
    an answer. The private opinion of that round, if any, is given beside the public answer.
    """
    writer = csvsafe.writer(_Echo())
    yield writer.writerow(ANSWER_COLUMNS)
    speaking = (Participant.Role.DEBATER, Participant.Role.JUDGE)
    for session in iter_sessions(sessions, chunk_size, full=False):
        people = sorted(
            (p for p in session.participants.all() if p.role in speaking),
            key=lambda p: (p.position, p.pk),
        )
        last = _last_contributions(session)
        opinions = {(o.round_id, o.participant_id): o for o in session.opinions.all()}
        for rnd in sorted(session.rounds.all(), key=lambda r: r.number):
            for person in people:
                status, post = last.get((rnd.pk, person.pk), ("", None))
                answered = status == "answered"
                opinion = opinions.get((rnd.pk, person.pk))
                yield writer.writerow(
                    [
                        session.pk,
                        session.title,
                        rnd.number,
                        rnd.phase,
                        person.display_name,
                        person.kind,
                        person.role,
                        status,
                        cell(post.answer) if answered else "",
                        cell(post.confidence) if answered else "",
                        post.seq if post is not None else "",
                        cell(opinion.answer) if opinion else "",
                        cell(opinion.confidence) if opinion else "",
                        cell(session.gold_answer),
                    ]
                )


def _last_contributions(session: DebateSession) -> dict[tuple[int, int], tuple[str, Post]]:
    """(round id, participant id) -> (status, post) of their last own contribution (no review)."""
    out: dict[tuple[int, int], tuple[str, Post]] = {}
    for post in sorted(session.posts.all(), key=lambda p: p.seq):
        if post.round_id is None or post.author_id is None or post.target_id is not None:
            continue
        if post.kind == Post.Kind.EVENT:
            data = post.data if isinstance(post.data, dict) else {}
            status = ABSTENTION_EVENTS.get(data.get("event"))
            if status is None or data.get("target") is not None:
                continue
        elif post.kind != Post.Kind.ARGUMENT:
            continue
        elif post.parse_status == Post.ParseStatus.UNPARSED:
            status = "unparsed"
        elif post.answer is not None:
            status = "answered"
        else:
            continue  # an argument without an answer keeps the round's earlier answer
        out[(post.round_id, post.author_id)] = (status, post)
    return out
