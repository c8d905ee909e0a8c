"""Answer distributions and vote rules over categorical answers.

An answer is any hashable value; ``None`` means missing or excluded and is ignored everywhere
(it is neither a vote nor a category). When ``options`` is given it fixes the categories and their
order; an answer outside it is an error rather than being silently dropped.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

TieBreak = Literal["first", "lexicographic", "random"] | None

# Relative tolerance when comparing summed (float) weights for a tie: 0.1 + 0.2 ties with 0.3.
_TIE_RTOL = 1e-9


@dataclass(frozen=True)
class VoteResult:
    """Outcome of a vote.

    ``winner`` is the chosen option, or ``None`` when there is no winner (no votes, an unresolved
    tie, or no strict majority). ``tied`` lists the options sharing the top tally when more than one
    does (in option order), even when a tie-break then picked a winner; it is empty otherwise.
    ``counts`` is the tally per option (vote counts, or summed weights for weighted votes), in
    option order. ``share`` is the top tally divided by the total tally (0.0 when nothing counted).
    """

    winner: Hashable | None
    tied: tuple[Hashable, ...]
    counts: dict[Hashable, float]
    share: float


def _present(answers: Iterable[Hashable | None]) -> list[Hashable]:
    return [a for a in answers if a is not None]


def answer_counts(
    answers: Iterable[Hashable | None], options: Sequence[Hashable] | None = None
) -> dict[Hashable, int]:
    """Count answers per category, ignoring ``None``.

    The keys are ``options`` in their order (zero counts included) when given, otherwise the
    distinct answers in order of first appearance. Raises ``ValueError`` for an answer that is not
    among ``options``.
    """
    counts: dict[Hashable, int] = dict.fromkeys(options, 0) if options is not None else {}
    for a in _present(answers):
        if options is not None and a not in counts:
            raise ValueError(f"answer {a!r} is not one of the options {list(options)!r}")
        counts[a] = counts.get(a, 0) + 1
    return counts


def answer_shares(
    answers: Iterable[Hashable | None], options: Sequence[Hashable] | None = None
) -> dict[Hashable, float]:
    """Share of each category among the non-missing answers: p_k = n_k / sum_j n_j.

    Same keys as :func:`answer_counts`; all shares are 0.0 when there is no answer.
    """
    counts = answer_counts(answers, options)
    total = sum(counts.values())
    return {k: (v / total if total else 0.0) for k, v in counts.items()}


def _smallest(values: Sequence[Hashable]) -> Hashable:
    """Smallest value in natural order; mixed, incomparable types fall back to (type, repr)."""
    try:
        return min(values)  # type: ignore[type-var]
    except TypeError:
        return min(values, key=lambda x: (type(x).__name__, repr(x)))


def _decide(
    tally: dict[Hashable, float], tie_break: TieBreak, rng: random.Random | None = None
) -> VoteResult:
    """Pick the top of ``tally`` (insertion order is the option order) with explicit ties."""
    if tie_break not in (None, "first", "lexicographic", "random"):
        raise ValueError(
            f"unknown tie_break {tie_break!r}; use None, 'first', 'lexicographic' or 'random'"
        )
    if tie_break == "random" and rng is None:
        raise ValueError("tie_break='random' needs an rng (a seeded random.Random)")
    total = float(sum(tally.values()))
    if not tally or total <= 0:
        return VoteResult(winner=None, tied=(), counts=dict(tally), share=0.0)
    top = max(tally.values())
    leaders = tuple(k for k, v in tally.items() if math.isclose(v, top, rel_tol=_TIE_RTOL))
    share = top / total
    if len(leaders) == 1:
        return VoteResult(winner=leaders[0], tied=(), counts=dict(tally), share=share)
    if tie_break == "first":
        winner = leaders[0]
    elif tie_break == "lexicographic":
        winner = _smallest(leaders)
    elif tie_break == "random":
        winner = rng.choice(leaders)
    else:
        winner = None
    return VoteResult(winner=winner, tied=leaders, counts=dict(tally), share=share)


def plurality(
    answers: Iterable[Hashable | None],
    options: Sequence[Hashable] | None = None,
    tie_break: TieBreak = None,
    rng: random.Random | None = None,
) -> VoteResult:
    """Plurality vote: the option with the most votes, ``argmax_k n_k`` (Du et al. 2023 use it to
    close a multi-agent debate; "Debate or Vote", 2025, reports it as the baseline).

    Ties are explicit: with ``tie_break=None`` a tie for first gives ``winner=None`` and lists the
    leaders in ``tied``. ``tie_break="first"`` picks the leader that comes first in ``options``
    (or, without options, the one answered first); ``"lexicographic"`` picks the smallest leader
    in natural sort order (mixed, incomparable types by type name, then ``repr``); ``"random"``
    draws one leader uniformly with ``rng`` (the leaders in option order, so a seeded ``rng``
    gives the same draw every time).

    The sources differ: Du et al.'s ``most_frequent`` (llm_multiagent_debate, eval_*.py) keeps
    the first answer, in agent order, that reaches the top count ("first" over answers given in
    agent order); Debate-or-Vote (Choi et al. 2025, src/evaluator.py) takes
    ``random.choice`` of the leaders ("random").
    """
    return _decide(dict(answer_counts(answers, options)), tie_break, rng)


def majority(
    answers: Iterable[Hashable | None], options: Sequence[Hashable] | None = None
) -> VoteResult:
    """Strict majority: the option with n_k > N / 2, N = number of non-missing answers.

    ``winner`` is ``None`` when no option has more than half of the votes (a strict majority is
    unique, so no tie-break is needed); ``tied`` lists the leaders if several share the top tally.
    """
    result = _decide(dict(answer_counts(answers, options)), None)
    total = sum(result.counts.values())
    if result.winner is not None and result.counts[result.winner] * 2 > total:
        return result
    return VoteResult(winner=None, tied=result.tied, counts=result.counts, share=result.share)


def reconcile_weight(p: float) -> float:
    """ReConcile's confidence recalibration f(p) (Chen, Saha & Bansal 2023, ReConcile, Sec. 3).

    Models are over-confident, so verbal confidences are mapped onto coarse weights:
    f(p) = 1.0 if p = 1; 0.8 if 0.9 <= p < 1; 0.5 if 0.8 <= p < 0.9; 0.3 if 0.6 < p < 0.8;
    0.1 if p <= 0.6. Raises ``ValueError`` unless 0 <= p <= 1.
    """
    p = float(p)
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise ValueError(f"confidence must be in [0, 1], got {p!r}")
    if p == 1.0:
        return 1.0
    if p >= 0.9:
        return 0.8
    if p >= 0.8:
        return 0.5
    if p > 0.6:
        return 0.3
    return 0.1


def confidence_weighted_vote(
    answers: Sequence[Hashable | None],
    confidences: Sequence[float],
    recalibrate: bool = True,
    options: Sequence[Hashable] | None = None,
    tie_break: TieBreak = None,
    rng: random.Random | None = None,
) -> VoteResult:
    """Confidence-weighted vote (ReConcile, Chen et al. 2023): argmax_k sum_{i: a_i = k} w_i.

    w_i = f(p_i) with :func:`reconcile_weight` when ``recalibrate`` (the paper's rule), else the raw
    confidence p_i in [0, 1]. ``counts`` holds the summed weights and ``share`` the winner's weight
    over the total weight. Missing answers (``None``) carry no weight. Ties (up to float rounding)
    are handled as in :func:`plurality`; ReConcile's own code (utils.py ``parse_output``) takes
    ``max`` over a dict filled in agent order, i.e. "first" over answers given in agent order.
    Deviation: their float sums can order two totals that are equal in exact arithmetic
    (0.5 + 0.3 against 0.3 + 0.5) by the last bit; here those are a tie.
    """
    if len(answers) != len(confidences):
        raise ValueError(
            f"{len(answers)} answers but {len(confidences)} confidences; they must pair up"
        )
    tally: dict[Hashable, float] = dict.fromkeys(options, 0.0) if options is not None else {}
    for a, p in zip(answers, confidences, strict=True):
        if a is None:
            continue
        if options is not None and a not in tally:
            raise ValueError(f"answer {a!r} is not one of the options {list(options)!r}")
        if recalibrate:
            w = reconcile_weight(p)
        else:
            w = float(p)
            if not 0.0 <= w <= 1.0:
                raise ValueError(f"confidence must be in [0, 1], got {p!r}")
        tally[a] = tally.get(a, 0.0) + w
    return _decide(tally, tie_break, rng)


def shannon_entropy(
    answers: Iterable[Hashable | None],
    base: float = 2,
    options: Sequence[Hashable] | None = None,
) -> float:
    """Shannon entropy of the answer distribution (Shannon 1948): H = -sum_k p_k log_b p_k.

    p_k are the shares of the non-missing answers (0 log 0 = 0). 0.0 for no answers or unanimity.
    """
    counts = [c for c in answer_counts(answers, options).values() if c > 0]
    total = sum(counts)
    if total == 0:
        return 0.0
    h = -sum((c / total) * math.log(c / total) for c in counts)
    return max(0.0, h / math.log(base))


def normalised_entropy(
    answers: Iterable[Hashable | None], options: Sequence[Hashable] | None = None
) -> float:
    """Normalised entropy H / log K in [0, 1] (Pielou's evenness; Shannon 1948).

    K is ``len(options)`` when options are given (so 1.0 means the answers are spread evenly over
    every option), else the number of distinct non-missing answers (so 1.0 means the answers that
    occur are equally frequent). Returns 0.0 when K <= 1. The base of the logarithm cancels.
    """
    answers = list(answers)
    k = len(options) if options is not None else len(answer_counts(answers))
    if k <= 1:
        return 0.0
    return shannon_entropy(answers, base=math.e, options=options) / math.log(k)


def top_share(answers: Iterable[Hashable | None]) -> float:
    """Share of the most frequent answer, max_k n_k / N over non-missing answers (0.0 if none)."""
    counts = answer_counts(answers)
    total = sum(counts.values())
    return max(counts.values()) / total if total else 0.0


def distinct_count(answers: Iterable[Hashable | None]) -> int:
    """Number of distinct non-missing answers."""
    return len(answer_counts(answers))


def unanimous(answers: Iterable[Hashable | None]) -> bool:
    """True when there is at least one non-missing answer and all non-missing answers are equal."""
    return distinct_count(answers) == 1
