"""Running agent turns: request (row first, task on commit), claim, call, store.

Idempotency rests on the database, not on the broker: a turn is a row before its task is
enqueued; a task claims the row under a lock and a lease; the reply becomes a post only while the
turn row, locked, is still ``running``; so a duplicated or redelivered task never posts twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deliberation.debates import broadcast, engine
from deliberation.debates.models import DebateSession, Participant, Post, Round
from deliberation.debates.serializers import participant_data
from deliberation.debates.services import add_system_post, posts_after, store_post
from deliberation.protocols import base as p

from .backends import BackendError, CompletionRequest, backend_for
from .models import AgentTurn
from .parsing import parse_reply
from .prompts import build_messages

log = logging.getLogger(__name__)


def request_agent_turn(session: DebateSession, rnd: Round, participant: Participant) -> AgentTurn:
    """Create the turn row (once per slot) and enqueue its task when the transaction commits.

    Asking again for a turn that is still queued enqueues it again: harmless, because the task
    is idempotent, and it heals a task lost with a broker.
    """
    from .tasks import run_agent_turn

    turn, created = AgentTurn.objects.get_or_create(
        round=rnd, participant=participant, step=0, defaults={"session": session}
    )
    if created or turn.status == AgentTurn.Status.QUEUED:
        transaction.on_commit(lambda: run_agent_turn.delay(turn.pk))
    return turn


@dataclass(frozen=True)
class Outcome:
    """What the task should do next: nothing, or try again after ``retry_in`` seconds."""

    status: str
    retry_in: float | None = None


def turn_seed(turn: AgentTurn) -> int:
    """A stable seed per (profile seed, session, round, participant): same seed, same session."""
    profile_seed = turn.participant.agent_profile.seed
    key = f"{profile_seed}:{turn.session_id}:{turn.round.number}:{turn.participant_id}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


def execute_turn(turn_id: int) -> Outcome:
    """Run one attempt of an agent turn. Safe to call any number of times for the same turn."""
    claimed = _claim(turn_id)
    if claimed is None:
        return Outcome("skipped")
    turn, request = claimed
    profile = turn.participant.agent_profile
    streamer = _DeltaStreamer(turn)
    started = time.monotonic()
    try:
        backend = backend_for(profile)
        completion = backend.complete(request, streamer.push)
        streamer.flush()
    except (BackendError, SoftTimeLimitExceeded) as exc:
        streamer.flush()
        retryable = isinstance(exc, SoftTimeLimitExceeded) or exc.retryable
        message = "the turn took too long" if isinstance(exc, SoftTimeLimitExceeded) else str(exc)
        return _record_failure(turn.pk, message, retryable=retryable)
    except Exception as exc:  # a bug or an unexpected library error: fail visibly, never hang
        log.exception("agent turn %s crashed", turn_id)
        return _record_failure(turn.pk, f"internal error: {exc!r}", retryable=False)
    latency_ms = int((time.monotonic() - started) * 1000)
    return _store_reply(turn.pk, completion, latency_ms)


def _claim(turn_id: int) -> tuple[AgentTurn, CompletionRequest] | None:
    limits = settings.DELIBERATION
    now = timezone.now()
    with transaction.atomic():
        turn = (
            AgentTurn.objects.select_for_update(of=("self",))
            .select_related("session", "round", "participant__agent_profile")
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
        profile = turn.participant.agent_profile
        transcript = posts_after(session.pk, 0)
        messages = build_messages(
            persona=profile.system_prompt,
            agent_name=turn.participant.display_name,
            question=session.question,
            answer_format=session.answer_format,
            options=session.options,
            round_number=turn.round.number,
            rounds_total=session.protocol_settings.get("rounds"),
            transcript=transcript,
        )
        parameters = {k: v for k, v in profile.parameters.items() if k != "simulated"}
        request = CompletionRequest(
            messages=messages,
            model=profile.model,
            parameters=parameters,
            seed=turn_seed(turn),
            context={
                "question": session.question,
                "answer_format": session.answer_format,
                "options": session.options,
                "round": turn.round.number,
            },
        )
        turn.status = AgentTurn.Status.RUNNING
        turn.attempts += 1
        turn.lease_until = now + timedelta(seconds=limits["AGENT_TURN_TIME_LIMIT"] + 30)
        turn.started_at = turn.started_at or now
        turn.backend, turn.model, turn.parameters = profile.backend, profile.model, parameters
        turn.prompt = messages
        turn.error = ""
        turn.save()
        broadcast.send_on_commit(
            session.pk,
            {"type": "turn.started", "turn": _turn_data(turn)},
        )
    return turn, request


def _turn_data(turn: AgentTurn) -> dict:
    return {
        "id": turn.pk,
        "round": turn.round.number,
        "attempt": turn.attempts,
        "participant": participant_data(turn.participant),
    }


class _DeltaStreamer:
    """Batches token deltas: one group message per flush interval or size, not per token."""

    def __init__(self, turn: AgentTurn):
        self.turn_id = turn.pk
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
            self.session_id, {"type": "turn.delta", "turn_id": self.turn_id, "text": text}
        )


def _store_reply(turn_id: int, completion, latency_ms: int) -> Outcome:
    with transaction.atomic():
        session_id = AgentTurn.objects.values_list("session_id", flat=True).get(pk=turn_id)
        session = DebateSession.objects.select_for_update().get(pk=session_id)
        turn = (
            AgentTurn.objects.select_for_update(of=("self",))
            .select_related("round", "participant__agent_profile")
            .get(pk=turn_id)
        )
        if turn.status != AgentTurn.Status.RUNNING:
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
        parsed = parse_reply(completion.text, session.answer_format, session.options)
        post = store_post(
            session,
            turn.round,
            turn.participant,
            Post.Kind.ARGUMENT,
            completion.text.strip() or "(no reply)",
            answer=parsed.answer,
            confidence=parsed.confidence,
        )
        profile = turn.participant.agent_profile
        turn.status = AgentTurn.Status.DONE
        turn.post = post
        turn.reply = completion.text
        turn.model = completion.model or turn.model
        turn.prompt_tokens = completion.prompt_tokens
        turn.completion_tokens = completion.completion_tokens
        turn.latency_ms = latency_ms
        turn.cost_usd = profile.cost_of(completion.prompt_tokens, completion.completion_tokens)
        turn.finished_at = timezone.now()
        turn.lease_until = None
        turn.save()
        broadcast.send_on_commit(
            session.pk, {"type": "turn.ended", "turn_id": turn.pk, "status": turn.status}
        )
        engine.dispatch(session, p.PostStored(turn.participant_id))
    return Outcome("done")


def _record_failure(turn_id: int, message: str, *, retryable: bool) -> Outcome:
    limits = settings.DELIBERATION
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
        turn.error = message[:2000]
        turn.lease_until = None
        broadcast.send_on_commit(session.pk, {"type": "turn.reset", "turn_id": turn.pk})
        if retryable and turn.attempts < limits["AGENT_TURN_MAX_ATTEMPTS"]:
            turn.status = AgentTurn.Status.QUEUED
            turn.save(update_fields=["status", "error", "lease_until"])
            delay = limits["AGENT_TURN_RETRY_BACKOFF"] * 2 ** (turn.attempts - 1)
            return Outcome("retry", retry_in=delay)
        turn.status = AgentTurn.Status.FAILED
        turn.finished_at = timezone.now()
        turn.save(update_fields=["status", "error", "lease_until", "finished_at"])
        broadcast.send_on_commit(
            session.pk, {"type": "turn.ended", "turn_id": turn.pk, "status": turn.status}
        )
        add_system_post(
            session,
            f"{turn.participant.display_name}'s turn failed after {turn.attempts} "
            f"attempt{'s' if turn.attempts != 1 else ''}: {message}",
            turn.round,
        )
        engine.dispatch(session, p.TurnFailed(turn.participant_id))
    return Outcome("failed")
