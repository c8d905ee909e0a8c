"""Agent profiles (how to reach a model) and agent turns (one call to it, with its record)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models


def outbound_problems(backend: str, base_url: str, api_key_env: str) -> dict[str, str]:
    """Field errors for what an ``openai`` profile would make the worker do (docs/security.md):
    read an environment variable that is not on ``AGENT_API_KEY_ENV_ALLOWED``, or call a
    ``base_url`` whose host is an address the server does not call. Shared by ``clean()``
    (admin, imports) and the API serializer; the backend checks both again at call time."""
    from deliberation import netguard
    from deliberation.agents.backends import api_key_env_allowed

    if backend != AgentProfile.Backend.OPENAI:
        return {}  # the simulated backend reads no key and calls nothing
    problems = {}
    if api_key_env and not api_key_env_allowed(api_key_env):
        allowed = ", ".join(getattr(settings, "AGENT_API_KEY_ENV_ALLOWED", ()) or ()) or "none"
        problems["api_key_env"] = (
            f"{api_key_env} is not an API key variable this server may read "
            f"(allowed: {allowed}; the operator sets DELIBERATION_AGENT_API_KEY_ENVS)."
        )
    if base_url:
        try:
            netguard.check_url(base_url)
        except netguard.OutboundRefused as exc:
            problems["base_url"] = str(exc)
    return problems


class AgentProfile(models.Model):
    """A configured LLM participant: backend, model, sampling parameters and persona.

    The API key is never stored: ``api_key_env`` names the environment variable that holds it.
    """

    class Backend(models.TextChoices):
        SIMULATED = "simulated", "Simulated (offline, deterministic)"
        OPENAI = "openai", "OpenAI-compatible server"

    name = models.CharField(max_length=100, unique=True)
    backend = models.CharField(max_length=20, choices=Backend.choices, default=Backend.SIMULATED)
    model = models.CharField(max_length=200, default="simulated-1")
    base_url = models.URLField(
        blank=True, help_text="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1"
    )
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[RegexValidator(r"^[A-Z_][A-Z0-9_]*$", "An environment variable name.")],
        help_text="Name of the environment variable holding the API key (never the key).",
    )
    parameters = models.JSONField(
        default=dict, blank=True, help_text='Sampling parameters, e.g. {"temperature": 0.7}.'
    )
    system_prompt = models.TextField(blank=True, help_text="Persona / system prompt.")
    seed = models.IntegerField(default=0, help_text="Seed for deterministic backends.")
    timeout_seconds = models.FloatField(default=60.0)
    max_retries = models.PositiveSmallIntegerField(default=2)
    prompt_price_per_mtok = models.DecimalField(
        max_digits=10, decimal_places=4, default=Decimal("0"), help_text="USD per million tokens."
    )
    completion_price_per_mtok = models.DecimalField(
        max_digits=10, decimal_places=4, default=Decimal("0"), help_text="USD per million tokens."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.backend}:{self.model})"

    def clean(self) -> None:
        super().clean()
        problems = outbound_problems(self.backend, self.base_url, self.api_key_env)
        if problems:
            raise ValidationError(problems)

    def cost_of(self, prompt_tokens: int | None, completion_tokens: int | None) -> Decimal:
        million = Decimal(1_000_000)
        return (
            Decimal(prompt_tokens or 0) * self.prompt_price_per_mtok
            + Decimal(completion_tokens or 0) * self.completion_price_per_mtok
        ) / million


class AgentTurn(models.Model):
    """One agent speaking once: a row exists (queued) before its task is enqueued.

    The row is the idempotency key: at most one per (round, participant, step), and at most one
    post per turn, so a retried or duplicated task can never post twice.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    session = models.ForeignKey(
        "debates.DebateSession", on_delete=models.CASCADE, related_name="agent_turns"
    )
    round = models.ForeignKey("debates.Round", on_delete=models.CASCADE, related_name="agent_turns")
    participant = models.ForeignKey(
        "debates.Participant", on_delete=models.CASCADE, related_name="agent_turns"
    )
    # For a peer review: the participant reviewed; ``step`` is its id (0 otherwise), so the
    # uniqueness below holds one turn per (round, participant, target).
    target = models.ForeignKey(
        "debates.Participant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    step = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    backend = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=200, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    prompt = models.JSONField(default=list, blank=True, help_text="Chat messages sent.")
    reply = models.TextField(blank=True, help_text="The model's full reply.")
    repair_reply = models.TextField(
        blank=True, help_text="The reply to the repair prompt, when the first was unreadable."
    )
    parse_status = models.CharField(max_length=10, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    error = models.TextField(blank=True)
    post = models.OneToOneField(
        "debates.Post", null=True, blank=True, on_delete=models.SET_NULL, related_name="agent_turn"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["round", "participant", "step"], name="one_agent_turn_per_slot"
            )
        ]
        indexes = [models.Index(fields=["session", "status"])]

    def __str__(self) -> str:
        return f"turn {self.pk} of {self.participant_id} in round {self.round_id} ({self.status})"


class OpinionRequest(models.Model):
    """An agent asked, after a round closed, for its private opinion (as the DEBATE benchmark
    records people's): one call apart from its public turn, stored as a ``debates.Opinion``.

    Like :class:`AgentTurn`, the row exists (queued) before its task is enqueued and is the
    idempotency key: one per (round, participant), at most one opinion stored by it, so a
    redelivered task never records twice. Kept apart from ``AgentTurn`` on purpose: a private
    opinion is not a contribution to the debate, so the protocol state, the turn queue and the
    per-turn costs never see it (see ``deliberation/agents/opinions.py``).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    session = models.ForeignKey(
        "debates.DebateSession", on_delete=models.CASCADE, related_name="opinion_requests"
    )
    round = models.ForeignKey(
        "debates.Round", on_delete=models.CASCADE, related_name="opinion_requests"
    )
    participant = models.ForeignKey(
        "debates.Participant", on_delete=models.CASCADE, related_name="opinion_requests"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    backend = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=200, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    prompt = models.JSONField(default=list, blank=True, help_text="Chat messages sent.")
    reply = models.TextField(blank=True, help_text="The model's full reply.")
    repair_reply = models.TextField(
        blank=True, help_text="The reply to the repair prompt, when the first was unreadable."
    )
    # "parsed", "repaired" or "unparsed" (no opinion is stored: never a guessed answer).
    parse_status = models.CharField(max_length=10, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    error = models.TextField(blank=True)
    opinion = models.OneToOneField(
        "debates.Opinion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="agent_request",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["round", "participant"], name="one_opinion_request_per_round"
            )
        ]
        indexes = [models.Index(fields=["session", "status"])]

    def __str__(self) -> str:
        return (
            f"opinion request {self.pk} of {self.participant_id} in round {self.round_id} "
            f"({self.status})"
        )
