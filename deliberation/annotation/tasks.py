"""Thin Celery tasks: each calls one service function, which does the work and is idempotent."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=3600, time_limit=3700)
def run_import(job_id: int) -> None:
    """Import an uploaded file (all-or-nothing unless the job says otherwise)."""
    from . import importing

    importing.run_import(job_id)


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def label_with_agents(run_id: int, lane: int) -> None:
    """Work through one lane of an agent labelling run (a chunk, then re-enqueue itself)."""
    from . import agent_runs

    agent_runs.work(run_id, lane)


@shared_task(acks_late=True)
def auto_escalate(item_id: int) -> None:
    """Open a deliberation for an item that became disputed, if its project says so."""
    from . import escalation

    escalation.maybe_auto_escalate(item_id)
