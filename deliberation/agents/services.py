"""Running agent turns: request (row first, task on commit), claim, call, store.

Idempotency rests on the database, not on the broker: a turn is a row before its task is
enqueued; a task claims the row under a lock and a lease; the reply becomes a post only while the
turn row, locked, is still ``running``; so a duplicated or redelivered task never posts twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, replace
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from deliberation.debates import broadcast, engine
from deliberation.debates.answers import AnswerError, answer_key, clean_answer, format_answer
from deliberation.debates.models import DebateSession, Participant, Post, Round
from deliberation.debates.serializers import anonymised, participant_data
from deliberation.debates.services import (
    add_system_post,
    posts_after,
    store_post,
    verdict_options,
)
from deliberation.protocols import base as p
from deliberation.protocols.registry import get_protocol

from .backends import BackendError, Completion, CompletionRequest, backend_for
from .models import AgentTurn
from .parsing import format_instructions, parse_reply, repair_prompt, strip_structured
from .prompts import AnswerGroup, build_messages

log = logging.getLogger(__name__)


def request_agent_turn(
    session: DebateSession, rnd: Round, participant: Participant, target: Participant | None = None
) -> AgentTurn:
    """Create the turn row (once per slot) and enqueue its task when the transaction commits.

    Protocols re-request pending turns after every event; a turn already queued is not sent
    again (that would flood the broker with duplicates in simultaneous rounds). Turns that must
    be sent again, after a pause or a crash, are re-sent by :func:`requeue_turns`.
    """
    turn, created = AgentTurn.objects.get_or_create(
        round=rnd,
        participant=participant,
        step=target.pk if target else 0,
        defaults={"session": session, "target": target},
    )
    if created:
        turn_id = turn.pk
        transaction.on_commit(lambda: enqueue_turn(turn_id))
    return turn


def requeue_turns(session: DebateSession) -> int:
    """Send the tasks of the session's queued turns again (idempotent: a duplicate is skipped).

    Used on resume: a task that found the session paused returned without running its turn,
    and a task lost with a broker or a crashed worker is replaced.
    """
    ids = list(
        AgentTurn.objects.filter(session=session, status=AgentTurn.Status.QUEUED).values_list(
            "pk", flat=True
        )
    )
    # Sent now: the sweeper leaves them alone until a task has had time to claim them.
    AgentTurn.objects.filter(pk__in=ids).update(lease_until=_claim_due())
    for turn_id in ids:
        transaction.on_commit(lambda turn_id=turn_id: enqueue_turn(turn_id))
    return len(ids)


# Where queued turns go: Celery by default; ``run_locally`` collects them instead, so a batch
# can run in one process without a worker (``manage.py run_batch --local``).
_local_queue: list[int] | None = None


def enqueue_turn(turn_id: int) -> None:
    """Send the turn's task. Never raises: this runs in ``on_commit`` callbacks, after the
    caller's transaction committed, where an exception would crash a socket or a view and skip
    the callbacks after it (the state broadcast). A turn whose task could not be sent (the
    broker is down) stays ``queued``, and :func:`sweep_turns` sends it again."""
    if _local_queue is not None:
        _local_queue.append(turn_id)
        return
    from .tasks import run_agent_turn

    try:
        run_agent_turn.delay(turn_id)
    except Exception:  # kombu raises a variety of connection errors; none may reach the caller
        log.warning(
            "could not enqueue agent turn %s; it stays queued for the sweeper",
            turn_id,
            exc_info=True,
        )


def _resend_after() -> float:
    return float(getattr(settings, "AGENT_TURN_RESEND_AFTER_SECONDS", 60))


def _claim_due():
    """For a queued turn, ``lease_until`` says by when a task should have claimed it (null:
    ``created_at`` plus the same delay); past it, :func:`sweep_turns` sends the task again."""
    return timezone.now() + timedelta(seconds=_resend_after())


# --- recovery ------------------------------------------------------------------------------------
def sweep_turns() -> dict[str, int]:
    """Recover turns whose worker or task was lost; run by Celery beat (``sweep_agent_turns``).

    - A ``running`` turn whose lease has passed lost its worker (killed, or the machine went
      away): its attempt is ended like a failed one (``turn.reset`` to clients, the attempt
      counted) and the turn goes back to the queue, or fails visibly when its attempts are used.
    - A ``queued`` turn of a running session that no task has claimed in
      ``AGENT_TURN_RESEND_AFTER_SECONDS`` lost its task (the broker was down at enqueue time, or
      the message was lost): its task is sent again. A duplicate is harmless (the claim is
      idempotent).

    Safe to run in several processes at once: rows are taken with ``SKIP LOCKED`` and checked
    again under their lock, so each turn is handled by one sweeper, once.
    """
    now = timezone.now()
    expired = list(
        AgentTurn.objects.filter(status=AgentTurn.Status.RUNNING, lease_until__lt=now)
        .order_by("lease_until")
        .values_list("pk", flat=True)
    )
    outcomes = [_expire_lease(turn_id) for turn_id in expired]
    return {
        "requeued": sum(o == "retry" for o in outcomes),
        "failed": sum(o == "failed" for o in outcomes),
        "cancelled": sum(o == "cancelled" for o in outcomes),
        "resent": _resend_lost_tasks(),
    }


def _expire_lease(turn_id: int) -> str:
    now = timezone.now()
    with transaction.atomic():
        turn = (
            AgentTurn.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("round", "participant")
            .filter(pk=turn_id, status=AgentTurn.Status.RUNNING, lease_until__lt=now)
            .first()
        )
        if turn is None:
            return "skipped"  # finished meanwhile, or another sweeper or worker holds it
        # Never wait for the session lock (a worker storing a reply holds it, then waits for
        # this turn): skip, and the next sweep tries again.
        session = (
            DebateSession.objects.select_for_update(skip_locked=True)
            .filter(pk=turn.session_id)
            .first()
        )
        if session is None:
            return "skipped"
        log.warning("agent turn %s: lease expired (worker lost); ending the attempt", turn.pk)
        if session.status == DebateSession.Status.FINISHED:
            turn.status, turn.error = AgentTurn.Status.CANCELLED, "session finished"
            turn.finished_at, turn.lease_until = now, None
            turn.save(update_fields=["status", "error", "finished_at", "lease_until"])
            broadcast.send_on_commit(session.pk, {"type": "turn.reset", "turn_id": turn.pk})
            broadcast.send_on_commit(
                session.pk, {"type": "turn.ended", "turn_id": turn.pk, "status": turn.status}
            )
            return "cancelled"
        outcome = _end_attempt(
            session, turn, "the worker running this turn stopped (lease expired)", retryable=True
        )
        if outcome.retry_in is not None and session.status == DebateSession.Status.RUNNING:
            turn.lease_until = _claim_due()
            turn.save(update_fields=["lease_until"])
            transaction.on_commit(lambda: enqueue_turn(turn_id))
        return outcome.status


def _resend_lost_tasks() -> int:
    now = timezone.now()
    cutoff = now - timedelta(seconds=_resend_after())
    with transaction.atomic():
        lost = list(
            AgentTurn.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(status=AgentTurn.Status.QUEUED, session__status=DebateSession.Status.RUNNING)
            .filter(Q(lease_until__isnull=True, created_at__lt=cutoff) | Q(lease_until__lt=now))
            .values_list("pk", flat=True)
        )
        AgentTurn.objects.filter(pk__in=lost).update(lease_until=_claim_due())
        for turn_id in lost:
            log.warning("agent turn %s: queued with no task; sending it again", turn_id)
            transaction.on_commit(lambda turn_id=turn_id: enqueue_turn(turn_id))
    return len(lost)


def run_locally(start, on_progress=None) -> int:
    """Call ``start()``, then run every agent turn it leads to in this process, in order.

    Returns the number of turn attempts made. The turns go through exactly the same
    ``execute_turn`` as the Celery task; only the queue differs. ``on_progress()`` is called
    after each turn. Retries wait their backoff in this process.
    """
    global _local_queue
    previous, _local_queue = _local_queue, []
    attempts = 0
    try:
        start()
        while _local_queue:
            turn_id = _local_queue.pop(0)
            outcome = execute_turn(turn_id)
            attempts += 1
            if outcome.retry_in is not None:
                time.sleep(outcome.retry_in)
                _local_queue.append(turn_id)
            if on_progress is not None:
                on_progress()
    finally:
        _local_queue = previous
    return attempts


@dataclass(frozen=True)
class Outcome:
    """What the task should do next: nothing, or try again after ``retry_in`` seconds."""

    status: str
    retry_in: float | None = None


def turn_seed(turn: AgentTurn) -> int:
    """A stable seed from the profile's seed, the question, the round and the speaking
    positions: same seed, same session, whatever the database ids (a session replayed in
    another database, or the same question in two batch runs, gets the same draws)."""
    session = turn.session
    key = json.dumps(
        [
            turn.participant.agent_profile.seed,
            session.question,
            session.options,
            turn.round.number,
            turn.participant.position,
            turn.target.position if turn.target_id else None,
        ]
    )
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


def shown_options(session: DebateSession, turn: AgentTurn, state=None) -> list[str]:
    """The options in the order this agent sees them (seeded per turn when shuffling is on).

    A judge chooses between the two answers the debaters defend, not among all options.
    """
    options = list(session.options)
    if state is not None and turn.participant.role == Participant.Role.JUDGE:
        options = verdict_options(session, state)
    if session.protocol_settings.get("shuffle_options"):
        random.Random(f"options:{turn_seed(turn)}").shuffle(options)
    return options


class TurnStorageError(Exception):
    """The database failed while this task was storing (or failing) the turn it holds.

    The task retries with ``lease`` (the lease it held), which lets the retry end that attempt
    and claim the turn again instead of finding it ``running`` and skipping it.
    """

    def __init__(self, turn_id: int, lease: str | None):
        super().__init__(f"database error while storing agent turn {turn_id}")
        self.turn_id, self.lease = turn_id, lease


def execute_turn(turn_id: int, lease: str | None = None) -> Outcome:
    """Run one attempt of an agent turn. Safe to call any number of times for the same turn.

    ``lease``: given by a task retried after a database error (``TurnStorageError``); the
    attempt that held exactly that lease is ended first (counted; ``turn.reset``), so the turn
    is claimed again at once rather than after its lease expires.
    Database errors while claiming propagate (nothing was changed; the task retries).
    """
    if lease is not None:
        released = _record_failure(
            turn_id, "database error while storing the reply", retryable=True, lease=lease
        )
        if released.status == "failed":
            return released
    claimed = _claim(turn_id)
    if claimed is None:
        return Outcome("skipped")
    turn, request, audience = claimed
    profile = turn.participant.agent_profile
    streamer = _DeltaStreamer(turn, audience)
    started = time.monotonic()
    try:
        backend = backend_for(profile)
        completion = backend.complete(request, streamer.push)
        streamer.flush()
        repair = _repair_if_unreadable(backend, request, completion, turn)
    except (BackendError, SoftTimeLimitExceeded) as exc:
        streamer.flush()
        retryable = isinstance(exc, SoftTimeLimitExceeded) or exc.retryable
        message = "the turn took too long" if isinstance(exc, SoftTimeLimitExceeded) else str(exc)
        return _write(turn, lambda: _record_failure(turn.pk, message, retryable=retryable))
    except Exception as exc:  # a bug or an unexpected library error: fail visibly, never hang
        log.exception("agent turn %s crashed", turn_id)
        crash = f"internal error: {exc!r}"
        return _write(turn, lambda: _record_failure(turn.pk, crash, retryable=False))
    latency_ms = int((time.monotonic() - started) * 1000)
    return _write(turn, lambda: _store_reply(turn.pk, completion, repair, latency_ms))


def _write(turn: AgentTurn, write) -> Outcome:
    """Store the outcome of a claimed attempt so that a database error never leaves the turn
    ``running``: a dropped connection is replaced and the write tried once more; if it fails
    again the attempt is ended as a retryable failure; if even that fails, ``TurnStorageError``
    makes the task retry (with backoff) holding its lease. Each write is one transaction, so a
    failed one changed nothing (and one that did commit is seen as such: status no longer
    ``running``, the write is skipped)."""
    lease = turn.lease_until.isoformat() if turn.lease_until else None
    for attempt in (1, 2):
        try:
            return write()
        except DatabaseError as exc:
            log.warning("agent turn %s: database error (try %s): %r", turn.pk, attempt, exc)
            _drop_connection()
            if not isinstance(exc, OperationalError | InterfaceError):
                break  # not a connection problem: trying the same write again would not help
    try:
        return _record_failure(
            turn.pk, "database error while storing the reply", retryable=True, lease=lease
        )
    except DatabaseError as exc:
        _drop_connection()
        raise TurnStorageError(turn.pk, lease) from exc


def _drop_connection() -> None:
    """Close this thread's connection after a database error: the next query opens a new one
    (a connection the server terminated is never usable again)."""
    with contextlib.suppress(DatabaseError):
        connection.close()


@dataclass(frozen=True)
class Repair:
    messages: list[dict[str, str]]
    completion: Completion | None
    error: str = ""


def _repair_if_unreadable(backend, request, completion, turn) -> Repair | None:
    """Ask once more, with a repair prompt, when the reply's answer cannot be read.

    A failure of this second call is not the turn's failure: the turn is then recorded as
    "unparsed" (visible to the moderator, excluded from votes), never given a guessed answer.
    """
    ctx = request.context
    parsed = parse_reply(
        completion.text, ctx["answer_format"], ctx["options"], answer_kind=ctx["answer_kind"]
    )
    if parsed.ok:
        return None
    messages = [
        *request.messages,
        {"role": "assistant", "content": completion.text},
        {
            "role": "user",
            "content": repair_prompt(
                ctx["answer_format"], ctx["options"], ctx["answer_kind"], ctx.get("score_means", "")
            ),
        },
    ]
    repair_request = replace(request, messages=messages, context={**ctx, "repair": True})
    try:
        return Repair(messages, backend.complete(repair_request, lambda _text: None))
    except BackendError as exc:
        return Repair(messages, None, str(exc))


def _claim(turn_id: int) -> tuple[AgentTurn, CompletionRequest, dict] | None:
    limits = settings.DELIBERATION
    now = timezone.now()
    with transaction.atomic():
        turn = (
            AgentTurn.objects.select_for_update(of=("self",))
            .select_related("session", "round", "target", "participant__agent_profile")
            .filter(pk=turn_id)
            .first()
        )
        if turn is None or turn.status in (
            AgentTurn.Status.DONE,
            AgentTurn.Status.FAILED,
            AgentTurn.Status.CANCELLED,
        ):
            return None
        if turn.status == AgentTurn.Status.RUNNING and turn.lease_until and turn.lease_until > now:
            return None  # another worker holds it
        taking_over = turn.status == AgentTurn.Status.RUNNING  # its worker is gone
        if taking_over and turn.attempts >= limits["AGENT_TURN_MAX_ATTEMPTS"]:
            return None  # no attempt left: the sweeper fails it visibly (sweep_turns)
        session = turn.session
        if session.status == DebateSession.Status.FINISHED:
            turn.status, turn.error, turn.finished_at = (
                AgentTurn.Status.CANCELLED,
                "session finished",
                now,
            )
            turn.save(update_fields=["status", "error", "finished_at"])
            return None
        if session.status != DebateSession.Status.RUNNING:
            return None  # paused: stays queued; resuming asks for it again
        state = engine.load_state(session)
        request = _build_request(session, turn, state)
        parameters = request.parameters
        profile = turn.participant.agent_profile
        turn.status = AgentTurn.Status.RUNNING
        turn.attempts += 1
        turn.lease_until = now + timedelta(seconds=limits["AGENT_TURN_TIME_LIMIT"] + 30)
        turn.started_at = turn.started_at or now
        turn.backend, turn.model, turn.parameters = profile.backend, profile.model, parameters
        turn.prompt = request.messages
        turn.error = ""
        turn.save()
        audience = stream_audience(state, get_protocol(session.protocol), turn)
        if taking_over:  # clients drop the lost attempt's partial text
            broadcast.send_on_commit(session.pk, {"type": "turn.reset", "turn_id": turn.pk})
        broadcast.send_on_commit(
            session.pk,
            {"type": "turn.started", "turn": _turn_data(turn), **audience},
        )
    return turn, request, audience


def stream_audience(state: p.SessionState, protocol, turn: AgentTurn) -> dict:
    """Who may watch this turn's reply stream in: exactly who may see the post it becomes.

    A reply that will be stored sealed (an independent round, a vote-only answer, a judge's
    verdict) streams to the moderator and to ``visible_to`` only; everyone else is told that
    the agent is writing and sees the text when the post is revealed. The list names who *may*
    watch, so a person who joins while the agent writes sees nothing sealed by default.
    """
    meta = p.PostMeta(
        round=turn.round.number,
        author_id=turn.participant_id,
        kind=Post.Kind.ARGUMENT,
        target_id=turn.target_id,
    )
    hidden, _until = engine.hidden_from(state, protocol, meta)
    if not hidden:
        return {"sealed": False, "visible_to": []}
    watchers = [s.id for s in state.participants if s.id not in hidden]
    return {"sealed": True, "visible_to": watchers}


def _build_request(
    session: DebateSession, turn: AgentTurn, state: p.SessionState
) -> CompletionRequest:
    """What this agent sees for this turn, as the protocol decides (brief and visibility)."""
    protocol = get_protocol(session.protocol)
    slot = (turn.participant_id, turn.target_id)
    brief = protocol.turn_brief(state, slot)
    viewer = state.speaker(turn.participant_id)
    seed = turn_seed(turn)
    rng = random.Random(f"others:{seed}")
    posts = [
        post
        for post in posts_after(session.pk, 0)
        if protocol.can_see(state, viewer, engine.post_meta(post))
    ]
    anonymous = engine.anonymous_for(session, turn.participant.role)
    if anonymous:
        posts = [_anonymised_post(post) for post in posts]
    shuffle = bool(session.protocol_settings.get("shuffle_others"))
    if shuffle:
        posts = _shuffle_others(posts, turn.participant_id, rng)
    options = shown_options(session, turn, state)
    latest = _latest_answers(posts, state.round)
    position = {s.id: s.position for s in state.participants}
    groups = _groups(latest, session, rng if shuffle else None, position)
    history = _history(posts, turn.participant_id, state.round, session.answer_format)
    target_name = None
    if turn.target_id:
        person = participant_data(turn.target)
        target_name = (anonymised(person) if anonymous else person)["name"]
    profile = turn.participant.agent_profile
    messages = build_messages(
        persona=profile.system_prompt,
        agent_name=turn.participant.display_name,
        question=session.question,
        answer_format=session.answer_format,
        options=options,
        round_number=turn.round.number,
        rounds_total=protocol.rounds_total(session.protocol_settings),
        brief=brief,
        format_instructions=format_instructions(
            session.answer_format, options, brief.answer_kind, brief.score_means
        ),
        transcript=posts,
        groups=groups,
        history=history,
        revision_nudge=bool(session.protocol_settings.get("revision_nudge")),
        # ReConcile: each agent learns from the others' convincing samples, not its own.
        demonstrations=[
            sample
            for sample in session.protocol_settings.get("convincing_samples") or []
            if sample.get("source") != profile.name
        ],
        target_name=target_name,
        # The passage is the debaters' alone: a judge reads only the quotes, marked verified or
        # not (Khan et al. 2024's information asymmetry).
        passage=session.passage if turn.participant.role == Participant.Role.DEBATER else "",
        judge_without_passage=bool(session.passage)
        and turn.participant.role == Participant.Role.JUDGE,
    )
    own = latest.get(turn.participant_id)
    target_post = latest.get(turn.target_id) if turn.target_id else None
    return CompletionRequest(
        messages=messages,
        model=profile.model,
        parameters={k: v for k, v in profile.parameters.items() if k != "simulated"},
        seed=seed,
        context={
            "question": session.question,
            "answer_format": session.answer_format,
            "options": options,
            "tolerance": session.tolerance,
            "round": turn.round.number,
            "phase": brief.phase,
            "answer_kind": brief.answer_kind,
            "score_means": brief.score_means,
            "gold": session.gold_answer,
            "own_previous": own["answer"] if own else None,
            "others_previous": [
                post["answer"] for pid, post in latest.items() if pid != turn.participant_id
            ],
            "assigned": brief.assigned,
            "target_answer": target_post["answer"] if target_post else None,
            "repair": False,
            "batch": hasattr(session, "batch_item"),
        },
    )


def _anonymised_post(post: dict) -> dict:
    return {**post, "author": anonymised(post["author"]), "target": anonymised(post["target"])}


def _shuffle_others(posts: list[dict], me: int, rng: random.Random) -> list[dict]:
    """Shuffle, within each round, the order of other participants' arguments."""
    out: list[dict] = []
    by_round: dict = {}
    for post in posts:
        by_round.setdefault(post["round"], []).append(post)

    def other(post: dict) -> bool:
        return post["kind"] == "argument" and (post["author"] or {}).get("id") != me

    for block in by_round.values():
        others = [x for x in block if other(x)]
        rng.shuffle(others)
        it = iter(others)
        out.extend(next(it) if other(x) else x for x in block)
    return out


def _latest_answers(posts: list[dict], current_round: int) -> dict[int, dict]:
    """Each participant's latest visible post with a usable answer, before this round."""
    latest: dict[int, dict] = {}
    for post in posts:
        if (
            post["kind"] == "argument"
            and post["author"]
            and post["target"] is None
            and post["answer"] is not None
            and post["round"] is not None
            and post["round"] < current_round
            and post["parse_status"] != "unparsed"
        ):
            latest[post["author"]["id"]] = post
    return latest


def _groups(
    latest: dict[int, dict], session: DebateSession, rng, position: dict[int, int]
) -> list[AnswerGroup]:
    """ReConcile's grouping (dinobby/ReConcile, ``utils.parse_output``): the answers of the
    previous round counted in agent order, ``Counter(votes).most_common(2)`` (the two largest
    groups; equal counts in order of first appearance), each with its members' explanations and
    confidences. With ``shuffle_others`` the order of the two groups is seeded-random."""
    groups: dict = {}
    for pid in sorted(latest, key=lambda pid: position.get(pid, 0)):
        post = latest[pid]
        key = answer_key(post["answer"], session.answer_format, session.tolerance)
        group = groups.setdefault(key, AnswerGroup(post["answer"], []))
        group.explanations.append((post["text"], post["confidence"]))
    ordered = sorted(groups.values(), key=lambda g: -len(g.explanations))[:2]
    if rng is not None:
        rng.shuffle(ordered)
    return ordered


def _history(
    posts: list[dict], me: int, current_round: int, answer_format: str
) -> list[tuple[str | None, list[str]]]:
    """Per earlier round: this agent's own reply and the others' replies, each with its answer
    line (Du et al. replay the agents' whole replies; ours are stored without the closing
    lines, which are added back from the parsed answer)."""
    by_round: dict[int, tuple[list[str], list[str]]] = {}
    for post in posts:
        if post["kind"] != "argument" or not post["author"] or post["target"] is not None:
            continue
        if post["round"] is None or post["round"] >= current_round:
            continue
        text = post["text"]
        if post["answer"] is not None:
            text += f"\nANSWER: {format_answer(post['answer'], answer_format)}"
        mine, others = by_round.setdefault(post["round"], ([], []))
        (mine if post["author"]["id"] == me else others).append(text)
    return [(m[-1] if m else None, o) for _, (m, o) in sorted(by_round.items())]


def _turn_data(turn: AgentTurn) -> dict:
    return {
        "id": turn.pk,
        "round": turn.round.number,
        "attempt": turn.attempts,
        "participant": participant_data(turn.participant),
    }


class _DeltaStreamer:
    """Batches token deltas: one group message per flush interval or size, not per token."""

    def __init__(self, turn: AgentTurn, audience: dict):
        self.turn_id = turn.pk
        self.audience = audience
        self.session_id = turn.session_id
        self.buffer: list[str] = []
        self.size = 0
        self.last_flush = time.monotonic()
        self.every = settings.DELIBERATION["STREAM_FLUSH_SECONDS"]
        self.max_chars = settings.DELIBERATION["STREAM_FLUSH_CHARS"]

    def push(self, text: str) -> None:
        if not text:
            return
        self.buffer.append(text)
        self.size += len(text)
        if self.size >= self.max_chars or time.monotonic() - self.last_flush >= self.every:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.buffer:
            return
        text, self.buffer, self.size = "".join(self.buffer), [], 0
        broadcast.send_now(
            self.session_id,
            {"type": "turn.delta", "turn_id": self.turn_id, "text": text, **self.audience},
        )


def _store_reply(turn_id: int, completion, repair: Repair | None, latency_ms: int) -> Outcome:
    with transaction.atomic():
        session_id = AgentTurn.objects.values_list("session_id", flat=True).get(pk=turn_id)
        session = DebateSession.objects.select_for_update().get(pk=session_id)
        turn = (
            AgentTurn.objects.select_for_update(of=("self",))
            .select_related("round", "participant__agent_profile")
            .get(pk=turn_id)
        )
        if turn.status != AgentTurn.Status.RUNNING:
            if turn.status == AgentTurn.Status.CANCELLED and not turn.reply:
                # Ended with its session while the agent spoke: keep the reply for the record.
                turn.reply = completion.text
                turn.save(update_fields=["reply"])
            return Outcome("skipped")  # a duplicate delivery already finished this turn
        if session.status == DebateSession.Status.FINISHED:
            # The session ended while the agent spoke: keep the reply on the turn for the
            # record, but add nothing to a finished transcript.
            turn.status = AgentTurn.Status.CANCELLED
            turn.reply, turn.error = completion.text, "session finished while the agent spoke"
            turn.finished_at, turn.lease_until = timezone.now(), None
            turn.save(update_fields=["status", "reply", "error", "finished_at", "lease_until"])
            broadcast.send_on_commit(
                session.pk, {"type": "turn.ended", "turn_id": turn.pk, "status": turn.status}
            )
            return Outcome("cancelled")
        state = engine.load_state(session)
        stored = _read_answer(session, turn, completion, repair, state)
        post = store_post(
            session,
            turn.round,
            turn.participant,
            Post.Kind.ARGUMENT,
            stored.text,
            answer=stored.answer,
            confidence=stored.confidence,
            target_id=turn.target_id,
            parse_status=stored.parse_status,
            data=stored.data,
            state=state,
        )
        profile = turn.participant.agent_profile
        prompt_tokens, completion_tokens = completion.prompt_tokens, completion.completion_tokens
        if repair is not None:
            turn.prompt = repair.messages
            turn.repair_reply = repair.completion.text if repair.completion else repair.error
            if repair.completion is not None:
                prompt_tokens = _add(prompt_tokens, repair.completion.prompt_tokens)
                completion_tokens = _add(completion_tokens, repair.completion.completion_tokens)
        turn.status = AgentTurn.Status.DONE
        turn.post = post
        turn.reply = completion.text
        turn.parse_status = stored.parse_status
        turn.model = completion.model or turn.model
        turn.prompt_tokens = prompt_tokens
        turn.completion_tokens = completion_tokens
        turn.latency_ms = latency_ms
        turn.cost_usd = profile.cost_of(prompt_tokens, completion_tokens)
        turn.finished_at = timezone.now()
        turn.lease_until = None
        turn.save()
        broadcast.send_on_commit(
            session.pk, {"type": "turn.ended", "turn_id": turn.pk, "status": turn.status}
        )
        if stored.parse_status == Post.ParseStatus.UNPARSED:
            add_system_post(
                session,
                f"{engine.public_name(session, turn.participant)}'s answer could not be read, "
                "even after a "
                "repair prompt; it is recorded as unparsed and left out of the votes.",
                turn.round,
            )
        engine.dispatch(session, p.PostStored(turn.participant_id, turn.target_id))
    return Outcome("done")


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


@dataclass(frozen=True)
class _Stored:
    text: str
    answer: object
    confidence: float | None
    parse_status: str
    data: dict


def _read_answer(session, turn, completion, repair: Repair | None, state) -> _Stored:
    """The post to store from the reply (and the repair reply, if one was needed)."""
    options = shown_options(session, turn, state)
    brief = get_protocol(session.protocol).turn_brief(state, (turn.participant_id, turn.target_id))
    kind = "review" if turn.target_id else brief.answer_kind
    text = strip_structured(completion.text).strip() or "(no argument given)"
    status = Post.ParseStatus.PARSED
    parsed = parse_reply(completion.text, session.answer_format, options, answer_kind=kind)
    if not parsed.ok and repair is not None and repair.completion is not None:
        parsed = parse_reply(
            repair.completion.text, session.answer_format, options, answer_kind=kind
        )
        status = Post.ParseStatus.REPAIRED
    if not parsed.ok:
        return _Stored(text, None, None, Post.ParseStatus.UNPARSED, {})
    if kind == "review":
        data = {"score": parsed.score, "score_means": brief.score_means or "correctness"}
        return _Stored(text, None, parsed.score / 10, status, data)
    answer = parsed.answer
    try:  # canonical form (e.g. multiple choice in the options' order)
        answer = clean_answer(answer, session.answer_format, session.options)
    except AnswerError:
        return _Stored(text, None, None, Post.ParseStatus.UNPARSED, {})
    return _Stored(text, answer, parsed.confidence, status, {})


def _record_failure(
    turn_id: int, message: str, *, retryable: bool, lease: str | None = None
) -> Outcome:
    """End the running attempt: back to the queue (``retry``) or failed visibly.

    With ``lease``, only the attempt holding exactly that lease is ended (a task retried after a
    database error must not end an attempt that another worker has claimed since)."""
    with transaction.atomic():
        session_id = AgentTurn.objects.values_list("session_id", flat=True).get(pk=turn_id)
        session = DebateSession.objects.select_for_update().get(pk=session_id)
        turn = (
            AgentTurn.objects.select_for_update(of=("self",))
            .select_related("round", "participant")
            .get(pk=turn_id)
        )
        if turn.status != AgentTurn.Status.RUNNING:
            return Outcome("skipped")
        held = turn.lease_until.isoformat() if turn.lease_until else None
        if lease is not None and held != lease:
            return Outcome("skipped")
        return _end_attempt(session, turn, message, retryable=retryable)


def _end_attempt(session: DebateSession, turn: AgentTurn, message: str, *, retryable: bool):
    """The body of :func:`_record_failure`; the caller holds the session and turn locks."""
    limits = settings.DELIBERATION
    turn.error = message[:2000]
    turn.lease_until = None
    broadcast.send_on_commit(session.pk, {"type": "turn.reset", "turn_id": turn.pk})
    if retryable and turn.attempts < limits["AGENT_TURN_MAX_ATTEMPTS"]:
        delay = limits["AGENT_TURN_RETRY_BACKOFF"] * 2 ** (turn.attempts - 1)
        turn.status = AgentTurn.Status.QUEUED
        # The task's retry claims it after ``delay``; the sweeper waits longer than that.
        turn.lease_until = _claim_due() + timedelta(seconds=delay)
        turn.save(update_fields=["status", "error", "lease_until"])
        return Outcome("retry", retry_in=delay)
    turn.status = AgentTurn.Status.FAILED
    turn.finished_at = timezone.now()
    turn.save(update_fields=["status", "error", "lease_until", "finished_at"])
    broadcast.send_on_commit(
        session.pk, {"type": "turn.ended", "turn_id": turn.pk, "status": turn.status}
    )
    # The provider's error may name its URL or echo a key: it stays on the turn row and
    # in the post's ``detail``, which only moderators receive (presentation.present).
    store_post(
        session,
        turn.round,
        None,
        Post.Kind.SYSTEM,
        f"{engine.public_name(session, turn.participant)}'s turn failed after "
        f"{turn.attempts} attempt{'s' if turn.attempts != 1 else ''}.",
        data={"event": "turn_failed", "detail": message[:500]},
    )
    engine.dispatch(session, p.TurnFailed(turn.participant_id))
    return Outcome("failed")
