"""A session's answers per round and the final answer each rule recommends.

Computed from the stored posts every time (one source for each fact), with the pure consensus
library. Only usable answers count: unparsed agent answers, abstentions and skipped turns are
left out of every vote, never replaced by a guess.

Rules:

* ``plurality`` - the most frequent final answer (Du et al. 2023).
* ``confidence_weighted`` - ReConcile's vote: sum of recalibrated confidences per answer
  (Chen et al. 2023). A missing confidence gets the lowest weight (as p <= 0.6).
* ``judge`` - the judges' final verdicts (Khan et al. 2024): each judge votes for the answer
  they find more likely; the answer with more votes wins (see ``_judge_rule``).
* ``vote_only`` - the plurality of round 1's independent answers: the Debate-or-Vote baseline
  (Choi et al. 2025), shown beside the final answer only where round 1 *was* independent and
  sealed (simultaneous rounds, round table, peer review, vote only, or any protocol run with the
  independent vote pass, ``vote_pass``). In round robin, free debate, SocraSynth or a judged
  debate, round 1 answers hear each other or defend assigned stances: no baseline is shown.

A participant's *final* answer is their latest usable answer in any round, so a participant who
skipped a round (ReConcile, already agreeing) keeps the answer they gave before.

Ties for first are broken by the session's recorded ``tie_break`` setting (default: the
protocol's source; ``protocols.base.tie_settings``): ``first`` keeps the leader answered first
in agent (speaking-position) order, ``random`` draws a leader with a generator seeded by
``tie_seed``, the rule and the question (so a rerun draws the same), ``none`` gives no answer.
Every rule's result keeps the leaders in ``tied``, so the tie rate can be reported.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from deliberation.consensus.votes import confidence_weighted_vote, plurality
from deliberation.protocols import base as p
from deliberation.protocols.registry import get_protocol

from .answers import answer_key, is_correct
from .models import DebateSession


def representatives(session: DebateSession, upto_seq: int | None = None) -> dict[Hashable, Any]:
    """Vote key -> the first answer given with that key, as it was written.

    Keys normalise answers (free text casefolded, numbers snapped to the tolerance), so a
    winning key is shown, and checked against gold, as an answer someone actually gave.
    """
    out: dict[Hashable, Any] = {}
    posts = session.posts.filter(answer__isnull=False)
    if upto_seq is not None:
        posts = posts.filter(seq__lte=upto_seq)
    answers = posts.order_by("seq").values_list("answer", flat=True)
    for answer in answers:
        out.setdefault(answer_key(answer, session.answer_format, session.tolerance), answer)
    return out


@dataclass(frozen=True)
class RuleResult:
    rule: str
    answer: Any  # None when the rule gives no winner
    tied: list[Any] = field(default_factory=list)  # the leaders, when several shared the top
    support: float = 0.0  # the winner's share of the votes (or weight)
    correct: bool | None = None


@dataclass(frozen=True)
class Outcome:
    default_rule: str
    final: RuleResult
    rules: dict[str, RuleResult]
    # round number -> participant id -> answer value (usable answers of debaters only)
    rounds: dict[int, dict[int, Any]]
    confidences: dict[int, dict[int, float | None]]
    tie_break: str = "none"
    tie_seed: int = 0

    @property
    def rules_disagree(self) -> bool:
        answers = {repr(r.answer) for r in self.rules.values() if r.rule != "vote_only"}
        return len(answers) > 1


def session_outcome(
    session: DebateSession, state: p.SessionState | None = None, upto_seq: int | None = None
) -> Outcome:
    """The rules' answers now, or right after post ``upto_seq`` (for the replay)."""
    from .engine import load_state

    state = state or load_state(session, upto_seq)
    protocol = get_protocol(session.protocol)
    debaters = {s.id for s in state.debaters}
    rounds: dict[int, dict[int, Hashable]] = {}
    confidences: dict[int, dict[int, float | None]] = {}
    latest: dict[int, tuple[Hashable, float | None]] = {}
    for view in state.rounds:
        answers = {pid: a for pid, a in view.answers().items() if pid in debaters}
        if answers:
            rounds[view.number] = answers
            confidences[view.number] = {
                pid: c for pid, c in view.confidences().items() if pid in debaters
            }
        for pid, answer in answers.items():
            latest[pid] = (answer, confidences[view.number].get(pid))
    gold = session.gold_answer
    originals = representatives(session, upto_seq)

    def from_key(key: Hashable) -> Any:
        if key in originals:
            return originals[key]
        return list(key) if isinstance(key, tuple) else key

    def result(rule: str, vote) -> RuleResult:
        answer = from_key(vote.winner) if vote.winner is not None else None
        return RuleResult(
            rule,
            answer,
            [from_key(t) for t in vote.tied],
            round(vote.share, 4),
            _correct(answer, gold, session),
        )

    tie_break, tie_seed = tie_rule(session)
    breaker = None if tie_break == "none" else tie_break
    position = {s.id: s.position for s in state.participants}
    in_agent_order = sorted(latest, key=lambda pid: (position.get(pid, 0), pid))
    final_answers = [latest[pid][0] for pid in in_agent_order]
    final_weights = [latest[pid][1] or 0.0 for pid in in_agent_order]
    first_round = rounds.get(1, {})
    rules = {
        "plurality": result(
            "plurality",
            plurality(final_answers, tie_break=breaker, rng=_tie_rng(session, "plurality")),
        ),
        "confidence_weighted": result(
            "confidence_weighted",
            confidence_weighted_vote(
                final_answers,
                final_weights,
                tie_break=breaker,
                rng=_tie_rng(session, "confidence_weighted"),
            ),
        ),
    }
    if protocol.has_vote_baseline(session.protocol_settings or {}):
        rules["vote_only"] = result(
            "vote_only",
            plurality(
                [first_round[pid] for pid in sorted(first_round, key=lambda i: position.get(i, 0))],
                tie_break=breaker,
                rng=_tie_rng(session, "vote_only"),
            ),
        )
    if protocol.needs_judge:
        rules["judge"] = _judge_rule(state, session, from_key)
    default = protocol.final_rule if protocol.final_rule in rules else "plurality"
    return Outcome(
        default_rule=default,
        final=rules[default],
        rules=rules,
        rounds={n: {pid: from_key(a) for pid, a in ans.items()} for n, ans in rounds.items()},
        confidences=confidences,
        tie_break=tie_break,
        tie_seed=tie_seed,
    )


def tie_rule(session: DebateSession) -> tuple[str, int]:
    """The session's recorded tie rule and seed (sessions made before the setting existed get
    their protocol's default)."""
    settings = session.protocol_settings or {}
    rule = settings.get("tie_break") or get_protocol(session.protocol).tie_rule
    return rule, int(settings.get("tie_seed") or 0)


def _tie_rng(session: DebateSession, rule: str) -> random.Random:
    """A generator fixed by the tie seed, the rule and the question (not by database ids, so a
    session imported elsewhere or rerun in another batch draws the same)."""
    _, seed = tie_rule(session)
    key = json.dumps([seed, rule, session.question, list(session.options)])
    return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


def _correct(answer: Any, gold: Any, session: DebateSession) -> bool | None:
    if gold is None or answer is None:
        return None if gold is None else False
    return is_correct(answer, gold, session.answer_format, session.tolerance)


def _judge_rule(state: p.SessionState, session: DebateSession, from_key) -> RuleResult:
    """The judges' final verdicts, aggregated as Khan et al. 2024 aggregate several judgements.

    Their code (ucl-dark/llm_debate, ``core/scoring/accuracy.py``, ``get_accuracy`` with
    ``n_votes``) reads one discrete choice from each judgement (``func_correct_ab``: the letter
    after "Answer:"; a person's verdict is correct when "confidence correct" > 0.5) and takes a
    strict majority: ``correct_voted = correct_true_count > correct_false_count``. Probabilities
    are not averaged. Here each judge's verdict (an answer and the probability that it is
    correct) is one vote: for the named answer when the probability is above 0.5 (or missing),
    for the other defended answer when it is below 0.5, and no vote at exactly 0.5 (or when the
    other answer is unknown). The answer with more votes wins; equal votes are a tie, settled by
    the session's tie rule (the judged debate's default, ``none``, gives no answer, which scores
    as wrong, as a tie does in ``get_accuracy``). ``support`` is the winner's share of the votes.

    Only final verdicts count: those given in the protocol's last round; interim verdicts
    (``judge_every_round``) and a session ended before the last round give no judge's answer.
    One verdict per judge (their last in that round), in joining order.
    """
    judges = [s.id for s in state.judges]
    last = get_protocol(session.protocol).rounds_total(session.protocol_settings or {})
    sides = [
        answer_key(s.side, session.answer_format, session.tolerance)
        for s in state.debaters
        if s.side
    ]
    verdicts: dict[int, tuple[Hashable, float | None]] = {}
    for view in state.rounds:
        if last is not None and view.number != last:
            continue
        for c in view.contributions:
            if (
                c.participant_id in judges
                and c.target_id is None
                and c.status == "answered"
                and c.answer is not None
            ):
                verdicts[c.participant_id] = (c.answer, c.confidence)
    votes: list[Hashable | None] = []
    for judge in judges:
        if judge not in verdicts:
            continue
        answer, probability = verdicts[judge]
        probability = 1.0 if probability is None else probability
        if probability > 0.5:
            votes.append(answer)
        elif probability < 0.5 and len(sides) == 2 and answer in sides:
            votes.append(sides[1 - sides.index(answer)])
        else:
            votes.append(None)  # undecided: the source's "inconclusive" judgement
    if not any(v is not None for v in votes):
        return RuleResult("judge", None)
    tie_break, _ = tie_rule(session)
    vote = plurality(
        votes,
        tie_break=None if tie_break == "none" else tie_break,
        rng=_tie_rng(session, "judge"),
    )
    answer = from_key(vote.winner) if vote.winner is not None else None
    return RuleResult(
        "judge",
        answer,
        [from_key(t) for t in vote.tied],
        round(vote.share, 4),
        _correct(answer, session.gold_answer, session),
    )


RULE_TITLES = {
    "plurality": "Plurality",
    "confidence_weighted": "Confidence-weighted (ReConcile)",
    "judge": "Judge's verdict",
    "vote_only": "Vote only (round 1)",
}


def outcome_data(outcome: Outcome) -> dict[str, Any]:
    """JSON-safe summary for the live state and the JSON WebSocket protocol."""

    def rule(r: RuleResult) -> dict[str, Any]:
        return {
            "rule": r.rule,
            "title": RULE_TITLES.get(r.rule, r.rule),
            "answer": r.answer,
            "tied": r.tied,
            "tie_broken": bool(r.tied) and r.answer is not None,
            "support": r.support,
            "correct": r.correct,
        }

    return {
        "default_rule": outcome.default_rule,
        "tie_break": outcome.tie_break,
        "tie_seed": outcome.tie_seed,
        "final": rule(outcome.final),
        "rules": [rule(r) for r in outcome.rules.values()],
        "disagree": outcome.rules_disagree,
    }
