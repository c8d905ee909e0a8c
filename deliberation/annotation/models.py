"""Annotation projects: items, annotators (people, crowd workers, agents), assignments, labels.

Derived numbers (labels per item, agreement, consensus labels, annotator quality) are computed
from the stored labels, never kept by hand in a second place. The only stored decision is an
item's *adjudicated* final label, which has an author and a source (a deliberation session).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


def _token() -> str:
    return secrets.token_urlsafe(16)


class Project(models.Model):
    """A labelling job: a label schema, instructions, and the rules of collection."""

    class LabelFormat(models.TextChoices):
        SINGLE_CHOICE = "single_choice", "Single choice"
        MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
        NUMERIC = "numeric", "Numeric"
        FREE_TEXT = "free_text", "Free text"

    name = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    label_format = models.CharField(
        max_length=20, choices=LabelFormat.choices, default=LabelFormat.SINGLE_CHOICE
    )
    options = models.JSONField(default=list, blank=True, help_text="Choices, in display order.")
    tolerance = models.FloatField(default=0.0, help_text="Numeric labels: equal within this.")
    labels_per_item = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    # Columns of the imported rows shown to annotators, in order (empty: every column).
    shown_fields = models.JSONField(default=list, blank=True)
    show_others_labels = models.BooleanField(
        default=False, help_text="Annotators see earlier labels of an item (off: blind labelling)."
    )
    ask_confidence = models.BooleanField(default=True)
    disputed_first = models.BooleanField(
        default=False,
        help_text="Once every item has its labels, hand out the most disputed items first.",
    )
    # Gold / attention checks: below this accuracy (after ``gold_min_answered`` checks) an
    # annotator gets no more items. None: never stop anyone.
    gold_threshold = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    gold_min_answered = models.PositiveSmallIntegerField(default=3)
    # Crowd workers: a join link carrying this token; each worker labels this many items and
    # then receives a completion code.
    crowd_token = models.CharField(max_length=40, default=_token, unique=True)
    crowd_enabled = models.BooleanField(default=False)
    items_per_worker = models.PositiveIntegerField(default=10, validators=[MinValueValidator(1)])
    # Escalation of disputed items into a live deliberation.
    dispute_threshold = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="An item whose top answer has at most this share of its labels is disputed.",
    )
    auto_escalate = models.BooleanField(default=False)
    escalation_protocol = models.CharField(max_length=40, default="round_robin")
    escalation_agents = models.ManyToManyField("agents.AgentProfile", blank=True, related_name="+")
    assignment_minutes = models.PositiveIntegerField(
        default=30, help_text="How long an assigned item is held for its annotator."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_projects"
    )
    managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="managed_projects"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    """One thing to label: the imported row (any columns) and, optionally, its gold label."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=200)
    position = models.PositiveIntegerField(help_text="Order of import.")
    data = models.JSONField(default=dict)
    gold = models.JSONField(null=True, blank=True, help_text="Known answer, if any.")
    is_check = models.BooleanField(
        default=False, help_text="A gold / attention-check item scored against ``gold``."
    )
    # An adjudicated final label (from a deliberation or a manager); None: the aggregate stands.
    final_label = models.JSONField(null=True, blank=True)
    final_rationale = models.TextField(blank=True)
    final_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    final_at = models.DateTimeField(null=True, blank=True)
    escalation = models.OneToOneField(
        "debates.DebateSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="escalated_item",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "position"]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="item_id_per_project"),
            models.CheckConstraint(
                condition=Q(is_check=False) | Q(gold__isnull=False), name="check_item_has_gold"
            ),
        ]
        indexes = [models.Index(fields=["project", "position"])]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.external_id}"


class Annotator(models.Model):
    """Who labels in a project: a signed-in person, a crowd worker (external id), or an agent."""

    class Kind(models.TextChoices):
        PERSON = "person", "Person"
        CROWD = "crowd", "Crowd worker"
        AGENT = "agent", "Agent"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotators")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    worker_id = models.CharField(max_length=200, blank=True)
    agent = models.ForeignKey(
        "agents.AgentProfile", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(max_length=200)
    completion_code = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="person", user__isnull=False, agent__isnull=True, worker_id="")
                    | Q(kind="crowd", user__isnull=True, agent__isnull=True) & ~Q(worker_id="")
                    | Q(kind="agent", user__isnull=True, agent__isnull=False, worker_id="")
                ),
                name="annotator_kind_fields",
            ),
            models.UniqueConstraint(
                fields=["project", "user"], condition=Q(kind="person"), name="one_person_annotator"
            ),
            models.UniqueConstraint(
                fields=["project", "worker_id"],
                condition=Q(kind="crowd"),
                name="one_crowd_annotator",
            ),
            models.UniqueConstraint(
                fields=["project", "agent"], condition=Q(kind="agent"), name="one_agent_annotator"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def label_key(self) -> str:
        """The worker id used in exports and aggregation (stable, unique in the project)."""
        if self.kind == self.Kind.CROWD:
            return f"crowd:{self.worker_id}"
        if self.kind == self.Kind.AGENT:
            return f"agent:{self.agent.name}"
        return f"user:{self.user.get_username()}"


class Assignment(models.Model):
    """An item held for one annotator until they label it, skip it, or the hold expires."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    assigned_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["assigned_at", "id"]
        constraints = [
            # One worker id never takes the same item twice (not even after skipping it).
            models.UniqueConstraint(fields=["item", "annotator"], name="one_assignment_per_item"),
        ]
        indexes = [models.Index(fields=["item", "status"])]

    def __str__(self) -> str:
        return f"{self.item_id} for {self.annotator_id} ({self.status})"


class Label(models.Model):
    """One annotator's label of one item, with what it cost (time, or an agent's usage)."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="labels")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="labels")
    value = models.JSONField()
    confidence = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    rationale = models.TextField(blank=True)
    seconds_spent = models.FloatField(null=True, blank=True)
    # Agents: the call that produced the label.
    model = models.CharField(max_length=200, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    prompt = models.JSONField(default=list, blank=True)
    reply = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="one_label_per_annotator"),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__gte=0) & Q(confidence__lte=1),
                name="label_confidence_0_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} on {self.item_id}: {self.value!r}"


class ImportJob(models.Model):
    """An upload of items; large files are read by a Celery task that reports progress."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    filename = models.CharField(max_length=255)
    content = models.BinaryField(help_text="The uploaded file, kept until it is imported.")
    options = models.JSONField(default=dict, blank=True, help_text="Column mapping, mode.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_items = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{line, column, reason}]")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.filename} ({self.status})"


class AgentLabelRun(models.Model):
    """Agent profiles labelling a project's items in Celery, ``concurrency`` calls at a time.

    Resumable: the work is the set of (item, agent) pairs without a label, recomputed on every
    start, so a crashed worker neither loses nor repeats a stored label.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        DONE = "done", "Done"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agent_runs")
    profiles = models.ManyToManyField("agents.AgentProfile", related_name="+")
    concurrency = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(64)]
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    total = models.PositiveIntegerField(default=0)
    failures = models.JSONField(default=list, blank=True, help_text="[{item, agent, error}]")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"agent run {self.pk} ({self.status})"
