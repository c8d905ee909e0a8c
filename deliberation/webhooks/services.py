"""Webhook events and their delivery: signed POSTs, retried with exponential backoff.

An event becomes one :class:`~.models.Delivery` row per subscribed webhook whose owner may see
the object (the session's moderators or creator, the batch run's creator; staff see all), in the
transaction that produced it; its task is enqueued on commit. Delivering claims the row with
``SELECT ... FOR UPDATE SKIP LOCKED`` and sends only while it is pending, so a duplicated or
redelivered task never sends twice and a delivered row is never resent. A non-2xx answer, a
timeout or a refused connection schedules the next attempt after ``base * 2**(attempts - 1)``
seconds (capped), up to ``WEBHOOK_MAX_ATTEMPTS``; then the delivery is failed (the page shows
why, and it can be sent again by hand). ``retry_due`` re-enqueues attempts whose task was lost.

Receivers are chosen by users, so every POST goes through :mod:`deliberation.netguard` (the
address is checked after DNS resolution, the connection is pinned to it, redirects are not
followed) and a refused address fails the delivery at once. What is recorded, and shown on the
page, is the HTTP status only, never the receiver's body, and every network failure reads the
same ("could not connect or no answer within N s"), so a webhook cannot be used to read
internal services or to tell open ports from closed ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from deliberation import netguard

from .models import Delivery, Webhook
from .signing import sign


def max_attempts() -> int:
    return int(getattr(settings, "WEBHOOK_MAX_ATTEMPTS", 8))


def backoff_seconds(attempts: int) -> float:
    """Wait before attempt ``attempts + 1``: ``base * 2**(attempts - 1)``, at most ``cap``."""
    base = float(getattr(settings, "WEBHOOK_BACKOFF_SECONDS", 10))
    cap = float(getattr(settings, "WEBHOOK_BACKOFF_MAX_SECONDS", 3600))
    return min(base * 2 ** max(attempts - 1, 0), cap)


def timeout_seconds() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", 10))


# --- events ----------------------------------------------------------------------------------
def emit(event: str, data: dict[str, Any], owners: Iterable[int]) -> list[Delivery]:
    """Create a delivery of ``event`` for every active webhook subscribed to it whose owner is
    in ``owners`` or is staff; each is sent after commit."""
    staff = get_user_model().objects.filter(is_staff=True).values("pk")
    hooks = Webhook.objects.filter(active=True, events__contains=[event]).filter(
        Q(owner_id__in=list(owners)) | Q(owner__in=staff)
    )
    with transaction.atomic():
        deliveries = [_new_delivery(hook, event, data) for hook in hooks]
    return deliveries


def _new_delivery(hook: Webhook, event: str, data: dict[str, Any]) -> Delivery:
    """A pending delivery, sent after commit; its payload names the delivery (the receiver's
    idempotency key), so the row is written first and its payload then."""
    delivery = Delivery.objects.create(webhook=hook, event=event, payload={})
    delivery.payload = {
        "event": event,
        "delivery": delivery.pk,
        "created_at": delivery.created_at.isoformat(),
        "data": data,
    }
    delivery.next_attempt_at = delivery.created_at
    delivery.save(update_fields=["payload", "next_attempt_at"])
    _enqueue_on_commit(delivery.pk)
    return delivery


def _enqueue_on_commit(delivery_id: int, countdown: float = 0) -> None:
    from . import tasks

    transaction.on_commit(
        lambda: tasks.deliver.apply_async(args=[delivery_id], countdown=countdown)
    )


def session_data(session) -> dict[str, Any]:
    from deliberation.debates.outcomes import outcome_data, session_outcome

    final = None
    if session.status == session.Status.FINISHED:
        final = outcome_data(session_outcome(session))
    return {
        "session": {
            "id": session.pk,
            "title": session.title,
            "status": session.status,
            "protocol": session.protocol,
            "finish_reason": session.finish_reason,
            "url": session.get_absolute_url(),
        },
        "outcome": final,
    }


def session_owners(session) -> set[int]:
    owners = set(
        session.participants.filter(role="moderator", user__isnull=False).values_list(
            "user_id", flat=True
        )
    )
    if session.created_by_id:
        owners.add(session.created_by_id)
    return owners


def on_session_finished(session_id: int) -> None:
    from deliberation.debates.models import DebateSession

    session = DebateSession.objects.filter(pk=session_id).first()
    if session is not None:
        emit("session.finished", session_data(session), session_owners(session))


def on_decision_published(session) -> None:
    from deliberation.moderation.services import published_revision

    revision = published_revision(session)
    if revision is None:
        return
    data = session_data(session)
    data["decision"] = {
        "answer": revision.final_answer,
        "rationale": revision.rationale,
        "revision": revision.number,
        "decided_by": revision.decided_by.get_username() if revision.decided_by else None,
        "posts": sorted(revision.posts.values_list("seq", flat=True)),
    }
    emit("session.adjudicated", data, session_owners(session))


def on_batch_finished(run_id: int) -> None:
    from deliberation.batches.models import BatchRun
    from deliberation.batches.services import progress

    run = BatchRun.objects.filter(pk=run_id).first()
    if run is None:
        return
    data = {
        "batch": {
            "id": run.pk,
            "name": run.name,
            "status": run.status,
            "protocol": run.protocol,
            "url": run.get_absolute_url(),
            "progress": progress(run),
        }
    }
    emit("batch.finished", data, [run.created_by_id])


def ping(webhook: Webhook) -> Delivery:
    """A test delivery to one webhook, whatever its events."""
    with transaction.atomic():
        return _new_delivery(webhook, "ping", {"webhook": webhook.pk})


# --- delivering ------------------------------------------------------------------------------
def deliver(delivery_id: int) -> str:
    """Send one pending delivery (see the module docstring); returns its status afterwards."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True)
            .select_related("webhook")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "busy"  # another worker is sending it right now
        if delivery.status != Delivery.Status.PENDING:
            return delivery.status
        body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "deliberation-webhooks",
            "X-Deliberation-Event": delivery.event,
            "X-Deliberation-Delivery": str(delivery.pk),
            "X-Deliberation-Timestamp": str(stamp),
            "X-Deliberation-Signature": sign(delivery.webhook.secret, stamp, body),
        }
        delivery.attempts += 1
        code, error, final = None, "", False
        try:
            code = _post(delivery.webhook.url, body, headers)
            if not 200 <= code < 300:
                error = f"HTTP {code}"  # the status only: never the receiver's body
        except netguard.OutboundRefused as exc:
            error, final = f"refused: {exc}", True
        except (httpx.HTTPError, httpx.InvalidURL, OSError):
            # One message for refused, filtered, silent and non-HTTP ports alike.
            error = f"could not connect or no answer within {timeout_seconds():g} s"
        delivery.last_status_code, delivery.last_error = code, error[:500]
        now = timezone.now()
        if not error:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                Delivery.Status.DELIVERED,
                now,
                None,
            )
        elif final or delivery.attempts >= max_attempts():
            delivery.status, delivery.next_attempt_at = Delivery.Status.FAILED, None
        else:
            wait = backoff_seconds(delivery.attempts)
            delivery.next_attempt_at = now + timedelta(seconds=wait)
            _enqueue_on_commit(delivery.pk, countdown=wait)
        delivery.save()
        return delivery.status


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST through the outbound guard, without following redirects; the status code. The
    body is not read beyond what the connection needs (and never kept)."""
    with (
        netguard.client(timeout=timeout_seconds()) as client,
        client.stream("POST", url, content=body, headers=headers) as response,
    ):
        return response.status_code


def retry_due(grace_seconds: float = 60) -> int:
    """Re-enqueue pending deliveries whose attempt is overdue (their task was lost)."""
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    due = list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=cutoff
        ).values_list("pk", flat=True)[:500]
    )
    with transaction.atomic():
        for pk in due:
            _enqueue_on_commit(pk)
    return len(due)


def redeliver(delivery: Delivery) -> Delivery:
    """Send a failed delivery again (a fresh series of attempts)."""
    with transaction.atomic():
        updated = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.FAILED).update(
            status=Delivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        if updated:
            _enqueue_on_commit(delivery.pk)
    delivery.refresh_from_db()
    return delivery
