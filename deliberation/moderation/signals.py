"""Signals of the moderation app, so other apps react to decisions without being imported here.

``decision_published`` (sender: :class:`~deliberation.debates.models.DebateSession`, kwargs
``session`` and ``user``) is sent after the transaction that publishes a session's decision
commits; the receiver reads the decision with ``services.published_revision(session)``.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

decision_published = Signal()


def send_decision_published_on_commit(session, user) -> None:
    """Send ``decision_published`` once committed; a failing receiver is logged, not raised
    (the decision is already published and stays so)."""

    def send() -> None:
        results = decision_published.send_robust(sender=type(session), session=session, user=user)
        for receiver, result in results:
            if isinstance(result, Exception):
                log.error(
                    "decision_published receiver %r failed for session %s",
                    receiver,
                    session.pk,
                    exc_info=result,
                )

    transaction.on_commit(send)
