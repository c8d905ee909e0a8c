"""Thin Celery tasks over :mod:`.services` (idempotent: the delivery row is the key)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def deliver(delivery_id: int) -> str:
    from . import services

    return services.deliver(delivery_id)


@shared_task
def retry_due() -> int:
    from . import services

    return services.retry_due()
