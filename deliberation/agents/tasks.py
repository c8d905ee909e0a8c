"""Celery tasks for agents. Thin: the logic lives in ``services``."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from . import opinions, services

LIMITS = settings.DELIBERATION


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=LIMITS["AGENT_TURN_SOFT_TIME_LIMIT"],
    time_limit=LIMITS["AGENT_TURN_TIME_LIMIT"],
    max_retries=None,  # bounded by AGENT_TURN_MAX_ATTEMPTS on the turn row itself
)
def run_agent_turn(self, turn_id: int, lease: str | None = None) -> str:
    try:
        outcome = services.execute_turn(turn_id, lease=lease)
    except services.TurnStorageError as exc:
        # The reply could not be stored nor the attempt ended: try again later, holding the
        # lease, so the retry ends this attempt and claims the turn again.
        raise self.retry(
            args=(turn_id,), kwargs={"lease": exc.lease}, countdown=_db_backoff(self)
        ) from exc
    except DatabaseError as exc:  # before or while claiming: nothing changed; try again later
        services._drop_connection()
        # Keep a lease not yet handed back (it is ignored once it no longer matches the turn).
        kwargs = {"lease": lease} if lease else {}
        raise self.retry(args=(turn_id,), kwargs=kwargs, countdown=_db_backoff(self)) from exc
    if outcome.retry_in is not None:
        raise self.retry(args=(turn_id,), kwargs={}, countdown=outcome.retry_in)
    return outcome.status


def _db_backoff(task) -> float:
    """1, 2, 4 ... seconds, at most a minute, while the database is unreachable."""
    return float(min(2**task.request.retries, 60))


@shared_task(ignore_result=True)
def sweep_agent_turns() -> dict[str, int]:
    """Recover agent turns whose worker died (expired lease) or whose task was lost.

    Run every ``AGENT_TURN_SWEEP_SECONDS`` by Celery beat; see ``services.sweep_turns``.
    """
    return services.sweep_turns()


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=LIMITS["AGENT_TURN_SOFT_TIME_LIMIT"],
    time_limit=LIMITS["AGENT_TURN_TIME_LIMIT"],
    max_retries=None,  # bounded by AGENT_TURN_MAX_ATTEMPTS on the request row itself
)
def run_agent_opinion(self, request_id: int) -> str:
    """Ask an agent for its private opinion after a round (``opinions``)."""
    outcome = opinions.execute_opinion(request_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status
