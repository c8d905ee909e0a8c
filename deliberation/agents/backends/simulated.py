"""An offline, deterministic stand-in for an LLM.

Given the same seed and request context it always writes the same argument, answer and
confidence, so sessions are reproducible in demos, tests and experiments without any model.
It streams word by word with a configurable delay so that streaming is visible in the browser.
"""

from __future__ import annotations

import random
import re
import time

from django.conf import settings

from .base import Completion, CompletionRequest, DeltaCallback

OPENERS = [
    "Let me weigh this carefully.",
    "Looking at the question from first principles,",
    "Having read the points made so far,",
    "I want to push back a little on the emerging view.",
    "Building on what has been said,",
]
REASONS = [
    "it is the option most consistent with the evidence stated in the question",
    "the alternatives rely on assumptions the question does not support",
    "it survives the strongest counter-argument I can construct",
    "the simplest reading of the question points there",
    "the other arguments, while reasonable, overlook a key constraint",
]
CLOSERS = [
    "I remain open to a better argument.",
    "I would change my mind if someone shows a concrete counterexample.",
    "That is my position for this round.",
    "I invite the others to test this reasoning.",
]


class SimulatedBackend:
    name = "simulated"

    def __init__(self, token_delay: float | None = None, **_ignored):
        self.token_delay = (
            settings.DELIBERATION["SIMULATED_TOKEN_DELAY"] if token_delay is None else token_delay
        )

    def complete(self, request: CompletionRequest, on_delta: DeltaCallback) -> Completion:
        text = self.compose(request)
        words = re.findall(r"\S+\s*", text)  # one token per word, with its trailing space
        for word in words:
            on_delta(word)
            if self.token_delay:
                time.sleep(self.token_delay)
        prompt_tokens = sum(len(m["content"].split()) for m in request.messages)
        return Completion(
            text=text,
            model=request.model or "simulated-1",
            prompt_tokens=prompt_tokens,
            completion_tokens=len(words),
            finish_reason="stop",
        )

    @staticmethod
    def compose(request: CompletionRequest) -> str:
        """Write the reply: a seeded choice of answer, confidence and argument phrases."""
        ctx = request.context
        rng = random.Random(request.seed if request.seed is not None else 0)
        answer_format = ctx.get("answer_format", "free_text")
        options = list(ctx.get("options") or [])
        if answer_format == "single_choice" and options:
            answer: str = rng.choice(options)
        elif answer_format == "numeric":
            answer = f"{rng.randint(1, 100)}"
        else:
            answer = rng.choice(["yes", "no", "it depends on the context"])
        confidence = round(rng.uniform(0.55, 0.95), 2)
        argument = (
            f"{rng.choice(OPENERS)} I believe the answer is {answer}, because "
            f"{rng.choice(REASONS)}. Moreover, {rng.choice(REASONS)}. {rng.choice(CLOSERS)}"
        )
        return f"{argument}\nANSWER: {answer}\nCONFIDENCE: {confidence}"
