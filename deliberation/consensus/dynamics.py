"""Opinion dynamics across deliberation rounds: flips, conformity, utility and resistance.

Input is one question's answers, ``rounds: {round: {participant: answer or None}}``. Rounds are
taken in sorted key order (use sortable keys such as round numbers); ``None`` (or a participant
absent from a round) means no answer. ``gold`` is the correct answer, or a predicate
``answer -> bool`` when several answers are correct.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from .votes import majority, plurality

Rounds = Mapping[Hashable, Mapping[Hashable, Hashable | None]]
Gold = Hashable | Callable[[Hashable], bool]
Rule = Callable[[Sequence[Hashable | None]], Hashable | None]


def _ordered(rounds: Rounds) -> list[Hashable]:
    return sorted(rounds)


def _participants(rounds: Rounds) -> list[Hashable]:
    seen: dict[Hashable, None] = {}
    for r in _ordered(rounds):
        for p in rounds[r]:
            seen.setdefault(p, None)
    return list(seen)


def is_correct(answer: Hashable | None, gold: Gold) -> bool | None:
    """``None`` for a missing answer, else ``gold(answer)`` if gold is callable, else answer ==
    gold."""
    if answer is None:
        return None
    return bool(gold(answer)) if callable(gold) else answer == gold


def answer_flips(rounds: Rounds) -> dict[Hashable, int]:
    """Number of answer changes per participant: sum over consecutive answered rounds of
    [a_t != a_prev], where a_prev is the participant's last non-missing answer (a skipped round
    does not count as a change)."""
    flips: dict[Hashable, int] = {}
    for p in _participants(rounds):
        prev = None
        n = 0
        for r in _ordered(rounds):
            a = rounds[r].get(p)
            if a is None:
                continue
            if prev is not None and a != prev:
                n += 1
            prev = a
        flips[p] = n
    return flips


ConformityKind = Literal["right_to_wrong", "wrong_to_right", "wrong_to_wrong", "right_to_right"]


@dataclass(frozen=True)
class ConformityEvent:
    """Participant changed from ``previous`` (round ``from_round``) to ``new`` (round ``round``),
    and ``new`` is what the others' majority said in ``from_round``. ``kind`` is ``None`` without
    gold; "right_to_right" needs a predicate gold that accepts both answers."""

    participant: Hashable
    round: Hashable
    from_round: Hashable
    previous: Hashable
    new: Hashable
    kind: ConformityKind | None


def conformity_events(
    rounds: Rounds,
    gold: Gold | None = None,
    rule: Literal["plurality", "majority"] = "plurality",
) -> list[ConformityEvent]:
    """Conformity events (after Asch 1956; measured for LLM agents by KAIROS, Song et al. 2025,
    arXiv:2508.18321): participant i changes answer between consecutive rounds t-1 and t
    (a_i,t != a_i,t-1, both present) and the new answer equals the answer of the OTHER
    participants in round t-1 under ``rule``: "plurality" (unique most frequent answer; a tie
    means no majority) or "majority" (strict majority, > half of the others who answered).
    With ``gold`` each event is classified by correctness before -> after."""
    if rule not in ("plurality", "majority"):
        raise ValueError("rule must be 'plurality' or 'majority'")
    vote = plurality if rule == "plurality" else majority
    order = _ordered(rounds)
    events: list[ConformityEvent] = []
    for prev_r, r in itertools.pairwise(order):
        before, after = rounds[prev_r], rounds[r]
        for p, new in after.items():
            old = before.get(p)
            if new is None or old is None or new == old:
                continue
            others = [a for q, a in before.items() if q != p]
            if vote(others).winner != new:
                continue
            kind = None
            if gold is not None:
                was = "right" if is_correct(old, gold) else "wrong"
                now = "right" if is_correct(new, gold) else "wrong"
                kind = f"{was}_to_{now}"
            events.append(ConformityEvent(p, r, prev_r, old, new, kind))  # type: ignore[arg-type]
    return events


@dataclass(frozen=True)
class KairosScores:
    """Counts over participants answering in both the initial and the final round, and the
    derived utility, resistance and F1 (NaN when undefined)."""

    initially_wrong: int
    corrected: int
    initially_right: int
    kept: int
    utility: float
    resistance: float
    f1: float


def _kairos_counts(
    rounds: Rounds, gold: Gold, initial: Hashable | None, final: Hashable | None
) -> tuple[int, int, int, int]:
    order = _ordered(rounds)
    if not order:
        return 0, 0, 0, 0
    first = rounds[order[0] if initial is None else initial]
    last = rounds[order[-1] if final is None else final]
    wrong = corrected = right = kept = 0
    for p, a0 in first.items():
        c0, c1 = is_correct(a0, gold), is_correct(last.get(p), gold)
        if c0 is None or c1 is None:
            continue
        if c0:
            right += 1
            kept += c1
        else:
            wrong += 1
            corrected += c1
    return wrong, corrected, right, kept


def kairos_scores(
    sessions: Iterable[tuple[Rounds, Gold]],
    initial: Hashable | None = None,
    final: Hashable | None = None,
) -> KairosScores:
    """Utility, resistance and their F1 under peer influence (after KAIROS, Song et al. 2025,
    "LLMs Can't Handle Peer Pressure", arXiv:2508.18321), pooled over ``(rounds, gold)`` sessions.

    For each participant answering in both the initial (default: first) and final (default: last)
    round: utility = #(wrong initially, right finally) / #(wrong initially), the share of wrong
    answers that peers helped correct; resistance = #(right initially, right finally) /
    #(right initially), the share of right answers kept under pressure; F1 = 2 U R / (U + R).
    A ratio with a zero denominator is NaN, and then so is F1.
    """
    wrong = corrected = right = kept = 0
    for rounds, gold in sessions:
        w, c, r, k = _kairos_counts(rounds, gold, initial, final)
        wrong, corrected, right, kept = wrong + w, corrected + c, right + r, kept + k
    utility = corrected / wrong if wrong else math.nan
    resistance = kept / right if right else math.nan
    if math.isnan(utility) or math.isnan(resistance):
        f1 = math.nan
    elif utility + resistance == 0:
        f1 = 0.0
    else:
        f1 = 2 * utility * resistance / (utility + resistance)
    return KairosScores(wrong, corrected, right, kept, utility, resistance, f1)


def correctness(rounds: Rounds, gold: Gold) -> dict[Hashable, dict[Hashable, bool | None]]:
    """``{round: {participant: True/False, or None when missing}}`` for every participant."""
    people = _participants(rounds)
    return {r: {p: is_correct(rounds[r].get(p), gold) for p in people} for r in _ordered(rounds)}


def _rate(marks: Iterable[bool | None], missing: str) -> float:
    if missing not in ("exclude", "wrong"):
        raise ValueError("missing must be 'exclude' or 'wrong'")
    vals = [bool(m) for m in marks if m is not None or missing == "wrong"]
    return sum(vals) / len(vals) if vals else math.nan


def accuracy_per_round(
    rounds: Rounds, gold: Gold, missing: Literal["exclude", "wrong"] = "exclude"
) -> dict[Hashable, float]:
    """Share of participants answering correctly in each round. Missing answers are left out of
    the denominator (``missing="exclude"``) or count as wrong (``"wrong"``); NaN when no answer
    counts."""
    return {r: _rate(row.values(), missing) for r, row in correctness(rounds, gold).items()}


def accuracy_per_participant(
    rounds: Rounds, gold: Gold, missing: Literal["exclude", "wrong"] = "exclude"
) -> dict[Hashable, float]:
    """Share of rounds in which each participant answered correctly (missing handled as in
    :func:`accuracy_per_round`)."""
    table = correctness(rounds, gold)
    return {p: _rate((row[p] for row in table.values()), missing) for p in _participants(rounds)}


def _plurality_rule(answers: Sequence[Hashable | None]) -> Hashable | None:
    return plurality(answers).winner


def _majority_rule(answers: Sequence[Hashable | None]) -> Hashable | None:
    return majority(answers).winner


DEFAULT_RULES: dict[str, Rule] = {"plurality": _plurality_rule, "majority": _majority_rule}


def rule_correctness(
    rounds: Rounds, gold: Gold, rules: Mapping[str, Rule] | None = None
) -> dict[str, dict[Hashable, bool]]:
    """Whether each aggregation rule's answer is correct in each round: ``{rule: {round: bool}}``.

    A rule maps the round's answers (in participant order, ``None`` for missing) to one answer or
    ``None`` (no decision, e.g. an unresolved tie), which counts as wrong. Defaults: plurality
    without tie-break and strict majority (:mod:`.votes`). Averaging these over questions gives the
    accuracy per rule per round, e.g. the vote-only baseline (round 0) beside the debate's last
    round ("Debate or Vote", 2025).
    """
    rules = DEFAULT_RULES if rules is None else rules
    people = _participants(rounds)
    out: dict[str, dict[Hashable, bool]] = {}
    for name, rule in rules.items():
        out[name] = {}
        for r in _ordered(rounds):
            decided = rule([rounds[r].get(p) for p in people])
            out[name][r] = bool(is_correct(decided, gold))
    return out


def accuracy_per_rule(
    sessions: Iterable[tuple[Rounds, Gold]], rules: Mapping[str, Rule] | None = None
) -> dict[str, dict[Hashable, float]]:
    """Accuracy of each rule at each round over many questions: mean of :func:`rule_correctness`
    over the sessions that have that round. ``{rule: {round: accuracy}}``."""
    hits: dict[str, dict[Hashable, list[bool]]] = {}
    for rounds, gold in sessions:
        for name, per_round in rule_correctness(rounds, gold, rules).items():
            for r, ok in per_round.items():
                hits.setdefault(name, {}).setdefault(r, []).append(ok)
    return {
        name: {r: sum(v) / len(v) for r, v in sorted(per.items())} for name, per in hits.items()
    }
