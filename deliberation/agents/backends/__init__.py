"""LLM backends: ``simulated`` (offline, deterministic) and ``openai`` (any compatible server)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .base import Backend, BackendError, Completion, CompletionRequest

if TYPE_CHECKING:
    from deliberation.agents.models import AgentProfile

__all__ = [
    "Backend",
    "BackendError",
    "Completion",
    "CompletionRequest",
    "api_key_env_allowed",
    "backend_for",
]


def api_key_env_allowed(name: str) -> bool:
    """Whether a profile may name the environment variable ``name`` as its API key: only the
    names on the operator's ``AGENT_API_KEY_ENV_ALLOWED`` list (docs/security.md). Anything else
    (``DATABASE_URL``, ``DJANGO_SECRET_KEY``...) is never read, whoever stored the profile."""
    from django.conf import settings

    allowed = getattr(settings, "AGENT_API_KEY_ENV_ALLOWED", ()) or ()
    return bool(name) and name in {str(item).strip() for item in allowed}


def backend_for(profile: AgentProfile) -> Backend:
    """Build the backend a profile names; the API key is read from the environment variable
    the profile names, never from the database."""
    if profile.backend == "simulated":
        from .simulated import SimulatedBackend

        try:
            return SimulatedBackend(**(profile.parameters.get("simulated") or {}))
        except ValueError as exc:  # a misconfigured profile: say so, do not retry
            raise BackendError(
                f"simulated agent {profile.name} is misconfigured: {exc}", retryable=False
            ) from None
    if profile.backend == "openai":
        from .openai import OpenAICompatibleBackend

        # Checked again here, at call time: a profile stored before the rule, imported, or
        # written around validation must not read any other variable of the worker.
        if profile.api_key_env and not api_key_env_allowed(profile.api_key_env):
            raise BackendError(
                f"agent {profile.name} names the environment variable {profile.api_key_env!r} "
                "for its API key, which is not on the operator's list of API key variables "
                "(AGENT_API_KEY_ENV_ALLOWED); nothing was sent",
                retryable=False,
            )
        api_key = os.environ.get(profile.api_key_env) if profile.api_key_env else None
        if profile.api_key_env and not api_key:
            raise BackendError(
                f"environment variable {profile.api_key_env} (API key for {profile.name}) "
                "is not set",
                retryable=False,
            )
        return OpenAICompatibleBackend(
            base_url=profile.base_url,
            api_key=api_key,
            timeout=profile.timeout_seconds,
            max_retries=profile.max_retries,
        )
    raise BackendError(f"unknown backend {profile.backend!r}", retryable=False)
