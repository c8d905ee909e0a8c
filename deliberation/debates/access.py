"""An open socket keeps no right it has lost.

Rights are checked when a socket connects; these receivers close the sockets of a participant
who is removed from a session, or of a user whose account is deactivated, as soon as the change
commits (``access.revoked`` to the session groups; the consumer closes with 4403). The consumer
also re-checks membership before acting on any frame, so a lost broadcast cannot leave a
revoked socket able to write.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from . import broadcast
from .models import Participant


def still_member(participant_id: int) -> bool:
    """Whether the participant still exists and its account (people) is active."""
    return (
        Participant.objects.filter(pk=participant_id)
        .exclude(user__isnull=False, user__is_active=False)
        .exists()
    )


def _participant_removed(sender, instance: Participant, **kwargs) -> None:
    broadcast.send_on_commit(
        instance.session_id, {"type": "access.revoked", "participant_ids": [instance.pk]}
    )


def _user_saved(sender, instance, **kwargs) -> None:
    if instance.is_active:
        return
    for session_id, participant_id in Participant.objects.filter(user=instance).values_list(
        "session_id", "pk"
    ):
        broadcast.send_on_commit(
            session_id, {"type": "access.revoked", "participant_ids": [participant_id]}
        )


def connect() -> None:
    post_delete.connect(_participant_removed, sender=Participant, dispatch_uid="access-removed")
    post_save.connect(_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="access-user")
