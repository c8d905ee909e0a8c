"""Reviewers' marks on transcripts: flags (on a post or a whole session) and notes."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Flag(models.Model):
    """A reviewer's flag on a session, or on one of its posts; open until resolved."""

    class Reason(models.TextChoices):
        HARMFUL = "harmful", "Harmful or abusive"
        OFF_TOPIC = "off_topic", "Off topic"
        WRONG_PARSE = "wrong_parse", "Answer read wrongly"
        HALLUCINATION = "hallucination", "Made-up facts"
        PRIVACY = "privacy", "Personal data"
        OTHER = "other", "Other"

    session = models.ForeignKey(
        "debates.DebateSession", on_delete=models.CASCADE, related_name="flags"
    )
    post = models.ForeignKey(
        "debates.Post", null=True, blank=True, on_delete=models.CASCADE, related_name="flags"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.OTHER)
    note = models.TextField(blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["session", "resolved_at"])]

    def __str__(self) -> str:
        where = f"post #{self.post.seq}" if self.post_id else "session"
        return f"{self.get_reason_display()} on {where} of {self.session_id}"


class ReviewNote(models.Model):
    """A reviewer's note on a session or one of its posts, with who wrote it and when."""

    session = models.ForeignKey(
        "debates.DebateSession", on_delete=models.CASCADE, related_name="review_notes"
    )
    post = models.ForeignKey(
        "debates.Post", null=True, blank=True, on_delete=models.CASCADE, related_name="review_notes"
    )
    text = models.TextField()
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:60]
