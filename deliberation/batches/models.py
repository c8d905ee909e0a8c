"""Batch runs: a question set answered by agents only, one session per question.

Each question becomes a :class:`BatchItem` whose session runs through the same engine, Celery
tasks and protocols as a live session. Items are the unit of resumption: an item whose session
finished is never redone, and one whose session is still open is picked up where it stopped.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class BatchRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        CANCELLED = "cancelled", "Cancelled"

    name = models.CharField(max_length=200)
    protocol = models.CharField(max_length=50)
    protocol_settings = models.JSONField(default=dict, blank=True)
    answer_format = models.CharField(max_length=20, default="single_choice")
    tolerance = models.FloatField(default=0.0)
    # Agent profile ids in speaking order (a profile may appear twice: two instances).
    agent_ids = models.JSONField(default=list)
    judge_id = models.IntegerField(null=True, blank=True, help_text="Agent profile judging.")
    concurrency = models.PositiveSmallIntegerField(default=4)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="batch_runs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("batches:detail", args=[self.pk])


class BatchItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(BatchRun, on_delete=models.CASCADE, related_name="items")
    index = models.PositiveIntegerField()
    question = models.TextField()
    options = models.JSONField(default=list, blank=True)
    gold = models.JSONField(null=True, blank=True)
    # A judged debate's hidden source text (the question set's ``passage`` column).
    passage = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    session = models.OneToOneField(
        "debates.DebateSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="batch_item",
    )
    error = models.TextField(blank=True)
    # Computed once from the stored posts when the session finishes (see services.item_result).
    result = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="unique_batch_item_index")
        ]
        indexes = [models.Index(fields=["run", "status"])]

    def __str__(self) -> str:
        return f"item {self.index} of run {self.run_id}"
