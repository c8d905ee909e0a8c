"""Debate sessions, their participants, rounds and posts."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse


def new_invite_token() -> str:
    return secrets.token_urlsafe(16)


class DebateSession(models.Model):
    class AnswerFormat(models.TextChoices):
        SINGLE_CHOICE = "single_choice", "Single choice"
        MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
        NUMERIC = "numeric", "Numeric"
        FREE_TEXT = "free_text", "Free text"
        RANKING = "ranking", "Ranking of the options"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        FINISHED = "finished", "Finished"

    class JoinRole(models.TextChoices):
        DEBATER = "debater", "Debater"
        JUDGE = "judge", "Judge"
        OBSERVER = "observer", "Observer"

    title = models.CharField(max_length=200)
    question = models.TextField()
    answer_format = models.CharField(
        max_length=20, choices=AnswerFormat.choices, default=AnswerFormat.SINGLE_CHOICE
    )
    options = models.JSONField(
        default=list, blank=True, help_text="Options, for choice and ranking questions."
    )
    tolerance = models.FloatField(
        default=0.0, help_text="Numeric answers within this distance count as the same answer."
    )
    gold_answer = models.JSONField(
        null=True, blank=True, help_text="The known correct answer, when there is one."
    )
    passage = models.TextField(
        blank=True,
        help_text="Judged debate: the source text the debaters see and quote and the judges "
        "do not (Khan et al. 2024's hidden story).",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    protocol = models.CharField(max_length=50, default="round_robin")
    protocol_settings = models.JSONField(default=dict, blank=True)
    invite_token = models.CharField(max_length=40, unique=True, default=new_invite_token)
    join_role = models.CharField(
        max_length=10,
        choices=JoinRole.choices,
        default=JoinRole.DEBATER,
        help_text="Role given to people who join through the invite link.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="created_sessions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    finish_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("debates:session_detail", args=[self.pk])

    def get_invite_url(self) -> str:
        return reverse("debates:join", args=[self.invite_token])


class Participant(models.Model):
    class Kind(models.TextChoices):
        HUMAN = "human", "Person"
        AGENT = "agent", "Agent"

    class Role(models.TextChoices):
        MODERATOR = "moderator", "Moderator"
        DEBATER = "debater", "Debater"
        JUDGE = "judge", "Judge"
        OBSERVER = "observer", "Observer"

    session = models.ForeignKey(
        DebateSession, on_delete=models.CASCADE, related_name="participants"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="participations",
    )
    agent_profile = models.ForeignKey(
        "agents.AgentProfile",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="participations",
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.DEBATER)
    display_name = models.CharField(max_length=100)
    # Speaking order within the session (round robin goes by ascending position).
    position = models.PositiveIntegerField(default=0)
    # The stance or answer this participant must defend (Socratic and judged debates).
    side = models.CharField(max_length=500, blank=True)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "user"],
                condition=Q(user__isnull=False),
                name="one_participation_per_user",
            ),
            models.CheckConstraint(
                condition=(Q(kind="human", user__isnull=False, agent_profile__isnull=True))
                | (Q(kind="agent", user__isnull=True, agent_profile__isnull=False)),
                name="participant_is_person_xor_agent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.get_kind_display()}, {self.role})"

    @property
    def is_agent(self) -> bool:
        return self.kind == self.Kind.AGENT

    @property
    def can_post(self) -> bool:
        return self.role in (self.Role.DEBATER, self.Role.MODERATOR, self.Role.JUDGE)


class Round(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    session = models.ForeignKey(DebateSession, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    phase = models.CharField(max_length=30, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["session", "number"], name="unique_round_number")
        ]

    def __str__(self) -> str:
        return f"round {self.number} of {self.session_id}"


class Post(models.Model):
    """One message in a session's transcript, numbered by a per-session sequence."""

    class Kind(models.TextChoices):
        ARGUMENT = "argument", "Argument"
        NOTE = "note", "Moderator note"
        SYSTEM = "system", "System"
        EVENT = "event", "Event"

    class ParseStatus(models.TextChoices):
        NONE = "", "No answer expected"
        PARSED = "parsed", "Answer read"
        REPAIRED = "repaired", "Answer read after a repair prompt"
        UNPARSED = "unparsed", "No usable answer"

    session = models.ForeignKey(DebateSession, on_delete=models.CASCADE, related_name="posts")
    seq = models.PositiveIntegerField()
    round = models.ForeignKey(
        Round, null=True, blank=True, on_delete=models.SET_NULL, related_name="posts"
    )
    author = models.ForeignKey(
        Participant, null=True, blank=True, on_delete=models.SET_NULL, related_name="posts"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ARGUMENT)
    # For a peer review: the participant whose solution this post reviews.
    target = models.ForeignKey(
        Participant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    answer = models.JSONField(null=True, blank=True, help_text="Structured answer, if given.")
    confidence = models.FloatField(null=True, blank=True)
    parse_status = models.CharField(
        max_length=10, choices=ParseStatus.choices, default=ParseStatus.NONE, blank=True
    )
    # Event details (moderator actions, abstentions) and extras such as a review's 1-10 score.
    data = models.JSONField(default=dict, blank=True)
    # NULL (not "") when absent, so the partial unique constraint below ignores it.
    client_msg_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="unique_post_seq"),
            models.UniqueConstraint(
                fields=["author", "client_msg_id"],
                condition=Q(client_msg_id__isnull=False),
                name="unique_client_msg_id",
            ),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__gte=0, confidence__lte=1),
                name="confidence_between_0_and_1",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.session_id}"


class Opinion(models.Model):
    """A participant's privately reported opinion after a round (as in the DEBATE benchmark).

    Kept apart from what they post publicly; only the moderator and the participant see it.
    """

    session = models.ForeignKey(DebateSession, on_delete=models.CASCADE, related_name="opinions")
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="opinions")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="opinions")
    answer = models.JSONField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["round__number", "participant__position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["round", "participant"], name="one_opinion_per_round"),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__gte=0, confidence__lte=1),
                name="opinion_confidence_between_0_and_1",
            ),
        ]

    def __str__(self) -> str:
        return f"opinion of {self.participant_id} in round {self.round_id}"


class TurnDeadline(models.Model):
    """A person's pending turn and when it runs out.

    ``due_at`` is NULL while the session is paused (``remaining_seconds`` holds what is left),
    so a pause stops the clock.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        MET = "met", "Met"
        EXPIRED = "expired", "Expired"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"

    session = models.ForeignKey(DebateSession, on_delete=models.CASCADE, related_name="deadlines")
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="deadlines")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="deadlines")
    target = models.ForeignKey(
        Participant, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    step = models.PositiveIntegerField(default=0)  # the target's id, or 0
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    due_at = models.DateTimeField(null=True, blank=True)
    remaining_seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["round", "participant", "step"], name="one_deadline_per_slot"
            )
        ]
        indexes = [models.Index(fields=["session", "status"])]

    def __str__(self) -> str:
        return f"deadline of {self.participant_id} in round {self.round_id} ({self.status})"
