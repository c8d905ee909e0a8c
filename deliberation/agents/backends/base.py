"""The contract every LLM backend fulfils.

A backend turns a :class:`CompletionRequest` into text, calling ``on_delta`` with each piece of
text as it arrives so the caller can stream it to browsers, and returns the whole
:class:`Completion` with usage figures. Backends raise :class:`BackendError` for every failure;
``retryable`` tells the agent-turn task whether another attempt may succeed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

DeltaCallback = Callable[[str], None]


@dataclass(frozen=True)
class CompletionRequest:
    """What to ask the model: OpenAI-style chat messages plus sampling parameters."""

    messages: list[dict[str, str]]
    model: str
    parameters: dict[str, Any] = field(default_factory=dict)
    # Seed for deterministic backends (the simulated one) and servers that honour ``seed``.
    seed: int | None = None
    # Structured view of the question (text, answer_format, options, round...) for backends that
    # do not read prose, i.e. the simulated one; real backends ignore it.
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None


class BackendError(Exception):
    """A backend call failed; ``retryable`` is False for errors another try cannot fix."""

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class Backend(Protocol):
    name: str

    def complete(self, request: CompletionRequest, on_delta: DeltaCallback) -> Completion:
        """Run one chat completion, streaming text pieces to ``on_delta``."""
        ...
