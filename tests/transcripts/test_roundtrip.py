"""JSONL exports hold everything, and import back into an empty database byte-identically."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from deliberation.agents.models import AgentProfile, AgentTurn
from deliberation.debates.models import DebateSession, Opinion, Post, TurnDeadline
from deliberation.moderation.metrics import session_metrics
from deliberation.moderation.models import AdjudicationRevision
from deliberation.transcripts.exporting import iter_jsonl
from deliberation.transcripts.importing import import_jsonl

pytestmark = pytest.mark.django_db(transaction=True)


def export_all() -> str:
    return "".join(iter_jsonl(DebateSession.objects.all()))


def empty_the_database() -> None:
    DebateSession.objects.all().delete()
    AgentProfile.objects.all().delete()
    get_user_model().objects.all().delete()


def by_key(doc, section, key):
    return {item[key]: item for item in doc[section]}


def test_the_document_holds_the_whole_session(rich_session):
    session = rich_session()
    doc = json.loads(export_all())
    assert doc["format"] == "deliberation.session" and doc["version"] == 1
    assert doc["session"]["protocol"] == "free_debate"
    assert doc["session"]["created_by"] == "mod"
    people = by_key(doc, "participants", "key")
    names = {p["display_name"]: p for p in people.values()}
    assert set(names) == {"mod", "alice", "bob", "Good", "Garbled"}
    assert names["alice"]["username"] == "alice" and names["alice"]["agent"] is None
    good = names["Good"]["agent"]
    assert good["api_key_env"] == "SIM_API_KEY" and "api_key" not in good
    assert good["prompt_price_per_mtok"] == "2.0000"  # Decimal as a string
    # The speaking order and the moderator's events name participants by key, not by id.
    order = [names[n]["key"] for n in ("alice", "Good", "Garbled", "bob")]
    assert doc["session"]["protocol_settings"]["order"] == order
    events = [p for p in doc["posts"] if p["kind"] == "event"]
    kinds = [e["data"]["event"] for e in events]
    for expected in ("set", "start", "extend", "skip", "skipped", "pause", "resume"):
        assert expected in kinds
    set_event = next(e for e in events if e["data"]["event"] == "set")
    assert set_event["data"]["value"] == order
    skip = next(e for e in events if e["data"]["event"] == "skip")
    assert skip["data"]["participant"] == names["bob"]["key"]
    assert any(p["kind"] == "system" for p in doc["posts"])
    assert [p["seq"] for p in doc["posts"]] == list(range(1, len(doc["posts"]) + 1))
    assert len(doc["posts"]) == Post.objects.filter(session=session).count()
    # Private opinions, with Bob's change of mind.
    opinions = [(o["round"], o["participant"], o["answer"]) for o in doc["opinions"]]
    assert opinions == [
        (1, names["alice"]["key"], "Paris"),
        (1, names["bob"]["key"], "Lyon"),
        (2, names["bob"]["key"], "Paris"),
    ]
    # Agent turns with their prompt, usage and the unreadable reply.
    turns = doc["agent_turns"]
    assert len(turns) == AgentTurn.objects.filter(session=session).count() == 4
    garbled = [t for t in turns if t["participant"] == names["Garbled"]["key"]]
    assert {t["parse_status"] for t in garbled} == {"unparsed"}
    assert all(t["repair_reply"] and t["prompt"][-1]["role"] == "user" for t in garbled)
    paid = [t for t in turns if t["participant"] == names["Good"]["key"]]
    assert all(t["prompt_tokens"] and t["completion_tokens"] and t["latency_ms"] for t in paid)
    assert all(t["cost_usd"] != "0.000000" and t["model"] == "simulated-1" for t in paid)
    seqs = {p["seq"]: p for p in doc["posts"]}
    assert all(seqs[t["post"]]["author"] == t["participant"] for t in turns)
    # The adjudication and its two revisions.
    adjudication = doc["adjudication"]
    assert adjudication["published_by"] == "mod" and adjudication["published_at"]
    first, second = adjudication["revisions"]
    assert (first["number"], first["final_answer"], first["reason"]) == (1, "Lyon", "")
    assert (second["final_answer"], second["reason"]) == ("Paris", "Misread the transcript.")
    assert second["decided_by"] == "mod" and len(second["posts"]) == 2
    assert second["metrics"]["session_id"] is None
    assert {t["id"] for t in second["metrics"]["trajectories"]} <= set(people)
    # The metrics, computed from the stored rows, with keys instead of ids.
    metrics = doc["metrics"]
    live = session_metrics(session)
    assert metrics["rounds"] == live["rounds"] and metrics["cost"] == live["cost"]
    assert "computed_at" not in metrics and "session_id" not in metrics
    assert [f["participant"] for f in metrics["failures"]] == [names["Garbled"]["key"]] * 2
    assert len(doc["deadlines"]) == TurnDeadline.objects.filter(session=session).count() > 0


def test_export_import_export_is_byte_identical(rich_session, people_session, review_session):
    rich_session()
    people_session(("Yes", "No", "Yes"), rounds=2, title="Second")
    review_session()
    draft = DebateSession.objects.create(
        title="Draft",
        question="Nothing yet?",
        created_by=get_user_model().objects.get(username="mod"),
    )
    assert draft.pk
    first = export_all()
    assert first.count("\n") == 4
    reviews = json.loads(first.splitlines()[2])
    assert reviews["session"]["title"] == "Peers"
    assert sum(p["target"] is not None for p in reviews["posts"]) == 6
    assert sum(t["target"] is not None for t in reviews["agent_turns"]) == 6
    empty_the_database()
    assert not DebateSession.objects.exists() and not get_user_model().objects.exists()

    report = import_jsonl(first.splitlines(keepends=True))

    assert report.ok, report.errors
    assert [s.title for s in report.sessions] == [
        'Capital — «quoted» "text"',
        "Second",
        "Peers",
        "Draft",
    ]
    assert set(report.profiles_created) == {"Good", "Garbled", "Peer 0", "Peer 1", "Peer 2"}
    assert {"mod", "alice", "bob"} <= set(report.users_created)
    second = export_all()
    assert second == first
    # Imported people exist but cannot log in.
    alice = get_user_model().objects.get(username="alice")
    assert not alice.is_active and not alice.has_usable_password()
    # Derived data is really recomputed from the imported rows, not copied.
    session = DebateSession.objects.get(title="Second")
    assert session_metrics(session)["rounds"][0]["answers"] == 3
    assert Opinion.objects.count() == 3
    revision = AdjudicationRevision.objects.get(number=2)
    assert revision.metrics["session_id"] == revision.adjudication.session_id
    # A review turn's slot (step) is its target's new id, as the engine sets it.
    review = AgentTurn.objects.filter(target__isnull=False).first()
    assert review.step == review.target_id


def test_import_keeps_existing_users_and_profiles(rich_session):
    session = rich_session()
    text = export_all()
    DebateSession.objects.all().delete()
    report = import_jsonl(text.splitlines())
    assert report.ok, report.errors
    assert report.users_created == [] and report.profiles_created == []
    imported = DebateSession.objects.get()
    assert imported.pk != session.pk
    alice = get_user_model().objects.get(username="alice")
    assert alice.is_active  # the existing account, untouched
    assert imported.participants.get(display_name="alice").user == alice
    assert "".join(iter_jsonl(DebateSession.objects.all())) == text


def test_a_profile_with_another_configuration_is_reported(rich_session):
    rich_session()
    text = export_all()
    DebateSession.objects.all().delete()
    AgentProfile.objects.filter(name="Good").update(model="another-model")
    report = import_jsonl(text.splitlines())
    assert report.ok
    assert report.warnings == ["agent profile 'Good' exists with another configuration; kept as is"]
