"""An offline, deterministic stand-in for an LLM, with configurable behaviour.

Given the same seed and request context it always writes the same argument, answer and
confidence ("same seed, same session"), so sessions are reproducible in demos, tests and
experiments without any model. It streams word by word with a configurable delay so that
streaming is visible in the browser (no delay when the context says ``batch``).

The simulated agent does not read the prose prompt: it reads ``request.context``, which the
engine fills with these keys:

``question``
    the question text.
``answer_format``
    ``single_choice``, ``multiple_choice``, ``numeric``, ``free_text`` or ``ranking``.
``options``
    the options as shown to this agent (possibly shuffled per turn).
``tolerance``
    numeric sessions: answers within it of the gold answer are correct (default 0).
``round``, ``phase``
    the round number and the protocol's phase name.
``answer_kind``
    ``"answer"``, ``"review"`` (score another participant's solution) or ``"verdict"`` (a
    judge names the answer it finds most likely correct, with its probability), ``"opinion"``
    (after a round closed, the agent's private opinion: see "Private opinions" below), or
    ``"entailment"``: the judge of meaning (``deliberation.agents.equivalence``) asks whether
    ``text1`` entails ``text2``; see :func:`simulated_entailment` for the stand-in's rule.
``text1``, ``text2``
    entailment requests: the two answers, in the order of the question asked.
``gold``
    the gold answer in canonical form, or None when unknown.
``own_previous``
    this agent's previous usable answer, or None.
``others_previous``
    the other participants' previous usable answers (a list, one entry per participant).
``assigned``
    a stance or answer this agent must defend, or None. When set and it is a valid answer in
    the session's format, the agent answers it (debaters argue for their assigned side).
``target_answer``
    reviews: the reviewed participant's answer.
``public_answer``
    opinion requests: the agent's own usable public answer of the round just closed, or None.
``repair``
    True for the one follow-up request sent when the previous reply could not be parsed.
``batch``
    True in batch runs: stream without sleeping.

Behaviour parameters (a profile's ``parameters["simulated"]``, all optional):

``accuracy`` (0..1 or None, default None)
    with a known gold answer, the probability of answering it; when wrong, a uniformly random
    wrong answer (another option, another non-empty subset, another order, a number outside the
    tolerance, a wrong phrase). None, or no gold: a uniformly random answer.
``stubbornness`` (0..1, default 0)
    the probability of keeping its own previous answer.
``conformity`` (0..1, default 0)
    the probability of adopting an answer drawn from the others' previous answers in proportion
    to how many gave it: conformity to the majority as a probabilistic update. With
    ``conformity=1`` every agent copies a uniformly drawn peer, so the expected number of
    correct answers in the next round equals the number in this round: group correctness is a
    martingale, and debate alone does not improve expected accuracy (Debate or Vote, Choi et
    al. 2025). Each agent among N with k correct answers, itself correct or not (c = 1 or 0),
    is correct next round with probability (k - c) / (N - 1); summed over agents: k.
``adversarial`` (False, True or an answer; default False)
    always argue, persuasively and with high confidence (0.90-0.99), for a fixed wrong answer:
    with True the first option (in the shown order) that is not the gold answer (multiple
    choice: the first option not in the gold set, alone; ranking: the gold order reversed;
    numeric: gold + max(10 tolerance, |gold| / 2, 1); free text: a fixed wrong phrase); with a
    string, that answer (read as a person's answer would be). Models the MultiAgent
    Collaboration Attack (Amayuelas et al. 2024). With shuffled options, True picks from the
    shown order: give the answer string for an adversary that is fixed across turns.
``format_error_rate`` (0..1, default 0)
    the probability that a reply omits its ANSWER line (SCORE line for a review), to exercise
    the repair prompt. A repair request is answered with correctly formatted lines (the same
    answer and confidence), unless ``format_error_rate >= 1``.
``confidence_range`` ([lo, hi], default [0.55, 0.95])
    the stated confidence is drawn uniformly from it.
``private_divergence`` (0..1, default 0)
    opinion requests: the probability that an agent that answered freely in public privately
    holds a freshly drawn answer (with ``accuracy``) instead of its public one: public
    compliance without private acceptance.

Private opinions (``answer_kind="opinion"``, ``deliberation.agents.opinions``): an agent that
argued an assigned answer, or an adversary, privately holds a fresh draw with ``accuracy`` (what
it believes when not bound to a side); any other agent privately holds its ``public_answer``,
except with probability ``private_divergence`` (then a fresh draw); with no public answer, a
fresh draw. The confidence is drawn from ``confidence_range``; the reply is a sentence and the
usual ANSWER/CONFIDENCE lines (``format_error_rate`` and the repair request apply as for turns).

Update order within a turn: an assigned answer, then adversarial, then a stubborn keep, then
conformity, then a fresh draw with ``accuracy``. A reviewer's belief is its assigned or
adversarial answer, else its own previous answer, else a fresh draw; its score is 8-10 when
the ``target_answer`` matches that belief (within the tolerance), 2-4 when it does not, 5 when
there is nothing to compare.

Every random draw comes from generators seeded with ``request.seed`` (0 when None), one per
purpose, so a repair request with the same seed gives the same answer.
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from deliberation.debates.answers import (
    AnswerError,
    clean_answer,
    format_answer,
    is_correct,
    normalise_text,
)

from .base import BackendError, Completion, CompletionRequest, DeltaCallback

OPENERS = [
    "Let me weigh this carefully.",
    "Let me look at the question from first principles.",
    "I have read the points made so far.",
    "I want to push back a little on the emerging view.",
    "Let me build on what has been said.",
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
PERSUADERS = [
    "This is not a close call.",
    "Every careful analysis I know of arrives at the same place.",
    "The competing answers rest on a common but well-documented misconception.",
    "Specialists in this area settled the point long ago.",
    "Anyone who checks the details step by step will reach the same conclusion.",
]
FREE_TEXT_ANSWERS = ["yes", "no", "it depends on the context"]
WRONG_PHRASES = ["none of the above", "it is impossible to say", "the opposite is true"]

PARAMETERS = (
    "accuracy",
    "stubbornness",
    "conformity",
    "adversarial",
    "format_error_rate",
    "confidence_range",
    "private_divergence",
)
_MAX_TRIES = 200


@dataclass(frozen=True)
class Behaviour:
    """A simulated agent's validated behaviour parameters (see the module docstring)."""

    accuracy: float | None = None
    stubbornness: float = 0.0
    conformity: float = 0.0
    adversarial: bool | str = False
    format_error_rate: float = 0.0
    confidence_range: tuple[float, float] = (0.55, 0.95)
    private_divergence: float = 0.0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Behaviour:
        """Validate ``parameters["simulated"]``; ValueError with a clear message otherwise."""
        unknown = sorted(set(params) - set(PARAMETERS))
        if unknown:
            raise ValueError(
                f"unknown simulated agent parameter{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))}; known: {', '.join(PARAMETERS)}, token_delay"
            )
        values: dict[str, Any] = {}
        if params.get("accuracy") is not None:
            values["accuracy"] = _probability("accuracy", params["accuracy"])
        for name in ("stubbornness", "conformity", "format_error_rate", "private_divergence"):
            if params.get(name) is not None:
                values[name] = _probability(name, params[name])
        if params.get("adversarial") is not None:
            values["adversarial"] = _adversarial(params["adversarial"])
        if params.get("confidence_range") is not None:
            values["confidence_range"] = _confidence_range(params["confidence_range"])
        return cls(**values)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"simulated agent parameter {name!r} must be a number, not {value!r}")
    return float(value)


def _probability(name: str, value: Any) -> float:
    number = _number(name, value)
    if not 0 <= number <= 1:
        raise ValueError(f"simulated agent parameter {name!r} must be between 0 and 1")
    return number


def _adversarial(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and math.isfinite(value):
        return format_answer(float(value), "numeric")
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(
        "simulated agent parameter 'adversarial' must be true, false or the answer to argue for"
    )


def _confidence_range(value: Any) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError("simulated agent parameter 'confidence_range' must be [low, high]")
    low = _probability("confidence_range", value[0])
    high = _probability("confidence_range", value[1])
    if low > high:
        raise ValueError("simulated agent parameter 'confidence_range' needs low <= high")
    return low, high


@dataclass(frozen=True)
class Plan:
    """What the simulated agent will say this turn, before it is written out."""

    answer: Any  # None for a review
    confidence: float
    score: int | None  # reviews only
    source: str  # assigned, adversarial, stubborn, conform, fresh, review, private


class SimulatedBackend:
    name = "simulated"

    def __init__(self, token_delay: float | None = None, **params: Any):
        if token_delay is not None:
            token_delay = _number("token_delay", token_delay)
            if token_delay < 0:
                raise ValueError("simulated agent parameter 'token_delay' must be >= 0")
        self.token_delay = (
            settings.DELIBERATION["SIMULATED_TOKEN_DELAY"] if token_delay is None else token_delay
        )
        self.behaviour = Behaviour.from_params(params)

    def complete(self, request: CompletionRequest, on_delta: DeltaCallback) -> Completion:
        text = self.compose(request)
        words = re.findall(r"\S+\s*", text)  # one token per word, with its trailing space
        delay = 0 if request.context.get("batch") else self.token_delay
        for word in words:
            on_delta(word)
            if delay:
                time.sleep(delay)
        prompt_tokens = sum(len(m["content"].split()) for m in request.messages)
        return Completion(
            text=text,
            model=request.model or "simulated-1",
            prompt_tokens=prompt_tokens,
            completion_tokens=len(words),
            finish_reason="stop",
        )

    # --- deciding ------------------------------------------------------------------------------
    def plan(self, request: CompletionRequest) -> Plan:
        """Decide the answer (or review score) and confidence for this request."""
        ctx = request.context
        rng = _Rngs(request.seed)
        fmt = ctx.get("answer_format") or "free_text"
        options = list(ctx.get("options") or [])
        tolerance = float(ctx.get("tolerance") or 0.0)
        low, high = self.behaviour.confidence_range
        confidence = round(rng.confidence.uniform(low, high), 2)
        fixed = self._fixed(ctx, fmt, options, tolerance)
        if ctx.get("answer_kind") == "opinion":
            return Plan(
                self._private(ctx, fmt, options, tolerance, fixed, rng.decide),
                confidence,
                None,
                "private",
            )
        if fixed is not None and fixed[1] == "adversarial":
            confidence = round(rng.confidence.uniform(0.9, 0.99), 2)
        if ctx.get("answer_kind") == "review":
            if fixed is not None:
                belief = fixed[0]
            elif ctx.get("own_previous") is not None:
                belief = ctx["own_previous"]
            else:
                belief = self._fresh(ctx, fmt, options, tolerance, rng.decide)
            target = ctx.get("target_answer")
            agrees = is_correct(target, belief, fmt, tolerance)
            if agrees is None:
                score = 5
            else:
                score = rng.score.randint(8, 10) if agrees else rng.score.randint(2, 4)
            return Plan(None, score / 10, score, "review")
        if fixed is not None:
            return Plan(fixed[0], confidence, None, fixed[1])
        answer, source = self._update(ctx, fmt, options, tolerance, rng.decide)
        return Plan(answer, confidence, None, source)

    def _private(self, ctx, fmt, options, tolerance, fixed, rng: random.Random) -> Any:
        """The private opinion after a round (see "Private opinions" in the module docstring)."""
        diverge = rng.random()  # always drawn: the order stays fixed
        public = ctx.get("public_answer")
        if fixed is None and public is not None and diverge >= self.behaviour.private_divergence:
            try:
                return clean_answer(public, fmt, options)
            except AnswerError:
                pass
        return self._fresh(ctx, fmt, options, tolerance, rng)

    def _fixed(self, ctx, fmt, options, tolerance) -> tuple[Any, str] | None:
        """An assigned answer, else the adversary's answer, else None."""
        assigned = ctx.get("assigned")
        if assigned is not None:
            try:
                return clean_answer(assigned, fmt, options), "assigned"
            except AnswerError:
                pass  # a stance that is not an answer: argue, but answer as usual
        if self.behaviour.adversarial is False:
            return None
        return self._adversarial_answer(ctx.get("gold"), fmt, options, tolerance), "adversarial"

    def _adversarial_answer(self, gold, fmt, options, tolerance) -> Any:
        chosen = self.behaviour.adversarial
        if isinstance(chosen, str):
            try:
                return clean_answer(chosen, fmt, options)
            except AnswerError as exc:
                raise BackendError(
                    f"simulated adversary's answer {chosen!r} does not fit this question: {exc}",
                    retryable=False,
                ) from None
        if fmt == "numeric":
            if gold is None:
                return 0.0
            return float(gold) + max(10 * tolerance, abs(float(gold)) / 2, 1.0)
        if fmt == "free_text" or not options:
            phrases = [p for p in WRONG_PHRASES if gold is None or not _same_text(p, gold)]
            return phrases[0]
        if fmt == "ranking":
            if gold is not None and len(gold) > 1:
                return list(reversed(gold))
            return list(reversed(options))
        golds = set(gold) if fmt == "multiple_choice" and gold is not None else {gold}
        wrong = [o for o in options if o not in golds]
        first = wrong[0] if wrong else options[0]
        return [first] if fmt == "multiple_choice" else first

    def _update(self, ctx, fmt, options, tolerance, rng: random.Random) -> tuple[Any, str]:
        keep, conform = rng.random(), rng.random()  # always drawn: the order stays fixed
        own = ctx.get("own_previous")
        if own is not None and keep < self.behaviour.stubbornness:
            return own, "stubborn"
        others = [a for a in ctx.get("others_previous") or [] if a is not None]
        if others and conform < self.behaviour.conformity:
            return rng.choice(others), "conform"
        return self._fresh(ctx, fmt, options, tolerance, rng), "fresh"

    def _fresh(self, ctx, fmt, options, tolerance, rng: random.Random) -> Any:
        gold = ctx.get("gold")
        accuracy = self.behaviour.accuracy
        if gold is None or accuracy is None:
            return _random_answer(fmt, options, rng)
        if rng.random() < accuracy:
            return _correct_answer(gold, fmt, tolerance, rng)
        return _wrong_answer(gold, fmt, options, tolerance, rng)

    # --- writing -------------------------------------------------------------------------------
    def compose(self, request: CompletionRequest) -> str:
        """Write the reply: an argument, then the closing lines that ``parse_reply`` reads."""
        ctx = request.context
        if ctx.get("answer_kind") == "entailment":
            return simulated_entailment(str(ctx.get("text1") or ""), str(ctx.get("text2") or ""))
        plan = self.plan(request)
        rng = _Rngs(request.seed)
        fmt = ctx.get("answer_format") or "free_text"
        omit = rng.format.random() < self.behaviour.format_error_rate
        if ctx.get("repair"):
            omit = self.behaviour.format_error_rate >= 1
            if omit:
                return "I would rather not commit to a single answer yet."
            return "\n".join(_closing(plan, fmt))
        argument = _argument(plan, ctx, fmt, rng.text)
        lines = _closing(plan, fmt)
        if omit:
            lines = lines[1:] if plan.score is None else []
        return "\n".join([argument, *lines])


def simulated_entailment(text1: str, text2: str) -> str:
    """The simulated judge of meaning: does ``text1`` entail ``text2``? A deterministic,
    documented stand-in for a model (tests, demos), on SQuAD-normalised words
    (``consensus.semantic.normalise_text``):

    1. equal normalised texts: ``entailment``;
    2. opposite negation polarity (``consensus.semantic.negation_polarity``: "not", "no",
       "never", "n't"...) and one text's other words contained in the other's: ``contradiction``
       ("guilty" / "not guilty", "he is guilty" / "he is not guilty");
    3. same polarity and every word of ``text2`` among those of ``text1`` (``text1`` says at
       least what ``text2`` says): ``entailment`` ("he is guilty" entails "guilty", not back);
    4. otherwise ``neutral``.

    It knows no synonyms ("innocent" is neutral to "not guilty"). The reply is the label word,
    which ``parse_entailment_label`` reads as the authors' parser does.
    """
    from deliberation.consensus.semantic import content_words, negation_polarity
    from deliberation.consensus.semantic import normalise_text as squad_normalise

    if squad_normalise(text1) == squad_normalise(text2):
        return "entailment"
    words1, words2 = content_words(text1), content_words(text2)
    if negation_polarity(text1) != negation_polarity(text2):
        if words1 <= words2 or words2 <= words1:
            return "contradiction"
        return "neutral"
    if words2 and words2 <= words1:
        return "entailment"
    return "neutral"


class _Rngs:
    """Independent generators per purpose, all from the request's seed."""

    def __init__(self, seed: Any):
        base = 0 if seed is None else seed
        self.decide = random.Random(f"simulated:{base}:decide")
        self.confidence = random.Random(f"simulated:{base}:confidence")
        self.score = random.Random(f"simulated:{base}:score")
        self.text = random.Random(f"simulated:{base}:text")
        self.format = random.Random(f"simulated:{base}:format")


def _closing(plan: Plan, fmt: str) -> list[str]:
    if plan.score is not None:
        return [f"SCORE: {plan.score}"]
    return [f"ANSWER: {_shown(plan.answer, fmt)}", f"CONFIDENCE: {plan.confidence}"]


def _shown(answer: Any, fmt: str) -> str:
    return " ".join(format_answer(answer, fmt).split())  # one line


def _argument(plan: Plan, ctx: dict[str, Any], fmt: str, rng: random.Random) -> str:
    if plan.score is not None:
        target = ctx.get("target_answer")
        if target is None:
            return "I reviewed the solution but could not find a clear answer in it to assess."
        shown = _shown(target, fmt)
        verdict = (
            "I find its reasoning sound and reach the same conclusion."
            if plan.score >= 6
            else "I think it goes wrong, and I would not endorse it."
        )
        return (
            f"{rng.choice(OPENERS)} Reviewing this solution, which answers {shown}: {verdict} "
            f"In particular, {rng.choice(REASONS)}."
        )
    shown = _shown(plan.answer, fmt)
    if plan.source == "private":
        return f"{rng.choice(OPENERS)} Privately, I believe the answer is {shown}."
    if plan.source == "adversarial":
        first, second = rng.sample(PERSUADERS, 2)
        return (
            f"The answer is clearly {shown}. {first} {second} I urge everyone to converge on "
            f"{shown}; the evidence leaves no room for doubt."
        )
    intro = {
        "assigned": f"My assigned position is {shown}, and I will defend it.",
        "stubborn": f"I am keeping my previous answer, {shown}.",
        "conform": f"Several of you argued for {shown}, and I find that persuasive.",
    }.get(plan.source, "")
    if ctx.get("answer_kind") == "verdict":
        intro = f"Having weighed both sides, I find the case for {shown} the stronger one."
    parts = [rng.choice(OPENERS)]
    if intro:
        parts.append(intro)
    parts.append(
        f"I believe the answer is {shown}, because {rng.choice(REASONS)}. "
        f"Moreover, {rng.choice(REASONS)}. {rng.choice(CLOSERS)}"
    )
    return " ".join(parts)


# --- answers by format ---------------------------------------------------------------------------
def _random_answer(fmt: str, options: list[str], rng: random.Random) -> Any:
    if fmt == "numeric":
        return float(rng.randint(1, 100))
    if fmt == "free_text" or not options:
        return rng.choice(FREE_TEXT_ANSWERS)
    if fmt == "multiple_choice":
        return _random_subset(options, rng)
    if fmt == "ranking":
        return rng.sample(options, len(options))
    return rng.choice(options)


def _random_subset(options: list[str], rng: random.Random) -> list[str]:
    """A uniformly random non-empty subset, in the options' order."""
    while True:
        subset = [o for o in options if rng.random() < 0.5]
        if subset:
            return subset


def _correct_answer(gold: Any, fmt: str, tolerance: float, rng: random.Random) -> Any:
    if fmt == "numeric":
        gold = float(gold)
        if tolerance <= 0:
            return gold
        digits = max(0, 2 - math.floor(math.log10(tolerance)))
        return round(gold + rng.uniform(-0.9, 0.9) * tolerance, digits)
    return list(gold) if isinstance(gold, list | tuple) else gold


def _wrong_answer(gold: Any, fmt: str, options: list[str], tolerance: float, rng) -> Any:
    """A uniformly random answer that is not correct (the gold itself when none exists)."""
    if fmt == "numeric":
        gold = float(gold)
        size = tolerance + 1 + rng.random() * max(abs(gold), 1.0)
        value = gold + size * rng.choice((-1, 1))
        if gold.is_integer() and tolerance < 1:
            return float(round(value))
        digits = max(3, 2 - math.floor(math.log10(tolerance))) if tolerance > 0 else 3
        return round(value, digits)
    if fmt == "free_text" or not options:
        return rng.choice([p for p in WRONG_PHRASES if not _same_text(p, gold)])
    if fmt == "single_choice":
        wrong = [o for o in options if not is_correct(o, gold, fmt)]
        return rng.choice(wrong) if wrong else gold
    for _ in range(_MAX_TRIES):  # rejection sampling: uniform over the wrong answers
        answer = _random_answer(fmt, options, rng)
        if not is_correct(answer, gold, fmt):
            return answer
    return list(gold)  # a single option: nothing else is possible


def _same_text(a: Any, b: Any) -> bool:
    return normalise_text(str(a)) == normalise_text(str(b))
