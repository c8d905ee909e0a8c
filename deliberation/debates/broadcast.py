"""Fan-out of session events to every connected client through the channel layer.

Persist, then broadcast: anything that reflects stored state is sent only from
``transaction.on_commit``, so no client ever sees a post that could still roll back. Token
deltas of an agent's reply are ephemeral and are sent immediately.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def group_name(session_id: int) -> str:
    return f"debate-session-{session_id}"


def send_now(session_id: int, message: dict[str, Any]) -> None:
    """Send a message to the session's group; a broadcast failure is logged, never raised,
    because the stored state is already safe and clients catch up on reconnect."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group_name(session_id), message)
    except Exception:  # pragma: no cover - depends on Redis being down
        log.exception("broadcast to session %s failed", session_id)


def send_on_commit(session_id: int, message: dict[str, Any]) -> None:
    transaction.on_commit(lambda: send_now(session_id, message))


def changed_on_commit(session_id: int) -> None:
    """Announce that the session's stored state changed, once the transaction commits.

    Sent with every published state (each protocol event) and each private opinion, so
    receivers such as the live metrics recompute once per change, not once per viewer.
    """
    from .signals import session_changed

    transaction.on_commit(lambda: session_changed.send(sender=None, id=session_id))
