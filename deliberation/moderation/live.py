"""Live metrics: computed once per change, cached, and pushed to the session's moderators.

``debates.signals.session_changed`` is sent after every transaction that changed a session
commits, in the process that committed it (a web worker or a Celery worker). Its receiver here
recomputes the metrics once, renders the moderator panel once, stores both in the Django cache
(Redis) and sends one small ``metrics.updated`` message to the moderators' channel group; each
moderator socket then sends the cached panel. Nothing is recomputed per viewer.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.template.loader import render_to_string

from deliberation.debates.models import DebateSession

from .charts import panel_context
from .metrics import METRICS_VERSION, session_metrics

log = logging.getLogger(__name__)
CACHE_SECONDS = 24 * 3600


def group_name(session_id: int) -> str:
    return f"moderation-session-{session_id}"


def cache_key(session: DebateSession) -> str:
    # The creation time keeps a recreated test database from reading an older session's entry.
    return f"moderation:metrics:v{METRICS_VERSION}:{session.pk}:{session.created_at.timestamp()}"


def render_panel(metrics: dict[str, Any], *, oob: bool = False) -> str:
    return render_to_string("moderation/_metrics.html", {**panel_context(metrics), "oob": oob})


def refresh(session: DebateSession) -> dict[str, Any]:
    """Recompute the metrics and the panel, and cache them; returns the cache entry."""
    metrics = session_metrics(session)
    entry = {"metrics": metrics, "html": render_panel(metrics, oob=True)}
    cache.set(cache_key(session), entry, CACHE_SECONDS)
    return entry


def cached(session: DebateSession) -> dict[str, Any]:
    """The cached entry (``metrics`` and the out-of-band ``html`` panel), computed if missing."""
    entry = cache.get(cache_key(session))
    return entry if entry is not None else refresh(session)


def get_metrics(session: DebateSession) -> dict[str, Any]:
    return cached(session)["metrics"]


def watchers_key(session_id: int) -> str:
    return f"moderation:watchers:{session_id}"


def watch(session_id: int, delta: int) -> None:
    """Count the moderator sockets open on a session (``delta`` is +1 or -1)."""
    key = watchers_key(session_id)
    cache.add(key, 0, CACHE_SECONDS)
    try:
        cache.incr(key, delta)
    except ValueError:  # expired between add and incr
        cache.set(key, max(delta, 0), CACHE_SECONDS)


def watched(session_id: int) -> bool:
    return (cache.get(watchers_key(session_id)) or 0) > 0


def on_session_changed(sender: Any, id: int, **kwargs: Any) -> None:
    """Receiver of ``session_changed``: never raises, the change is already committed.

    With no moderator watching (batch runs, most of the time) the cached entry is only
    dropped, and the next page view computes it: no work per post that nobody looks at.
    """
    try:
        session = DebateSession.objects.filter(pk=id).first()
        if session is None:
            return
        if not watched(id):
            cache.delete(cache_key(session))
            return
        entry = refresh(session)
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(
                group_name(id),
                {
                    "type": "metrics.updated",
                    "session_id": id,
                    "last_seq": entry["metrics"]["last_seq"],
                    "computed_at": entry["metrics"]["computed_at"],
                },
            )
    except Exception:  # pragma: no cover - logged; the moderator page still reloads fine
        log.exception("live metrics of session %s failed", id)
