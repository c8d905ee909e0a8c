"""Which sessions a user may export: those they moderate (all of them for staff)."""

from __future__ import annotations

from django.db.models import QuerySet

from deliberation.debates.models import DebateSession
from deliberation.moderation.services import moderated_sessions

from .formats import parse_ids


class SelectionError(ValueError):
    """A bad ``ids`` or ``status``; the message names it."""


class NotYours(PermissionError):
    pass


def exportable(user, *, ids: str | None = None, status: str | None = None) -> QuerySet:
    """The sessions ``user`` may export, optionally only ``ids`` ("1,2 3") or one ``status``.

    Naming a session the user may not export refuses the whole request (raises NotYours),
    rather than silently leaving it out of a dataset.
    """
    sessions = moderated_sessions(user).distinct()
    if status:
        if status not in DebateSession.Status.values:
            known = ", ".join(DebateSession.Status.values)
            raise SelectionError(f"Unknown status {status[:40]!r}; known: {known}.")
        sessions = sessions.filter(status=status)
    if ids:
        try:
            wanted = parse_ids(ids)
        except ValueError as exc:
            raise SelectionError(str(exc)) from None
        allowed = set(sessions.filter(pk__in=wanted).values_list("pk", flat=True))
        if set(wanted) - allowed:
            raise NotYours("Some of these sessions are not yours to export.")
        return DebateSession.objects.filter(pk__in=allowed)
    return DebateSession.objects.filter(pk__in=sessions.values("pk"))
