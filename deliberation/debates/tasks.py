"""Celery tasks of debate sessions: people's turn deadlines."""

from __future__ import annotations

from celery import shared_task

from . import controls


@shared_task(acks_late=True, ignore_result=True)
def expire_deadline(deadline_id: int) -> str:
    """Fire a person's deadline: the protocol records an abstention and moves on.

    Idempotent: a deadline that was met, extended (it reschedules itself), paused or already
    expired is left alone, so stale or duplicated deliveries do nothing.
    """
    return controls.expire_deadline(deadline_id)


@shared_task(ignore_result=True)
def sweep_deadlines() -> int:
    """Fire deadlines whose own task was lost (a worker restarted while holding it).

    Run every ``DEADLINE_SWEEP_SECONDS`` by Celery beat; firing is idempotent, so a deadline
    that its own task also fires is handled once.
    """
    return controls.sweep_overdue_deadlines()
