"""Import of JSONL session exports: all or nothing per file, with errors by line.

Every line is read and checked first (JSON, format and version, required fields, references to
participants, rounds and posts); nothing is written unless every line is sound. Then each
session is recreated in one transaction with its exported timestamps (``auto_now_add`` fields
are set back after the insert). People missing from this database are created as inactive
accounts without a usable password; agent profiles are matched by name, or created from the
exported configuration. Metrics are not imported: they are recomputed from the stored rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.utils.dateparse import parse_datetime

from deliberation.agents.models import AgentProfile, AgentTurn
from deliberation.debates.models import (
    DebateSession,
    Opinion,
    Participant,
    Post,
    Round,
    TurnDeadline,
)
from deliberation.moderation.models import Adjudication, AdjudicationRevision
from deliberation.protocols.registry import PROTOCOLS

from . import refs
from .exporting import FORMAT, VERSION, agent_profile


class ImportProblem(ValueError):
    """What is wrong with one line."""


@dataclass
class ImportedSession:
    line: int
    session_id: int
    title: str
    posts: int


@dataclass
class ImportReport:
    sessions: list[ImportedSession] = field(default_factory=list)
    users_created: list[str] = field(default_factory=list)
    profiles_created: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "line N: reason"; nothing was written

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if not self.ok:
            return "Nothing imported:\n" + "\n".join(self.errors)
        lines = [
            f"line {s.line}: session {s.session_id} {s.title!r} ({s.posts} posts)"
            for s in self.sessions
        ]
        lines.append(
            f"Imported {len(self.sessions)} session(s); created {len(self.users_created)} "
            f"user(s) and {len(self.profiles_created)} agent profile(s)."
        )
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def import_jsonl(lines: Iterable[str | bytes]) -> ImportReport:
    """Recreate every session of a JSONL export, or none (see the module docstring)."""
    report = ImportReport()
    documents: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            line = line.decode("utf-8")
        if not line.strip():
            continue
        try:
            documents.append((number, check_document(json.loads(line))))
        except json.JSONDecodeError as exc:
            report.errors.append(f"line {number}: not valid JSON ({exc.msg}, column {exc.colno})")
        except ImportProblem as exc:
            report.errors.append(f"line {number}: {exc}")
    if report.errors:
        return report
    try:
        with transaction.atomic():
            for number, document in documents:
                try:
                    with transaction.atomic():
                        report.sessions.append(_create(number, document, report))
                except (DatabaseError, ImportProblem, ValueError, TypeError) as exc:
                    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    report.errors.append(f"line {number}: {reason}")
            if report.errors:
                raise _RollBack
    except _RollBack:
        report.sessions, report.users_created, report.profiles_created = [], [], []
    return report


class _RollBack(Exception):
    pass


# --- checking ----------------------------------------------------------------------------------
SECTIONS = {
    "session": dict,
    "participants": list,
    "rounds": list,
    "posts": list,
    "opinions": list,
    "agent_turns": list,
    "deadlines": list,
}


def check_document(doc: Any) -> dict[str, Any]:
    """Raise :class:`ImportProblem` unless ``doc`` is a sound version-1 session document."""
    if not isinstance(doc, dict):
        raise ImportProblem("expected a JSON object")
    if doc.get("format") != FORMAT:
        raise ImportProblem(f"format is {doc.get('format')!r}, expected {FORMAT!r}")
    if doc.get("version") != VERSION:
        raise ImportProblem(f"version {doc.get('version')!r} is not supported (only {VERSION})")
    for name, kind in SECTIONS.items():
        if not isinstance(doc.get(name), kind):
            raise ImportProblem(f"{name!r} is missing or not a {kind.__name__}")
    s = doc["session"]
    for name in ("title", "question", "answer_format", "status", "protocol", "created_by"):
        if not isinstance(s.get(name), str):
            raise ImportProblem(f"session.{name} is missing or not text")
    if not isinstance(s.get("passage") or "", str):
        raise ImportProblem("session.passage is not text")
    choices = {
        "answer_format": DebateSession.AnswerFormat.values,
        "status": DebateSession.Status.values,
        "protocol": list(PROTOCOLS),
    }
    for name, allowed in choices.items():
        if s[name] not in allowed:
            raise ImportProblem(f"session.{name} {s[name]!r} is not one of {', '.join(allowed)}")
    keys: set[str] = set()
    for i, pt in enumerate(doc["participants"]):
        where = f"participant {i}"
        if not isinstance(pt, dict) or not isinstance(pt.get("key"), str):
            raise ImportProblem(f"{where} has no key")
        if pt["key"] in keys:
            raise ImportProblem(f"participant key {pt['key']!r} appears twice")
        keys.add(pt["key"])
        if pt.get("kind") == "human" and not isinstance(pt.get("username"), str):
            raise ImportProblem(f"{where} ({pt['key']}) is a person without a username")
        if pt.get("kind") == "agent" and not isinstance((pt.get("agent") or {}).get("name"), str):
            raise ImportProblem(f"{where} ({pt['key']}) is an agent without a profile name")
        if pt.get("kind") not in ("human", "agent"):
            raise ImportProblem(f"{where} has an unknown kind {pt.get('kind')!r}")
        if pt.get("role") not in Participant.Role.values:
            raise ImportProblem(f"{where} ({pt['key']}) has an unknown role {pt.get('role')!r}")
    rounds = _unique([r.get("number") for r in _dicts(doc["rounds"], "rounds")], "round")
    seqs = _unique([p.get("seq") for p in _dicts(doc["posts"], "posts")], "post seq")

    def participant(value: Any, where: str, optional: bool = True) -> None:
        if value is None and optional:
            return
        if value not in keys:
            raise ImportProblem(f"{where} names an unknown participant {value!r}")

    def round_(value: Any, where: str, optional: bool = False) -> None:
        if value is None and optional:
            return
        if value not in rounds:
            raise ImportProblem(f"{where} names an unknown round {value!r}")

    def post(value: Any, where: str) -> None:
        if value is not None and value not in seqs:
            raise ImportProblem(f"{where} cites an unknown post #{value}")

    for p in doc["posts"]:
        where = f"post #{p['seq']}"
        round_(p.get("round"), where, optional=True)
        participant(p.get("author"), where)
        participant(p.get("target"), where)
        if not isinstance(p.get("text"), str):
            raise ImportProblem(f"{where} has no text")
        if p.get("kind") not in Post.Kind.values:
            raise ImportProblem(f"{where} has an unknown kind {p.get('kind')!r}")
    for o in _dicts(doc["opinions"], "opinions"):
        round_(o.get("round"), "an opinion")
        participant(o.get("participant"), "an opinion", optional=False)
    for t in _dicts(doc["agent_turns"], "agent_turns"):
        where = f"agent turn {t.get('key')}"
        round_(t.get("round"), where)
        participant(t.get("participant"), where, optional=False)
        participant(t.get("target"), where)
        post(t.get("post"), where)
    for d in _dicts(doc["deadlines"], "deadlines"):
        round_(d.get("round"), "a deadline")
        participant(d.get("participant"), "a deadline", optional=False)
        participant(d.get("target"), "a deadline")
    adjudication = doc.get("adjudication")
    if adjudication is not None:
        if not isinstance(adjudication, dict) or not isinstance(
            adjudication.get("revisions"), list
        ):
            raise ImportProblem("adjudication has no list of revisions")
        for r in _dicts(adjudication["revisions"], "adjudication revisions"):
            if not isinstance(r.get("decided_by"), str):
                raise ImportProblem(f"revision {r.get('number')} has no decided_by username")
            for seq in r.get("posts") or []:
                post(seq, f"revision {r.get('number')}")
    return doc


def _dicts(items: list, name: str) -> list[dict]:
    if not all(isinstance(item, dict) for item in items):
        raise ImportProblem(f"every item of {name!r} must be an object")
    return items


def _unique(values: list, what: str) -> set:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ImportProblem(f"every {what} number must be an integer")
    if len(set(values)) != len(values):
        raise ImportProblem(f"a {what} number appears twice")
    return set(values)


# --- writing -----------------------------------------------------------------------------------
def when(value: Any):
    if value is None:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise ImportProblem(f"{value!r} is not an ISO date and time")
    return parsed


def decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ImportProblem(f"{value!r} is not a decimal number") from None


class _Users:
    def __init__(self, report: ImportReport):
        self.report, self.cache = report, {}

    def get(self, username: str | None):
        if username is None:
            return None
        if username not in self.cache:
            model = get_user_model()
            user = model.objects.filter(**{model.USERNAME_FIELD: username}).first()
            if user is None:
                user = model(**{model.USERNAME_FIELD: username}, is_active=False)
                user.set_unusable_password()
                user.save()
                self.report.users_created.append(username)
            self.cache[username] = user
        return self.cache[username]


def _profile(config: dict[str, Any], report: ImportReport) -> AgentProfile:
    profile = AgentProfile.objects.filter(name=config["name"]).first()
    if profile is not None:
        if agent_profile(profile) != config:
            report.warnings.append(
                f"agent profile {profile.name!r} exists with another configuration; kept as is"
            )
        return profile
    fields = {k: v for k, v in config.items() if k not in ("name",)}
    for name in ("prompt_price_per_mtok", "completion_price_per_mtok"):
        if name in fields:
            fields[name] = decimal(fields[name])
    profile = AgentProfile(name=config["name"], **fields)
    profile.full_clean(validate_unique=False)  # e.g. an api_key_env that is not a variable name
    profile.save()
    report.profiles_created.append(profile.name)
    return profile


def _restore(objects: list, *names: str, values: list[dict[str, Any]]) -> None:
    """Set exported timestamps back after ``bulk_create`` (whose ``auto_now_add`` overrode them)."""
    for obj, value in zip(objects, values, strict=True):
        for name in names:
            setattr(obj, name, when(value.get(name)))
    if objects:
        type(objects[0]).objects.bulk_update(objects, list(names))


def _create(number: int, doc: dict[str, Any], report: ImportReport) -> ImportedSession:
    users = _Users(report)
    s = doc["session"]
    protocol = s["protocol"]
    session = DebateSession.objects.create(
        title=s["title"],
        question=s["question"],
        answer_format=s["answer_format"],
        options=s.get("options") or [],
        tolerance=s.get("tolerance") or 0.0,
        gold_answer=s.get("gold_answer"),
        passage=s.get("passage") or "",
        status=s["status"],
        protocol=protocol,
        protocol_settings={},
        join_role=s.get("join_role") or DebateSession.JoinRole.DEBATER,
        created_by=users.get(s["created_by"]),
        started_at=when(s.get("started_at")),
        finished_at=when(s.get("finished_at")),
        finish_reason=s.get("finish_reason") or "",
    )

    # Participants, in their exported order (so new ids keep it).
    participants = []
    for pt in doc["participants"]:
        human = pt["kind"] == Participant.Kind.HUMAN
        participants.append(
            Participant(
                session=session,
                kind=pt["kind"],
                user=users.get(pt["username"]) if human else None,
                agent_profile=None if human else _profile(pt["agent"], report),
                role=pt.get("role") or Participant.Role.DEBATER,
                display_name=pt.get("display_name") or "",
                position=pt.get("position") or 0,
                side=pt.get("side") or "",
            )
        )
    Participant.objects.bulk_create(participants)
    _restore(participants, "joined_at", values=doc["participants"])
    by_key = {pt["key"]: obj for pt, obj in zip(doc["participants"], participants, strict=True)}

    def pid(key: Any) -> int | None:
        if key is None:
            return None
        if not isinstance(key, str) or key not in by_key:
            raise ImportProblem(f"unknown participant reference {key!r}")
        return by_key[key].pk

    def pobj(key: Any) -> Participant | None:
        return by_key[key] if key is not None else None

    DebateSession.objects.filter(pk=session.pk).update(
        created_at=when(s.get("created_at")),
        protocol_settings=refs.map_settings(protocol, s.get("protocol_settings") or {}, pid),
    )

    rounds = [
        Round(
            session=session,
            number=r["number"],
            phase=r.get("phase") or "",
            status=r.get("status") or Round.Status.CLOSED,
            closed_at=when(r.get("closed_at")),
        )
        for r in doc["rounds"]
    ]
    Round.objects.bulk_create(rounds)
    _restore(rounds, "opened_at", values=doc["rounds"])
    by_round = {r.number: r for r in rounds}

    posts = [
        Post(
            session=session,
            seq=p["seq"],
            round=by_round.get(p.get("round")),
            author=pobj(p.get("author")),
            kind=p.get("kind") or Post.Kind.ARGUMENT,
            target=pobj(p.get("target")),
            text=p["text"],
            answer=p.get("answer"),
            confidence=p.get("confidence"),
            parse_status=p.get("parse_status") or "",
            data=refs.map_post_data(protocol, p.get("kind"), p.get("data") or {}, pid),
            client_msg_id=p.get("client_msg_id"),
        )
        for p in doc["posts"]
    ]
    Post.objects.bulk_create(posts)
    _restore(posts, "created_at", values=doc["posts"])
    by_seq = {p.seq: p for p in posts}

    opinions = [
        Opinion(
            session=session,
            round=by_round[o["round"]],
            participant=pobj(o["participant"]),
            answer=o.get("answer"),
            confidence=o.get("confidence"),
            note=o.get("note") or "",
        )
        for o in doc["opinions"]
    ]
    Opinion.objects.bulk_create(opinions)
    _restore(opinions, "created_at", "updated_at", values=doc["opinions"])

    turns = []
    for t in doc["agent_turns"]:
        target = pobj(t.get("target"))
        turns.append(
            AgentTurn(
                session=session,
                round=by_round[t["round"]],
                participant=pobj(t["participant"]),
                target=target,
                step=target.pk if target else 0,
                status=t.get("status") or AgentTurn.Status.DONE,
                attempts=t.get("attempts") or 0,
                lease_until=when(t.get("lease_until")),
                backend=t.get("backend") or "",
                model=t.get("model") or "",
                parameters=t.get("parameters") or {},
                prompt=t.get("prompt") or [],
                reply=t.get("reply") or "",
                repair_reply=t.get("repair_reply") or "",
                parse_status=t.get("parse_status") or "",
                prompt_tokens=t.get("prompt_tokens"),
                completion_tokens=t.get("completion_tokens"),
                latency_ms=t.get("latency_ms"),
                cost_usd=decimal(t.get("cost_usd")),
                error=t.get("error") or "",
                post=by_seq.get(t.get("post")),
                started_at=when(t.get("started_at")),
                finished_at=when(t.get("finished_at")),
            )
        )
    AgentTurn.objects.bulk_create(turns)
    _restore(turns, "created_at", values=doc["agent_turns"])
    turn_ids = {t.get("key"): obj.pk for t, obj in zip(doc["agent_turns"], turns, strict=True)}

    deadlines = []
    for d in doc["deadlines"]:
        target = pobj(d.get("target"))
        deadlines.append(
            TurnDeadline(
                session=session,
                round=by_round[d["round"]],
                participant=pobj(d["participant"]),
                target=target,
                step=target.pk if target else 0,
                status=d.get("status") or TurnDeadline.Status.MET,
                due_at=when(d.get("due_at")),
                remaining_seconds=d.get("remaining_seconds"),
            )
        )
    TurnDeadline.objects.bulk_create(deadlines)
    _restore(deadlines, "created_at", values=doc["deadlines"])

    if doc.get("adjudication") is not None:
        _adjudicate(session, doc["adjudication"], users, by_seq, pid, turn_ids)
    return ImportedSession(number, session.pk, session.title, len(posts))


def _adjudicate(session, adj: dict[str, Any], users: _Users, by_seq, pid, turn_ids) -> None:
    adjudication = Adjudication.objects.create(
        session=session,
        published_at=when(adj.get("published_at")),
        published_by=users.get(adj.get("published_by")),
    )
    Adjudication.objects.filter(pk=adjudication.pk).update(created_at=when(adj.get("created_at")))

    def tid(key: Any) -> Any:
        return turn_ids.get(key, key)

    def lenient_pid(key: Any) -> Any:
        return pid(key) if isinstance(key, str) else key

    revisions = []
    for r in adj["revisions"]:
        metrics = refs.map_metrics(r.get("metrics") or {}, lenient_pid, tid)
        if isinstance(metrics, dict) and "session_id" in metrics:
            metrics["session_id"] = session.pk
        revisions.append(
            AdjudicationRevision(
                adjudication=adjudication,
                number=r.get("number"),
                final_answer=r.get("final_answer"),
                rationale=r.get("rationale") or "",
                reason=r.get("reason") or "",
                decided_by=users.get(r["decided_by"]),
                rules_agreeing=r.get("rules_agreeing") or [],
                metrics=metrics,
            )
        )
    AdjudicationRevision.objects.bulk_create(revisions)
    _restore(revisions, "decided_at", values=adj["revisions"])
    through = AdjudicationRevision.posts.through
    through.objects.bulk_create(
        [
            through(adjudicationrevision_id=rev.pk, post_id=by_seq[seq].pk)
            for rev, r in zip(revisions, adj["revisions"], strict=True)
            for seq in sorted(set(r.get("posts") or []))
        ]
    )
