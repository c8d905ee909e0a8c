"""Batch runs: create, start, advance, resume, and tabulate.

A run keeps at most ``concurrency`` sessions going. Each session is an ordinary session (same
engine, protocols, Celery agent turns); when one finishes, ``on_session_finished`` records the
item's result and starts the next pending question. Every step is a transaction that locks the
run row, so parallel workers never start the same question twice, and a crashed worker loses
nothing: ``resume_run`` re-asks the protocol of every unfinished session for its pending turns.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from deliberation.agents.models import AgentProfile, AgentTurn
from deliberation.agents.services import requeue_turns
from deliberation.consensus import cost
from deliberation.debates import controls, engine, services
from deliberation.debates.answers import AnswerError, clean_answer
from deliberation.debates.models import DebateSession, Participant
from deliberation.debates.outcomes import session_outcome
from deliberation.protocols import base as p
from deliberation.protocols.registry import get_protocol

from .models import BatchItem, BatchRun
from .reliability import round_agreement
from .signals import batch_finished

MAX_QUESTIONS = 100_000
MAX_CONCURRENCY = 64


class BatchError(services.InvalidInput):
    """A question set or run configuration that cannot be used; ``problems`` lists each."""

    def __init__(self, message: str, problems: Sequence[str] = ()):
        super().__init__(message, "batch")
        self.problems = list(problems)


# --- question sets -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    question: str
    options: list[str] = field(default_factory=list)
    gold: Any = None
    passage: str = ""  # a judged debate's hidden source text


def parse_questions(data: bytes | str, filename: str, answer_format: str) -> list[Question]:
    """Read a question set: CSV (columns ``question``, ``options``, ``gold``, ``passage``) or JSONL.

    In CSV, options are separated by ``|``; in JSONL, ``options`` is a list. ``gold`` (also
    accepted as ``answer``) is optional, and so is ``passage``: a judged debate's source text,
    which the debaters see and quote and the judge does not. All or nothing: every bad row is
    reported with its line number and reason, and nothing is created while any row is bad.
    """
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    rows: list[tuple[int, dict[str, Any]]] = []
    problems: list[tuple[int, str]] = []
    if filename.lower().endswith((".jsonl", ".ndjson", ".json")):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                problems.append((number, f"not valid JSON ({exc.msg})"))
                continue
            if not isinstance(row, dict):
                problems.append((number, "expected a JSON object"))
                continue
            rows.append((number, row))
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "question" not in reader.fieldnames:
            raise BatchError("The CSV needs a header row with a 'question' column.")
        for row in reader:
            options = row.get("options") or ""
            rows.append(
                (
                    reader.line_num,
                    {
                        "question": row.get("question"),
                        "options": [o.strip() for o in options.split("|") if o.strip()],
                        "gold": row.get("gold") or row.get("answer") or None,
                        "passage": row.get("passage") or "",
                    },
                )
            )
    questions = []
    for number, row in rows:
        question = str(row.get("question") or "").strip()
        options = row.get("options") or []
        gold = row.get("gold", row.get("answer"))
        if not question:
            problems.append((number, "the question is empty"))
            continue
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            problems.append((number, "options must be a list of strings"))
            continue
        passage = row.get("passage") or ""
        if not isinstance(passage, str):
            problems.append((number, "the passage must be text"))
            continue
        if len(passage.strip()) > services.MAX_PASSAGE_CHARS:
            limit = services.MAX_PASSAGE_CHARS
            problems.append((number, f"the passage is over {limit} characters"))
            continue
        options = [o.strip() for o in options if o.strip()]
        if answer_format in services.CHOICE_FORMATS and len(options) < 2:
            problems.append((number, f"a {answer_format} question needs two options"))
            continue
        if gold not in (None, ""):
            try:
                gold = clean_answer(gold, answer_format, options)
            except AnswerError as exc:
                problems.append((number, f"gold answer {gold!r}: {exc}"))
                continue
        else:
            gold = None
        questions.append(Question(question, options, gold, passage.strip()))
    messages = [f"line {n}: {text}" for n, text in sorted(problems, key=lambda p: p[0])]
    if not messages and not questions:
        messages.append("the file holds no questions")
    if len(questions) > MAX_QUESTIONS:
        messages.append(f"at most {MAX_QUESTIONS} questions per run")
    if messages:
        raise BatchError(
            f"{len(messages)} problem{'s' if len(messages) != 1 else ''} in the question set; "
            "nothing was imported.",
            messages,
        )
    return questions


# --- runs --------------------------------------------------------------------------------------
def create_run(
    *,
    user,
    name: str,
    questions: Sequence[Question],
    protocol: str,
    agents: Sequence[AgentProfile],
    judge: AgentProfile | None = None,
    protocol_settings: dict[str, Any] | None = None,
    answer_format: str = "single_choice",
    tolerance: float = 0.0,
    concurrency: int = 4,
) -> BatchRun:
    try:
        proto = get_protocol(protocol)
        cleaned = proto.clean_settings(protocol_settings)
    except (KeyError, p.SettingsError) as exc:
        raise BatchError(str(exc).strip("'\"")) from exc
    if len(agents) < 1:
        raise BatchError("Choose at least one agent.")
    if proto.debater_count and len(agents) != proto.debater_count:
        raise BatchError(f"{proto.title} needs exactly {proto.debater_count} debating agents.")
    if proto.needs_judge and judge is None:
        raise BatchError(f"{proto.title} needs a judge agent.")
    if not 1 <= int(concurrency) <= MAX_CONCURRENCY:
        raise BatchError(f"Concurrency must be between 1 and {MAX_CONCURRENCY}.")
    with transaction.atomic():
        run = BatchRun.objects.create(
            name=name.strip()[:200] or "Batch run",
            protocol=protocol,
            protocol_settings=cleaned,
            answer_format=answer_format,
            tolerance=tolerance,
            agent_ids=[a.pk for a in agents],
            judge_id=judge.pk if judge else None,
            concurrency=int(concurrency),
            created_by=user,
        )
        BatchItem.objects.bulk_create(
            BatchItem(
                run=run,
                index=i,
                question=q.question,
                options=q.options,
                gold=q.gold,
                passage=q.passage,
            )
            for i, q in enumerate(questions)
        )
    return run


def start_run(run: BatchRun) -> BatchRun:
    with transaction.atomic():
        run = BatchRun.objects.select_for_update().get(pk=run.pk)
        if run.status == BatchRun.Status.PENDING:
            run.status, run.started_at = BatchRun.Status.RUNNING, timezone.now()
            run.save(update_fields=["status", "started_at"])
    fill(run.pk)
    return run


def fill(run_id: int) -> int:
    """Start pending questions until ``concurrency`` sessions run; returns how many started."""
    started = 0
    while True:
        with transaction.atomic():
            run = BatchRun.objects.select_for_update().get(pk=run_id)
            if run.status != BatchRun.Status.RUNNING:
                return started
            running = run.items.filter(status=BatchItem.Status.RUNNING).count()
            item = (
                run.items.filter(status=BatchItem.Status.PENDING).order_by("index").first()
                if running < run.concurrency
                else None
            )
            if item is None:
                if running == 0:
                    run.status, run.finished_at = BatchRun.Status.FINISHED, timezone.now()
                    run.save(update_fields=["status", "finished_at"])
                    transaction.on_commit(
                        lambda: batch_finished.send(sender=BatchRun, id=run_id), robust=True
                    )
                return started
            _start_item(run, item)
            started += 1


def _start_item(run: BatchRun, item: BatchItem) -> None:
    profiles = {a.pk: a for a in AgentProfile.objects.filter(pk__in=run.agent_ids)}
    judge = AgentProfile.objects.filter(pk=run.judge_id).first() if run.judge_id else None
    session = services.create_session(
        moderator=run.created_by,
        title=f"{run.name} #{item.index + 1}",
        question=item.question,
        answer_format=run.answer_format,
        options=item.options,
        tolerance=run.tolerance,
        gold_answer=item.gold,
        protocol=run.protocol,
        protocol_settings=run.protocol_settings,
        agent_profiles=[profiles[i] for i in run.agent_ids],
        judge_profile=judge,
        passage=item.passage,
    )
    item.session, item.status = session, BatchItem.Status.RUNNING
    item.save(update_fields=["session", "status"])
    moderator = session.participants.get(role=Participant.Role.MODERATOR)
    try:
        controls.control(moderator, "start")
    except services.ServiceError as exc:
        item.status, item.error = BatchItem.Status.FAILED, exc.message
        item.save(update_fields=["status", "error"])


def on_session_finished(session_id: int) -> None:
    """Record a finished question's result and start the next one (signal receiver)."""
    item = BatchItem.objects.filter(session_id=session_id).select_related("session").first()
    if item is None:
        return
    with transaction.atomic():
        item = (
            BatchItem.objects.select_for_update(of=("self",))
            .select_related("session")
            .get(pk=item.pk)
        )
        if item.status != BatchItem.Status.RUNNING:
            return
        item.result = item_result(item.session)
        item.status = BatchItem.Status.DONE
        item.save(update_fields=["result", "status"])
    fill(item.run_id)


def resume_run(run: BatchRun) -> dict[str, int]:
    """Pick a run up after a crash: nothing finished is redone, nothing open is lost.

    Agent turns whose worker died (running with an expired lease) go back to the queue; each
    unfinished session's protocol is asked again for its pending turns (which re-enqueues any
    queued turn whose task was lost); then pending questions start up to the concurrency.
    """
    now = timezone.now()
    requeued = AgentTurn.objects.filter(
        session__batch_item__run=run, status=AgentTurn.Status.RUNNING, lease_until__lt=now
    ).update(status=AgentTurn.Status.QUEUED, lease_until=None)
    resumed = 0
    for item in run.items.filter(status=BatchItem.Status.RUNNING).exclude(session=None):
        with transaction.atomic():
            session = DebateSession.objects.select_for_update().get(pk=item.session_id)
            if session.status == DebateSession.Status.FINISHED:
                transaction.on_commit(lambda sid=session.pk: on_session_finished(sid))
                continue
            if session.status == DebateSession.Status.RUNNING:
                engine.dispatch(session, p.Resumed())
                requeue_turns(session)
                resumed += 1
    with transaction.atomic():
        run = BatchRun.objects.select_for_update().get(pk=run.pk)
        if run.status in (BatchRun.Status.PENDING, BatchRun.Status.FINISHED) and (
            run.items.exclude(status=BatchItem.Status.DONE).exists()
        ):
            run.status = BatchRun.Status.RUNNING
            run.save(update_fields=["status"])
    started = fill(run.pk)
    return {"requeued_turns": requeued, "resumed_sessions": resumed, "started": started}


# --- results -----------------------------------------------------------------------------------
def item_result(session: DebateSession) -> dict[str, Any]:
    """Correctness per round per debater position and per rule, tokens and cost (JSON)."""
    from deliberation.debates.answers import is_correct

    outcome = session_outcome(session)
    positions = dict(
        session.participants.filter(role=Participant.Role.DEBATER).values_list("pk", "position")
    )
    gold = session.gold_answer
    rounds: dict[str, dict[str, bool | None]] = {}
    for number, answers in outcome.rounds.items():
        rounds[str(number)] = {
            str(positions[pid]): (
                is_correct(answer, gold, session.answer_format, session.tolerance)
                if gold is not None
                else None
            )
            for pid, answer in answers.items()
            if pid in positions
        }
    usage = session.agent_turns.aggregate(
        prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"), cost=Sum("cost_usd")
    )
    # Cost-of-pass inputs: each debater position's own cost (all its turns, and its round-1
    # turns: the model answering alone), the round-1 cost of the whole session (what the
    # vote-only baseline needs), and whether every agent had prices (else the cost is unknown).
    costs: dict[tuple[int, bool], Decimal] = defaultdict(Decimal)
    for pid, number, c in session.agent_turns.values_list(
        "participant_id", "round__number", "cost_usd"
    ):
        costs[(pid, number == 1)] += c or Decimal(0)
    agents = list(session.participants.exclude(agent_profile=None).select_related("agent_profile"))
    round_answers = {
        str(number): {
            str(positions[pid]): answer for pid, answer in answers.items() if pid in positions
        }
        for number, answers in outcome.rounds.items()
    }
    # Private opinions (DEBATE benchmark; agents report theirs with ``agent_opinions``): per
    # round and debater position, the private answer, beside the public one above. The last
    # round's agent opinions may still be pending when the session finishes ("private_pending"
    # counts them; ``refresh_results(run, only_missing=False)`` records them later).
    private_answers: dict[str, dict[str, Any]] = {}
    for number, pid, answer in session.opinions.values_list(
        "round__number", "participant_id", "answer"
    ):
        if pid in positions and answer is not None:
            private_answers.setdefault(str(number), {})[str(positions[pid])] = answer
    return {
        "rounds": rounds,
        "round_answers": round_answers,
        "private_answers": private_answers,
        "private_pending": session.opinion_requests.filter(
            status__in=("queued", "running")
        ).count(),
        "rules": {name: r.correct for name, r in outcome.rules.items()},
        "answers": {name: r.answer for name, r in outcome.rules.items()},
        "ties": {name: bool(r.tied) for name, r in outcome.rules.items()},
        "tie_break": outcome.tie_break,
        "tie_seed": outcome.tie_seed,
        "default_rule": outcome.default_rule,
        "prompt_tokens": usage["prompt"] or 0,
        "completion_tokens": usage["completion"] or 0,
        "cost_usd": str(usage["cost"] or Decimal(0)),
        "positions": {
            str(a.position): {
                "profile": a.agent_profile_id,
                "cost_usd": str(costs[(a.pk, True)] + costs[(a.pk, False)]),
                "round1_cost_usd": str(costs[(a.pk, True)]),
                "priced": is_priced(a.agent_profile),
            }
            for a in agents
            if a.role == Participant.Role.DEBATER
        },
        "round1_cost_usd": str(sum((c for (_, r1), c in costs.items() if r1), Decimal(0))),
        "priced": all(is_priced(a.agent_profile) for a in agents),
    }


def is_priced(profile: AgentProfile) -> bool:
    """A profile has prices when either per-million-token price is set (the fields default to
    0, which reads as "no price": its cost-of-pass is unknown, never 0)."""
    return bool(profile.prompt_price_per_mtok or profile.completion_price_per_mtok)


def refresh_results(run: BatchRun, *, only_missing: bool = True) -> int:
    """Recompute the stored result of finished questions from their stored sessions (results
    stored before cost-of-pass lack per-position costs); returns how many were rewritten."""
    n = 0
    for item in run.items.filter(status=BatchItem.Status.DONE).exclude(session=None):
        if only_missing and item.result and "positions" in item.result:
            continue
        with transaction.atomic():
            item.result = item_result(item.session)
            item.save(update_fields=["result"])
        n += 1
    return n


@dataclass
class RunTable:
    """Accuracy per round for each participant and for each rule, with usage totals."""

    participants: list[str]
    rounds: list[int]
    per_participant: dict[str, dict[int, float | None]]  # name -> round -> accuracy
    per_rule: dict[str, float | None]  # rule -> accuracy of its final answer
    per_rule_ties: dict[str, float | None]  # rule -> share of sessions with a tie for first
    tie_break: str  # the tie rule the sessions recorded ("mixed" if they differ)
    done: int
    total: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    default_rule: str
    cost_of_pass: CostOfPassTable | None = None
    # round -> Krippendorff's alpha / Fleiss' kappa over the questions (batches.reliability)
    agreement: dict[int, dict[str, Any]] = field(default_factory=dict)

    def rows(self) -> list[list[str]]:
        """The table as text rows (header first), for the terminal and CSV."""
        header = ["who", *[f"round {n}" for n in self.rounds], "final", "ties"]
        out = [header]
        for name in self.participants:
            accs = self.per_participant.get(name, {})
            out.append([name, *[_pct(accs.get(n)) for n in self.rounds], "", ""])
        for rule, acc in self.per_rule.items():
            label = f"rule: {rule}" + (" (default)" if rule == self.default_rule else "")
            ties = _pct(self.per_rule_ties.get(rule))
            out.append([label, *["" for _ in self.rounds], _pct(acc), ties])
        for name, key in (
            ("agreement: Krippendorff's alpha", "alpha"),
            ("agreement: Fleiss' kappa", "kappa"),
        ):
            cells = [_num(self.agreement.get(n, {}).get(key)) for n in self.rounds]
            if any(cells):
                out.append([name, *cells, "", ""])
        return out


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


# --- cost of pass ------------------------------------------------------------------------------
@dataclass
class CostOfPassRow:
    """Cost-of-pass of one agent profile (its round-1 answers, alone) or one final-answer rule.

    ``state``: ``ok`` (the values are known; ``inf`` when never correct), ``no_price`` (an agent
    has no prices: unknown, never 0), ``no_data`` (results stored before per-position costs:
    ``run_batch --resume ID --refresh-results`` recomputes them), ``no_gold``.
    """

    who: str
    kind: str  # "profile" or "rule"
    questions: int  # questions with a gold answer
    attempts: int  # a profile in two positions makes two attempts per question
    successes: int
    mean_cost_usd: float | None  # mean cost of one attempt
    cost_of_pass: float | None  # Erol et al.: mean over questions of v = C(p) / R(p)
    cost_per_correct: float | None  # pooled: total cost / successes (a ratio of means)
    state: str

    @property
    def accuracy(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None


@dataclass
class CostOfPassTable:
    profiles: list[CostOfPassRow]
    rules: list[CostOfPassRow]
    # The LM frontier over the priced profiles: mean over questions of the cheapest profile's
    # v(m, p) on that question (no human-expert baseline); None when no profile is priced.
    frontier: float | None
    frontier_wins: dict[str, int]  # profile -> questions where it is the cheapest
    unsolved: int  # questions no priced profile answered right (they make the frontier inf)
    cheapest: str | None  # the profile with the lowest cost of pass (then cost per correct)
    excluded: list[str]  # profiles left out of the frontier (unknown cost)
    # The same frontier with the final-answer rules as further "models" (as the paper adds
    # inference-time techniques such as majority voting to the set).
    frontier_with_rules: float | None
    frontier_with_rules_wins: dict[str, int]

    def rows(self) -> list[list[str]]:
        out = [["who", "questions", "accuracy", "mean cost", "cost of pass", "cost per correct"]]
        for r in [*self.profiles, *self.rules]:
            out.append(
                [
                    r.who,
                    str(r.questions),
                    _pct(r.accuracy) if r.state != "no_gold" else "",
                    _usd(r.mean_cost_usd, r.state),
                    _usd(r.cost_of_pass, r.state),
                    _usd(r.cost_per_correct, r.state),
                ]
            )
        out.append(["frontier (profiles)", "", "", "", _usd(self.frontier, "ok"), ""])
        if self.rules:
            label = "frontier (profiles and rules)"
            out.append([label, "", "", "", _usd(self.frontier_with_rules, "ok"), ""])
        return out


def _usd(value: float | None, state: str) -> str:
    if state != "ok" or value is None:
        return {"no_price": "unknown (no price)", "no_data": "unknown (old result)"}.get(state, "")
    return "inf" if math.isinf(value) else f"${value:.6f}"


def _cost_of_pass_table(
    run: BatchRun, results: list[dict[str, Any]], names: dict[int, str], default_rule: str
) -> CostOfPassTable:
    """Cost-of-pass per profile and per rule over the questions with a gold answer."""
    graded = [r for r in results if any(v is not None for v in r["rules"].values())]
    legacy = any("positions" not in r for r in graded)
    # profile -> one v(m, p) per question; and the totals for the pooled ratio
    profiles: list[CostOfPassRow] = []
    per_problem: dict[str, list[float]] = {}
    for agent_id in dict.fromkeys(run.agent_ids):
        who = names.get(agent_id, str(agent_id))
        positions = [str(i) for i, a in enumerate(run.agent_ids, start=1) if a == agent_id]
        values, costs, hits, priced = [], [], [], True
        for r in graded if not legacy else []:
            c = [float(r["positions"].get(k, {}).get("round1_cost_usd", 0)) for k in positions]
            ok = [bool(r["rounds"].get("1", {}).get(k)) for k in positions]
            priced &= all(r["positions"].get(k, {}).get("priced", False) for k in positions)
            values.append(cost.problem_cost_of_pass(c, ok))
            costs += c
            hits += ok
        state = _state(graded, legacy, priced)
        profiles.append(_row(who, "profile", len(graded), values, costs, hits, state))
        if state == "ok":
            per_problem[who] = values
    rules: list[CostOfPassRow] = []
    rule_values: dict[str, list[float]] = {}
    for rule in sorted({k for r in graded for k in r["rules"]}, key=_rule_order):
        label = f"rule: {rule}" + (" (default)" if rule == default_rule else "")
        values, costs, hits, priced = [], [], [], True
        for r in graded:
            key = "round1_cost_usd" if rule == "vote_only" and not legacy else "cost_usd"
            c, ok = float(r[key]), bool(r["rules"].get(rule))
            priced &= bool(r.get("priced", False))
            values.append(cost.problem_cost_of_pass([c], [ok]))
            costs.append(c)
            hits.append(ok)
        state = _state(graded, legacy, priced)
        rules.append(_row(label, "rule", len(graded), values, costs, hits, state))
        if state == "ok":
            rule_values[label] = values
    frontier = cost.frontier_cost_of_pass(per_problem) if per_problem else None
    both = {**per_problem, **rule_values}
    with_rules = cost.frontier_cost_of_pass(both) if both and rule_values else None
    known = [r for r in profiles if r.state == "ok"]
    cheapest = min(known, key=lambda r: (r.cost_of_pass, r.cost_per_correct), default=None)
    return CostOfPassTable(
        profiles=profiles,
        rules=rules,
        frontier=frontier.value if frontier else None,
        frontier_wins=frontier.wins if frontier else {},
        unsolved=sum(not b for b in frontier.best) if frontier else 0,
        cheapest=cheapest.who if cheapest else None,
        excluded=[r.who for r in profiles if r.state != "ok"],
        frontier_with_rules=with_rules.value if with_rules else None,
        frontier_with_rules_wins=with_rules.wins if with_rules else {},
    )


def _state(graded: list[dict[str, Any]], legacy: bool, priced: bool) -> str:
    if not graded:
        return "no_gold"
    if legacy:
        return "no_data"
    return "ok" if priced else "no_price"


def _row(
    who: str,
    kind: str,
    questions: int,
    values: list[float],
    costs: list[float],
    hits: list[bool],
    state: str,
) -> CostOfPassRow:
    known = state == "ok"
    return CostOfPassRow(
        who=who,
        kind=kind,
        questions=questions,
        attempts=len(hits),
        successes=sum(hits),
        mean_cost_usd=math.fsum(costs) / len(costs) if known and costs else None,
        cost_of_pass=cost.task_cost_of_pass(values) if known and values else None,
        cost_per_correct=cost.cost_of_pass(math.fsum(costs), sum(hits)) if known else None,
        state=state,
    )


def run_table(run: BatchRun) -> RunTable:
    profiles = {a.pk: a.name for a in AgentProfile.objects.filter(pk__in=run.agent_ids)}
    names = []
    for position, agent_id in enumerate(run.agent_ids, start=1):
        names.append(f"{position}. {profiles.get(agent_id, agent_id)}")
    correct: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    rule_correct: dict[str, int] = defaultdict(int)
    rule_ties: dict[str, int] = defaultdict(int)
    tie_rules: set[str] = set()
    rounds: set[int] = set()
    done = 0
    tokens_in = tokens_out = 0
    total_cost = Decimal(0)
    default_rule = get_protocol(run.protocol).final_rule
    results = []
    for result in run.items.filter(status=BatchItem.Status.DONE).values_list("result", flat=True):
        if not result:
            continue
        results.append(result)
        done += 1
        for number, by_position in result["rounds"].items():
            rounds.add(int(number))
            for position, ok in by_position.items():
                if ok:
                    correct[names[int(position) - 1]][int(number)] += 1
        for rule, ok in result["rules"].items():
            rule_correct.setdefault(rule, 0)
            if ok:
                rule_correct[rule] += 1
        for rule, tie in result.get("ties", {}).items():
            rule_ties[rule] += bool(tie)
        # Results stored before the tie rule was recorded counted a tie as no answer.
        tie_rules.add(result.get("tie_break", "none"))
        tokens_in += result["prompt_tokens"]
        tokens_out += result["completion_tokens"]
        total_cost += Decimal(result["cost_usd"])
        default_rule = result.get("default_rule", default_rule)
    has_gold = run.items.filter(gold__isnull=False).exists()
    ordered_rounds = sorted(rounds)
    counts = run.items.aggregate(
        total=Count("id"), failed=Count("id", filter=Q(status=BatchItem.Status.FAILED))
    )
    return RunTable(
        participants=names,
        rounds=ordered_rounds,
        per_participant={
            name: {
                n: (correct[name][n] / done if done and has_gold else None) for n in ordered_rounds
            }
            for name in names
        },
        per_rule={
            rule: (hits / done if done and has_gold else None)
            for rule, hits in sorted(rule_correct.items(), key=lambda kv: _rule_order(kv[0]))
        },
        per_rule_ties={rule: (rule_ties[rule] / done if done else None) for rule in rule_correct},
        tie_break=tie_rules.pop() if len(tie_rules) == 1 else ("mixed" if tie_rules else ""),
        done=done,
        total=counts["total"],
        failed=counts["failed"],
        prompt_tokens=tokens_in,
        completion_tokens=tokens_out,
        cost_usd=total_cost,
        default_rule=default_rule,
        cost_of_pass=_cost_of_pass_table(run, results, profiles, default_rule),
        agreement=round_agreement(
            results, list(range(1, len(names) + 1)), run.answer_format == "numeric"
        ),
    )


def _rule_order(rule: str) -> int:
    order = ["vote_only", "plurality", "confidence_weighted", "judge"]
    return order.index(rule) if rule in order else len(order)


def progress(run: BatchRun) -> dict[str, int]:
    counts = dict(
        run.items.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    total = sum(counts.values())
    finished = counts.get(BatchItem.Status.DONE, 0) + counts.get(BatchItem.Status.FAILED, 0)
    return {
        "total": total,
        "done": counts.get(BatchItem.Status.DONE, 0),
        "failed": counts.get(BatchItem.Status.FAILED, 0),
        "running": counts.get(BatchItem.Status.RUNNING, 0),
        "pending": counts.get(BatchItem.Status.PENDING, 0),
        "percent": round(100 * finished / total) if total else 0,
    }


def resolve_profiles(specs: Iterable[str]) -> list[AgentProfile]:
    """Agent profiles by id or exact name; ``sim:accuracy=0.6,conformity=0.5`` makes (or
    reuses) a simulated profile with that behaviour, named after the spec."""
    profiles = []
    for spec in specs:
        spec = spec.strip()
        if spec.startswith("sim:"):
            profiles.append(_simulated_profile(spec))
            continue
        if spec.isascii() and spec.isdigit():  # "¹" is a digit to isdigit(), not to int()
            # An id past the column's range names no profile (and must not reach the query).
            profile = (
                AgentProfile.objects.filter(pk=int(spec)).first() if int(spec) < 2**31 else None
            )
        else:
            profile = AgentProfile.objects.filter(name=spec).first()
        if profile is None:
            raise BatchError(f"No agent profile {spec!r}.")
        profiles.append(profile)
    return profiles


def _simulated_profile(spec: str) -> AgentProfile:
    params: dict[str, Any] = {}
    for part in filter(None, spec[4:].split(",")):
        key, _, value = part.partition("=")
        key = key.strip()
        try:
            params[key] = json.loads(value) if value else True
        except ValueError:
            params[key] = value
    seed = params.pop("seed", 0)
    try:
        from deliberation.agents.backends.simulated import SimulatedBackend

        SimulatedBackend(token_delay=0, **params)
    except (TypeError, ValueError) as exc:
        raise BatchError(f"{spec}: {exc}") from None
    name = "sim:" + ",".join([*(f"{k}={v}" for k, v in sorted(params.items())), f"seed={seed}"])
    params["token_delay"] = 0
    profile, _ = AgentProfile.objects.get_or_create(
        name=name[:100],
        defaults={
            "backend": "simulated",
            "model": "simulated-1",
            "seed": int(seed),
            "parameters": {"simulated": params},
        },
    )
    return profile
