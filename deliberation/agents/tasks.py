"""Celery tasks for agents. Thin: the logic lives in ``services``."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

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
def run_agent_turn(self, turn_id: int) -> str:
    outcome = services.execute_turn(turn_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


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
