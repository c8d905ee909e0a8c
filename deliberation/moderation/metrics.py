"""A session's live consensus metrics, computed from its stored rows with the consensus library.

:func:`session_metrics` reads a session once (a fixed number of queries, whatever the number of
posts: see :func:`load`) and returns a JSON-safe dict that the moderator page renders, the live
view broadcasts and an adjudication snapshots. Formulas and sources live in the library
(``deliberation.consensus``); ``docs/moderation.md`` explains the choices made here:

* Only **debaters'** usable answers count (as in ``debates.outcomes``): unparsed agent answers,
  abstentions, skips and failed turns are missing values, never guesses. Answers are compared on
  their vote key (``debates.answers.answer_key``: free text normalised, numbers snapped to the
  session's tolerance) and shown as first written.
* Per round: the answer distribution, top share, distinct answers, Shannon entropy (bits) and
  normalised entropy (H / log K, K = the number of options for single-choice questions, else
  the number of distinct answers); for free text, semantic entropy when a model judged meaning
  (bidirectional entailment, ``agents.equivalence``; the judge named by the site setting
  ``SEMANTIC_JUDGE_PROFILE``), else the lexical clusters, labelled as such and never as
  semantic entropy; average-distance and mutual consensus for numbers, on one scale for the
  whole session (min..max of every answer and gold).
* Convergence per round is the round's **pairwise agreement** (the share of debater pairs who
  gave the same answer; Fleiss 1971's per-item P_i), not chance-corrected. Krippendorff's alpha
  and Fleiss' kappa are defined over many units (questions or items) with raters answering each:
  one session asks one question, so they are computed over the questions of a batch run (per
  round; ``batches``), never over a session's rounds, where a panel converging to unanimity
  would score 0.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max, Q
from django.utils import timezone

from deliberation.agents import equivalence
from deliberation.agents.models import AgentTurn, OpinionRequest
from deliberation.consensus import agreement, cost, dynamics, mutual, semantic, votes
from deliberation.debates.answers import answer_key, format_answer, is_correct
from deliberation.debates.engine import cut_time, load_state
from deliberation.debates.models import DebateSession, Opinion, Participant, Post
from deliberation.debates.outcomes import Outcome, representatives, session_outcome
from deliberation.protocols import base as p

from .rules import rule_table

METRICS_VERSION = 2  # 2: semantic entropy by a model judge, or lexical clusters
FAILED_STATUSES = ("failed", "unparsed")
MISSED_STATUSES = ("abstained", "skipped")


def num(value: Any, digits: int = 6) -> float | None:
    """A JSON-safe float: NaN and infinities become None."""
    if value is None:
        return None
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return None
    return round(value, digits)


@dataclass
class SessionData:
    """Everything the metrics need, read with a fixed number of queries."""

    session: DebateSession
    state: p.SessionState
    outcome: Outcome
    originals: dict[Hashable, Any]  # vote key -> the answer as first written
    people: dict[int, Participant]
    round_numbers: dict[int, str]  # round number -> phase
    opinions: list[tuple[int, int, Any, float | None]]  # round, participant, answer, confidence
    turns: list[dict[str, Any]]
    reviews: list[tuple[int, int, int, dict]]  # round, reviewer, target, data
    last_seq: int
    # Agents' private-opinion requests without a stored opinion: (round, participant) ->
    # "pending", "failed" or "unparsed" (agents.opinions; never a guessed answer).
    private_status: dict[tuple[int, int], str] = field(default_factory=dict)

    def label(self, key: Hashable | None) -> str:
        if key is None:
            return ""
        return format_answer(self.original(key), self.session.answer_format)

    def original(self, key: Hashable | None) -> Any:
        if key is None:
            return None
        if key in self.originals:
            return self.originals[key]
        return list(key) if isinstance(key, tuple) else key

    def key(self, answer: Any) -> Hashable | None:
        return answer_key(answer, self.session.answer_format, self.session.tolerance)

    def correct(self, key: Hashable | None) -> bool | None:
        gold = self.session.gold_answer
        if gold is None or key is None:
            return None
        s = self.session
        return is_correct(self.original(key), gold, s.answer_format, s.tolerance)


def load(session: DebateSession, upto_seq: int | None = None) -> SessionData:
    """Read the session with a fixed number of queries: none per post, round or participant.

    ``upto_seq``: the session as it stood right after that post (the replay's view).
    """
    state = load_state(session, upto_seq)  # participants, rounds, posts, failed agent turns
    outcome = session_outcome(session, state, upto_seq)  # + the answers' first spellings
    originals = representatives(session, upto_seq)
    posts = Post.objects.filter(session=session)
    opinions = Opinion.objects.filter(session=session)
    turns = AgentTurn.objects.filter(session=session)
    asked = OpinionRequest.objects.filter(session=session, opinion__isnull=True)
    before = cut_time(session, upto_seq)
    if before is not None:
        posts = posts.filter(seq__lte=upto_seq)
        opinions = opinions.filter(created_at__lt=before)
        asked = asked.filter(created_at__lt=before)
        # A turn counts once its post is in, or once it had failed by then.
        turns = turns.filter(
            Q(post__seq__lte=upto_seq) | Q(post__isnull=True, finished_at__lt=before)
        )
    people = {pt.pk: pt for pt in session.participants.all()}
    opinions = list(
        opinions.order_by("round__number", "participant_id").values_list(
            "round__number", "participant_id", "answer", "confidence"
        )
    )
    turns = list(
        turns.order_by("id").values(
            "id",
            "participant_id",
            "round__number",
            "status",
            "parse_status",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "model",
            "error",
            "attempts",
        )
    )
    reviews = list(
        posts.filter(kind=Post.Kind.ARGUMENT, target__isnull=False)
        .exclude(round__isnull=True)
        .order_by("seq")
        .values_list("round__number", "author_id", "target_id", "data")
    )
    last_seq = posts.aggregate(m=Max("seq"))["m"] or 0
    private_status = {}
    for number, pid, status, parse_status, finished in asked.values_list(
        "round__number", "participant_id", "status", "parse_status", "finished_at"
    ):
        if status == OpinionRequest.Status.FAILED and (before is None or finished < before):
            private_status[(number, pid)] = "failed"
        elif parse_status == Post.ParseStatus.UNPARSED and (before is None or finished < before):
            private_status[(number, pid)] = "unparsed"
        else:
            private_status[(number, pid)] = "pending"
    return SessionData(
        session=session,
        state=state,
        outcome=outcome,
        originals=originals,
        people=people,
        round_numbers={r.number: r.phase for r in state.rounds},
        opinions=opinions,
        turns=turns,
        reviews=reviews,
        last_seq=last_seq,
        private_status=private_status,
    )


def session_metrics(session: DebateSession, upto_seq: int | None = None) -> dict[str, Any]:
    """The moderator's metrics of ``session`` as a JSON-safe dict (see the module docstring);
    with ``upto_seq``, as they stood right after that post (the transcript replay)."""
    data = load(session, upto_seq)
    debaters = [s.id for s in data.state.debaters]
    answered = public_rounds(data)  # round -> {debater: key}, rounds with answers only
    categories = _categories(data, answered)
    scale = _numeric_scale(data, answered)
    meaning = _meaning_judge(data)
    rounds = [
        _round_metrics(data, view, answered.get(view.number, {}), categories, scale, meaning)
        for view in data.state.rounds
    ]
    rules = rule_table(data, debaters)
    trajectories = _trajectories(data, answered)
    gold = data.session.gold_answer
    return {
        "version": METRICS_VERSION,
        "session_id": data.session.pk,
        "status": data.state.status,
        "answer_format": data.session.answer_format,
        "gold": gold,
        "gold_label": format_answer(gold, data.session.answer_format) if gold is not None else "",
        "computed_at": timezone.now().isoformat(),
        "last_seq": data.last_seq,
        "debaters": len(debaters),
        "categories": [
            {"index": i, "answer": data.original(k), "label": data.label(k)}
            for i, k in enumerate(categories)
        ],
        "rounds": rounds,
        "agreement": _convergence(rounds),
        "numeric_scale": list(scale) if scale else None,
        "semantic_judge": meaning.summary(rounds) if meaning is not None else None,
        "trajectories": trajectories,
        "private_shift": _private_shift(data, trajectories),
        "conformity": _conformity(data, answered),
        "kairos": _kairos(data, answered),
        "failures": _failures(data),
        "missed": _missed(data),
        "cost": _cost(data, rules),
        **rules,
    }


# --- answers per round -------------------------------------------------------------------------
def public_rounds(data: SessionData) -> dict[int, dict[int, Hashable]]:
    """Round number -> debater -> usable answer key, for the rounds in which someone answered."""
    debaters = {s.id for s in data.state.debaters}
    out: dict[int, dict[int, Hashable]] = {}
    for view in data.state.rounds:
        answers = {pid: a for pid, a in view.answers().items() if pid in debaters}
        if answers:
            out[view.number] = answers
    return out


def _categories(data: SessionData, answered: dict[int, dict[int, Hashable]]) -> list[Hashable]:
    """Every answer key given, in a stable order: the options first for single choice."""
    keys: dict[Hashable, None] = {}
    if data.session.answer_format == DebateSession.AnswerFormat.SINGLE_CHOICE:
        keys.update(dict.fromkeys(data.key(o) for o in data.session.options))
    for answers in answered.values():
        keys.update(dict.fromkeys(answers.values()))
    return list(keys)


def _numeric_scale(data: SessionData, answered) -> tuple[float, float] | None:
    if data.session.answer_format != DebateSession.AnswerFormat.NUMERIC:
        return None
    values = [float(a) for answers in answered.values() for a in answers.values()]
    if isinstance(data.session.gold_answer, int | float):
        values.append(float(data.session.gold_answer))
    if not values or max(values) == min(values):
        return None
    return (min(values), max(values))


def _round_metrics(
    data, view: p.RoundView, answers: dict[int, Hashable], categories, scale, meaning=None
):
    keys = list(answers.values())
    fmt = data.session.answer_format
    statuses = [c.status for c in view.contributions if c.target_id is None]
    out: dict[str, Any] = {
        "number": view.number,
        "phase": view.phase,
        "open": view.open,
        "answers": len(keys),
        "missed": sum(s in MISSED_STATUSES for s in statuses),
        "failed": sum(s in FAILED_STATUSES for s in statuses),
        "reviews": sum(1 for c in view.contributions if c.target_id is not None),
        "distribution": [],
        "top_share": None,
        "distinct": 0,
        "unanimous": False,
        "pairwise_agreement": None,
        "entropy": None,
        "normalised_entropy": None,
        "semantic_entropy": None,
        "semantic_normalised": None,
        "semantic_clusters": None,
        "semantic_status": None,
        "semantic_reason": None,
        "lexical_entropy": None,
        "lexical_normalised": None,
        "lexical_clusters": None,
        "consensus_degree": None,
        "mutual_consensus": None,
        "plurality": None,
        "accuracy": None,
    }
    if not keys:
        return out
    counts = votes.answer_counts(keys, options=categories)
    options = categories if fmt == DebateSession.AnswerFormat.SINGLE_CHOICE else None
    winner = votes.plurality(keys).winner
    out.update(
        distribution=[
            {"index": i, "label": data.label(k), "count": n, "share": num(n / len(keys))}
            for i, (k, n) in enumerate(counts.items())
            if n
        ],
        top_share=num(votes.top_share(keys)),
        distinct=votes.distinct_count(keys),
        unanimous=votes.unanimous(keys),
        pairwise_agreement=num(agreement.pairwise_agreement(keys)),
        entropy=num(votes.shannon_entropy(keys, base=2)),
        normalised_entropy=num(votes.normalised_entropy(keys, options=options)),
        plurality=data.label(winner) if winner is not None else None,
    )
    if fmt == DebateSession.AnswerFormat.FREE_TEXT and meaning is not None:
        out.update(meaning.round_metrics(data.session.question, [data.label(k) for k in keys]))
    if fmt == DebateSession.AnswerFormat.NUMERIC:
        values = [float(k) for k in keys]
        out["consensus_degree"] = num(mutual.consensus_degree(values, scale))
        out["mutual_consensus"] = num(mutual.mutual_consensus(values, scale))
    if data.session.gold_answer is not None:
        marks = [data.correct(k) for k in keys]
        out["accuracy"] = num(sum(bool(m) for m in marks) / len(marks))
    return out


# --- free text: semantic entropy (a model judges meaning) or lexical clusters -------------------
@dataclass
class MeaningMetrics:
    """Semantic entropy of a session's free-text rounds, judged by the configured model, and
    the lexical clusters for every round no model judged (docs/moderation.md).

    ``judge`` is None when no model is configured (``reason`` empty) or when the setting names
    no profile (``reason`` says so). A round whose judgement fails gets ``semantic_status``
    "unavailable" with the reason, and no semantic number: never a number that reads as
    consensus."""

    judge: equivalence.MeaningJudge | None
    configured: bool
    reason: str = ""

    def round_metrics(self, question: str, texts: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        reason = self.reason
        if self.judge is not None:
            try:
                result = self.judge.entropy(question, texts)
            except equivalence.JudgeUnavailable as exc:
                reason = str(exc)
            else:
                return {
                    "semantic_status": "model",
                    "semantic_entropy": num(result.entropy),
                    "semantic_normalised": num(result.normalised),
                    "semantic_clusters": len(result.clusters),
                }
        out["semantic_status"] = "unavailable" if self.configured else "no_model"
        out["semantic_reason"] = reason or None
        lexical = semantic.lexical_cluster_entropy(texts)
        out["lexical_entropy"] = num(lexical.entropy)
        out["lexical_normalised"] = num(lexical.normalised)
        out["lexical_clusters"] = len(lexical.clusters)
        return out

    def summary(self, rounds: list[dict[str, Any]]) -> dict[str, Any]:
        statuses = [r["semantic_status"] for r in rounds if r["semantic_status"]]
        reasons = list(dict.fromkeys(r["semantic_reason"] for r in rounds if r["semantic_reason"]))
        if self.reason and self.reason not in reasons:
            reasons.insert(0, self.reason)
        return {
            "configured": self.configured,
            "name": self.judge.name if self.judge is not None else None,
            "strict": self.judge.strict_entailment if self.judge is not None else None,
            "calls": self.judge.calls if self.judge is not None else 0,
            "judged_rounds": statuses.count("model"),
            "lexical_rounds": len(statuses) - statuses.count("model"),
            "reasons": reasons,
        }


def _meaning_judge(data: SessionData) -> MeaningMetrics | None:
    """The session's judge of meaning, for free-text sessions only."""
    session = data.session
    if session.answer_format != DebateSession.AnswerFormat.FREE_TEXT:
        return None
    scope = f"{session.pk}:{session.created_at.timestamp()}"
    try:
        judge = equivalence.judge_for(scope)
    except equivalence.JudgeUnavailable as exc:
        return MeaningMetrics(judge=None, configured=True, reason=str(exc))
    return MeaningMetrics(judge=judge, configured=judge is not None)


# --- convergence across rounds -----------------------------------------------------------------
def _convergence(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Pairwise agreement per round, and the first round in which every debater agreed."""
    per_round = [
        {"round": r["number"], "pairwise": r["pairwise_agreement"]}
        for r in rounds
        if r["pairwise_agreement"] is not None
    ]
    unanimous = next((r["round"] for r in per_round if r["pairwise"] == 1.0), None)
    return {"convergence": per_round, "unanimous_from": unanimous}


# --- participants ------------------------------------------------------------------------------
def _trajectories(data: SessionData, answered) -> list[dict[str, Any]]:
    """Public answer and confidence, and the private opinion, of each debater and judge."""
    private: dict[int, dict[int, tuple[Hashable, float | None]]] = {}
    for number, pid, answer, confidence in data.opinions:
        private.setdefault(pid, {})[number] = (data.key(answer), confidence)
    speakers = [*data.state.debaters, *data.state.judges]
    out = []
    for speaker in speakers:
        person = data.people[speaker.id]
        cells, public, hidden = [], {}, {}
        for view in data.state.rounds:
            mine = [c for c in view.contributions if c.participant_id == speaker.id]
            own = [c for c in mine if c.target_id is None]
            last = own[-1] if own else None
            key = last.answer if last is not None and last.status == "answered" else None
            opinion = private.get(speaker.id, {}).get(view.number)
            if key is not None:
                public[view.number] = key
            if opinion is not None:
                hidden[view.number] = opinion[0]
            cells.append(
                {
                    "round": view.number,
                    "status": last.status if last else ("reviewed" if mine else ""),
                    "answer": data.label(key) if key is not None else None,
                    "confidence": num(last.confidence) if key is not None else None,
                    "correct": data.correct(key),
                    "private_answer": data.label(opinion[0]) if opinion else None,
                    "private_confidence": num(opinion[1]) if opinion else None,
                    "private_status": (
                        "reported"
                        if opinion
                        else data.private_status.get((view.number, speaker.id), "")
                    ),
                    "diverges": bool(opinion and key is not None and opinion[0] != key),
                }
            )
        flips = dynamics.answer_flips({n: {0: a} for n, a in public.items()}).get(0, 0)
        private_flips = dynamics.answer_flips({n: {0: a} for n, a in hidden.items()}).get(0, 0)
        marks = [c["correct"] for c in cells if c["correct"] is not None]
        out.append(
            {
                "id": speaker.id,
                "name": person.display_name,
                "kind": person.kind,
                "role": person.role,
                "rounds": cells,
                "flips": flips,
                "private_flips": private_flips,
                "diverged": sum(c["diverges"] for c in cells),
                "accuracy": num(sum(marks) / len(marks)) if marks else None,
            }
        )
    return out


def _private_shift(data: SessionData, trajectories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per round, the public-vs-private shift of the debaters (DEBATE benchmark): how many had
    both a usable public answer and a private opinion ("compared"), and how many of those
    privately held another answer ("diverged"), for people and agents apart and together.
    Rounds without a private opinion from anyone are left out. Unparsed and failed private
    answers are not compared (never guessed)."""
    debaters = [t for t in trajectories if t["role"] == Participant.Role.DEBATER]
    out = []
    for index, view in enumerate(data.state.rounds):
        groups: dict[str, dict[str, int]] = {
            kind: {"compared": 0, "diverged": 0, "private": 0} for kind in ("person", "agent")
        }
        for t in debaters:
            cell = t["rounds"][index]
            group = groups["agent" if t["kind"] == "agent" else "person"]
            if cell["private_answer"] is None:
                continue
            group["private"] += 1
            if cell["answer"] is not None:
                group["compared"] += 1
                group["diverged"] += bool(cell["diverges"])
        compared = sum(g["compared"] for g in groups.values())
        diverged = sum(g["diverged"] for g in groups.values())
        if not any(g["private"] for g in groups.values()):
            continue
        out.append(
            {
                "round": view.number,
                "people": groups["person"],
                "agents": groups["agent"],
                "compared": compared,
                "diverged": diverged,
                "rate": num(diverged / compared) if compared else None,
            }
        )
    return out


def _gold(data: SessionData):
    if data.session.gold_answer is None:
        return None
    return lambda key: bool(data.correct(key))


def _conformity(data: SessionData, answered) -> list[dict[str, Any]]:
    events = dynamics.conformity_events(answered, gold=_gold(data))
    return [
        {
            "participant": e.participant,
            "name": data.people[e.participant].display_name,
            "round": e.round,
            "from_round": e.from_round,
            "previous": data.label(e.previous),
            "new": data.label(e.new),
            "kind": e.kind,
        }
        for e in events
    ]


def _kairos(data: SessionData, answered) -> dict[str, Any] | None:
    gold = _gold(data)
    if gold is None or len(answered) < 2:
        return None
    s = dynamics.kairos_scores([(answered, gold)])
    return {
        "initially_wrong": s.initially_wrong,
        "corrected": s.corrected,
        "initially_right": s.initially_right,
        "kept": s.kept,
        "utility": num(s.utility),
        "resistance": num(s.resistance),
        "f1": num(s.f1),
    }


# --- failures, missed deadlines, cost ----------------------------------------------------------
def _failures(data: SessionData) -> list[dict[str, Any]]:
    """Agent turns that failed, or whose answer could not be read (or only after a repair)."""
    out = []
    for t in data.turns:
        problem = t["status"] == AgentTurn.Status.FAILED or t["parse_status"] in (
            "unparsed",
            "repaired",
        )
        if not problem:
            continue
        person = data.people.get(t["participant_id"])
        out.append(
            {
                "turn": t["id"],
                "round": t["round__number"],
                "participant": t["participant_id"],
                "name": person.display_name if person else "?",
                "status": t["status"],
                "parse_status": t["parse_status"],
                "attempts": t["attempts"],
                "error": (t["error"] or "")[:300],
            }
        )
    return out


def _missed(data: SessionData) -> list[dict[str, Any]]:
    """Deadlines that passed (abstentions) and turns the moderator skipped."""
    out = []
    for view in data.state.rounds:
        for c in view.contributions:
            if c.status in MISSED_STATUSES:
                person = data.people.get(c.participant_id)
                out.append(
                    {
                        "round": view.number,
                        "participant": c.participant_id,
                        "name": person.display_name if person else "?",
                        "reason": "deadline" if c.status == "abstained" else "skipped",
                    }
                )
    return out


def _cost(data: SessionData, rules: dict[str, Any]) -> dict[str, Any]:
    """Tokens and money over every agent call that ran. No cost of pass here: over one
    session it can only be the cost or infinity; batch runs compute it over a question set
    (docs/batch-runs.md, "Cost of pass")."""
    calls = [
        {
            "prompt_tokens": t["prompt_tokens"] or 0,
            "completion_tokens": t["completion_tokens"] or 0,
            "cost": float(t["cost_usd"] or 0),
            "model": t["model"] or "",
        }
        for t in data.turns
        if t["status"] in (AgentTurn.Status.DONE, AgentTurn.Status.FAILED)
    ]
    total = cost.session_cost(calls)
    return {
        "calls": total.calls,
        "prompt_tokens": total.prompt_tokens,
        "completion_tokens": total.completion_tokens,
        "total_tokens": total.total_tokens,
        "cost": num(total.cost),
        "by_model": [
            {
                "model": m or "(unnamed)",
                "calls": s.calls,
                "total_tokens": s.total_tokens,
                "cost": num(s.cost),
            }
            for m, s in sorted(total.by_model.items())
        ],
    }
