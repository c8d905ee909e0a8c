"""The judge of meaning: does one free-text answer entail another? Asked of a model.

Semantic entropy (``deliberation.consensus.semantic``) clusters answers by bidirectional
entailment; this module supplies the entailment judgements, from the agent profile named by the
site setting ``SEMANTIC_JUDGE_PROFILE`` (docs/moderation.md says why a site setting and not one
of the session's own agents). It follows the authors' LLM judge (``jlko/semantic_uncertainty``,
``uncertainty/uncertainty_measures/semantic_entropy.py``, ``EntailmentGPT4``):

* one chat request per ordered pair, a single user message with their prompt
  (:func:`equivalence_prompt`), temperature 0.02 and at most 200 tokens, as their
  ``utils/openai.py`` ``predict`` sends it; no system prompt (the profile's persona is for
  debating, not judging);
* the reply read by :func:`deliberation.consensus.semantic.parse_entailment_label`.

Deviations, all documented in docs/moderation.md: whitespace (newlines included) inside the
question and answers is collapsed to single spaces, so an answer cannot start a line of its own
in the prompt (DESIGN rule 6: untrusted text stays text); a text is taken to entail itself
without asking (identical strings; the authors ask the model); the question is the session's.

Judgements are cached per (session, judge, question, text1, text2) in the Django cache (Redis),
so the live metrics ask the model once per ordered pair of distinct answers, not once per refresh.
Calls are bounded: each has the profile's timeout capped by what is left of a time budget per
metrics computation (``SEMANTIC_JUDGE_BUDGET_SECONDS``), no retry inside it (the next refresh
tries again), and no call starts once the budget is spent. Any failure raises
:class:`JudgeUnavailable` with the reason; the caller reports the measure as unavailable, never
as a number. A failure is remembered for ``SEMANTIC_JUDGE_RETRY_SECONDS`` so that a server that
is down costs one timeout per interval, not one per post.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

from deliberation.consensus import semantic

from .backends import BackendError, CompletionRequest, backend_for
from .models import AgentProfile

CACHE_SECONDS = 30 * 24 * 3600
# The authors' sampling for the entailment model (utils/openai.py, EntailmentLLM).
TEMPERATURE = 0.02
MAX_TOKENS = 200
DEFAULT_BUDGET_SECONDS = 10.0
DEFAULT_RETRY_SECONDS = 60.0


class JudgeUnavailable(Exception):
    """No model judgement could be had; ``str(exc)`` is the reason shown to the moderator."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def equivalence_prompt(question: str, text1: str, text2: str) -> str:
    """The authors' ``EntailmentGPT4.equivalence_prompt`` (the chat-model prompt), word for
    word, with whitespace inside the three texts collapsed to single spaces."""
    question, text1, text2 = _one_line(question), _one_line(text1), _one_line(text2)
    prompt = f"""We are evaluating answers to the question \"{question}\"\n"""
    prompt += "Here are two possible answers:\n"
    prompt += f"Possible Answer 1: {text1}\nPossible Answer 2: {text2}\n"
    prompt += (
        "Does Possible Answer 1 semantically entail Possible Answer 2? "
        "Respond with entailment, contradiction, or neutral."
    )
    return prompt


def judge_label(profile: AgentProfile) -> str:
    """How the judge is named on the moderator page: the profile and its model."""
    return f"{profile.name} ({profile.model})" if profile.model else profile.name


def configured_profile() -> AgentProfile | None:
    """The site's judge of meaning, or None when ``SEMANTIC_JUDGE_PROFILE`` is empty.

    Raises :class:`JudgeUnavailable` when the setting names a profile that does not exist."""
    name = str(getattr(settings, "SEMANTIC_JUDGE_PROFILE", "") or "").strip()
    if not name:
        return None
    profile = AgentProfile.objects.filter(name=name).first()
    if profile is None:
        raise JudgeUnavailable(f"SEMANTIC_JUDGE_PROFILE names {name!r}, but no such agent profile")
    return profile


@dataclass
class MeaningJudge:
    """Entailment judgements from ``profile`` for one scope (a session), within a time budget
    that starts when the judge is made."""

    profile: AgentProfile
    scope: str
    budget: float = DEFAULT_BUDGET_SECONDS
    retry_after: float = DEFAULT_RETRY_SECONDS
    strict_entailment: bool = True
    calls: int = 0  # model calls made by this judge
    _memo: dict[str, int] = field(default_factory=dict)
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + max(0.0, float(self.budget))

    @property
    def name(self) -> str:
        return judge_label(self.profile)

    # -- cache keys -----------------------------------------------------------------------------
    def _identity(self) -> str:
        p = self.profile
        return f"{p.pk}:{p.backend}:{p.model}:{p.base_url}"

    def _key(self, question: str, text1: str, text2: str) -> str:
        digest = hashlib.sha256(
            "\x00".join((self._identity(), question, text1, text2)).encode()
        ).hexdigest()
        return f"semantic-judge:v1:{self.scope}:{digest}"

    def _failure_key(self) -> str:
        digest = hashlib.sha256(self._identity().encode()).hexdigest()[:24]
        return f"semantic-judge:failed:v1:{self.scope}:{digest}"

    # -- judging --------------------------------------------------------------------------------
    def prefetch(self, question: str, texts: Sequence[str]) -> None:
        """Read every cached judgement among ``texts`` with one cache round trip."""
        distinct = list(dict.fromkeys(texts))
        keys = {self._key(question, a, b): (a, b) for a in distinct for b in distinct if a != b}
        keys = {k: v for k, v in keys.items() if k not in self._memo}
        if keys:
            self._memo.update(cache.get_many(list(keys)))

    def implication(self, question: str, text1: str, text2: str) -> int:
        """The authors' 3-way label for "``text1`` entails ``text2``" (0, 1 or 2)."""
        if text1 == text2:
            return semantic.ENTAILMENT
        key = self._key(question, text1, text2)
        if key in self._memo:
            return self._memo[key]
        cached = cache.get(key)
        if cached is None:
            cached = self._ask(question, text1, text2)
            cache.set(key, cached, CACHE_SECONDS)
        self._memo[key] = cached
        return cached

    def _ask(self, question: str, text1: str, text2: str) -> int:
        failed = cache.get(self._failure_key())
        if failed:
            raise JudgeUnavailable(failed)
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise JudgeUnavailable(
                f"the time limit for judging meaning ({self.budget:g} s per update) ran out; "
                "the judgements made so far are kept and the rest follow at the next update"
            )
        profile = copy.copy(self.profile)
        timeout = profile.timeout_seconds if profile.timeout_seconds > 0 else 60.0
        profile.timeout_seconds = max(0.5, min(timeout, left))
        profile.max_retries = 0
        request = CompletionRequest(
            messages=[{"role": "user", "content": equivalence_prompt(question, text1, text2)}],
            model=profile.model,
            parameters={"temperature": TEMPERATURE, "max_tokens": MAX_TOKENS},
            context={
                "answer_kind": "entailment",
                "question": question,
                "text1": text1,
                "text2": text2,
                "batch": True,  # the simulated backend streams without sleeping
            },
        )
        self.calls += 1
        try:
            completion = backend_for(profile).complete(request, lambda _delta: None)
        except BackendError as exc:
            reason = f"the judge of meaning {self.name} failed: {exc}"
            cache.set(self._failure_key(), reason, self.retry_after)
            raise JudgeUnavailable(reason) from None
        return semantic.parse_entailment_label(completion.text)

    def entropy(
        self, question: str, answers: Sequence[str | None], base: float = 2
    ) -> semantic.ClusterEntropy:
        """Discrete semantic entropy of ``answers`` with this judge (raises
        :class:`JudgeUnavailable` when a judgement cannot be had)."""
        self.prefetch(question, [a for a in answers if a is not None])
        return semantic.discrete_semantic_entropy(
            answers,
            self.implication,
            question=question,
            strict_entailment=self.strict_entailment,
            base=base,
        )


def judge_for(scope: str, profile: AgentProfile | None = None) -> MeaningJudge | None:
    """A judge for ``scope`` with the site's settings, from ``profile`` or the configured one;
    None when no judge is configured. Raises :class:`JudgeUnavailable` for a setting that
    names no profile."""
    if profile is None:
        profile = configured_profile()
    if profile is None:
        return None
    return MeaningJudge(
        profile=profile,
        scope=scope,
        budget=float(getattr(settings, "SEMANTIC_JUDGE_BUDGET_SECONDS", DEFAULT_BUDGET_SECONDS)),
        retry_after=float(getattr(settings, "SEMANTIC_JUDGE_RETRY_SECONDS", DEFAULT_RETRY_SECONDS)),
        strict_entailment=bool(getattr(settings, "SEMANTIC_JUDGE_STRICT", True)),
    )
