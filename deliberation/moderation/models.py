"""Adjudicated final answers: one adjudication per session, an append-only trail of revisions.

The current decision is the latest revision. A revision is never changed or deleted: revising
adds a new one, which must give a reason. Each revision keeps who decided, when, the final
answer, the written rationale, the posts it relies on (posts of the same session only), the
rules whose recommendation it matches, and a snapshot of the session's metrics at that moment.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.signals import m2m_changed
from django.dispatch import receiver


class Adjudication(models.Model):
    session = models.OneToOneField(
        "debates.DebateSession", on_delete=models.CASCADE, related_name="adjudication"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Participants see the current (latest) revision once the adjudication is published.
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"adjudication of session {self.session_id}"

    @property
    def published(self) -> bool:
        return self.published_at is not None


class AdjudicationRevision(models.Model):
    """One decision in the trail; append-only (``save`` refuses updates, ``delete`` refuses)."""

    adjudication = models.ForeignKey(
        Adjudication, on_delete=models.CASCADE, related_name="revisions"
    )
    number = models.PositiveIntegerField()
    final_answer = models.JSONField()
    rationale = models.TextField()
    reason = models.TextField(blank=True, help_text="Why the previous decision was revised.")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="adjudications"
    )
    decided_at = models.DateTimeField(auto_now_add=True)
    posts = models.ManyToManyField(
        "debates.Post", related_name="adjudications", help_text="The posts the decision relies on."
    )
    rules_agreeing = models.JSONField(
        default=list, help_text="The rules whose recommended answer equals the final answer."
    )
    metrics = models.JSONField(default=dict, help_text="The session's metrics when decided.")

    class Meta:
        ordering = ["adjudication", "number"]
        constraints = [
            models.UniqueConstraint(fields=["adjudication", "number"], name="one_revision_number"),
            models.CheckConstraint(
                condition=Q(number=1) | ~Q(reason=""), name="revision_needs_reason"
            ),
            models.CheckConstraint(condition=~Q(rationale=""), name="decision_needs_rationale"),
        ]

    def __str__(self) -> str:
        return f"revision {self.number} of {self.adjudication}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValidationError("Adjudication revisions are kept as written; add a new one.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Adjudication revisions are never deleted.")


@receiver(m2m_changed, sender=AdjudicationRevision.posts.through)
def _posts_of_the_same_session(sender, instance, action, pk_set, model, **kwargs) -> None:
    """A revision links only posts of its own session, however the link is made."""
    if action != "pre_add" or not pk_set or not isinstance(instance, AdjudicationRevision):
        return
    session_id = instance.adjudication.session_id
    foreign = model.objects.filter(pk__in=pk_set).exclude(session_id=session_id)
    if foreign.exists():
        raise ValidationError("An adjudication can only cite posts of its own session.")
