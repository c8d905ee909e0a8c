"""Bad import files are refused whole, with the line and the reason; nothing is written."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from deliberation.agents.models import AgentProfile
from deliberation.debates.models import DebateSession
from deliberation.transcripts.exporting import dumps, iter_jsonl
from deliberation.transcripts.importing import import_jsonl

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def exported(rich_session, people_session):
    """Two exported lines (rich, then people only), with the database emptied."""
    rich_session()
    people_session()
    lines = list(iter_jsonl(DebateSession.objects.all()))
    DebateSession.objects.all().delete()
    AgentProfile.objects.all().delete()
    get_user_model().objects.all().delete()
    return [json.loads(line) for line in lines]


def nothing_written() -> bool:
    return not (
        DebateSession.objects.exists()
        or AgentProfile.objects.exists()
        or get_user_model().objects.exists()
    )


def test_malformed_json_wrong_format_and_version_are_reported_by_line(exported):
    good = dumps(exported[1])
    report = import_jsonl(
        [
            good,
            "{not json",
            "",  # blank lines are skipped
            json.dumps({**exported[1], "format": "something.else"}),
            json.dumps({**exported[1], "version": 2}),
            json.dumps([1, 2]),
            dumps(exported[0]),
        ]
    )
    assert not report.ok
    assert report.errors[0].startswith("line 2: not valid JSON")
    assert report.errors[1:] == [
        "line 4: format is 'something.else', expected 'deliberation.session'",
        "line 5: version 2 is not supported (only 1)",
        "line 6: expected a JSON object",
    ]
    assert report.sessions == []
    assert nothing_written()
    assert report.summary().startswith("Nothing imported:\nline 2: not valid JSON")


def test_unknown_participant_round_and_post_references(exported):
    rich = exported[0]
    author = json.loads(dumps(rich))
    author["posts"][3]["author"] = "p99"
    opinion = json.loads(dumps(rich))
    opinion["opinions"][0]["round"] = 7
    cited = json.loads(dumps(rich))
    cited["adjudication"]["revisions"][1]["posts"].append(999)
    turn = json.loads(dumps(rich))
    turn["agent_turns"][0]["post"] = 555
    report = import_jsonl([dumps(author), dumps(opinion), dumps(cited), dumps(turn)])
    seq = rich["posts"][3]["seq"]
    assert report.errors == [
        f"line 1: post #{seq} names an unknown participant 'p99'",
        "line 2: an opinion names an unknown round 7",
        "line 3: revision 2 cites an unknown post #999",
        "line 4: agent turn t0 cites an unknown post #555",
    ]
    assert nothing_written()


def test_missing_sections_and_duplicates(exported):
    rich = exported[0]
    no_posts = {k: v for k, v in rich.items() if k != "posts"}
    twice = {**rich, "posts": [*rich["posts"], rich["posts"][0]]}
    same_key = {**rich, "participants": [*rich["participants"], rich["participants"][0]]}
    nameless = {**rich, "participants": [{**rich["participants"][0], "username": None}]}
    report = import_jsonl([dumps(d) for d in (no_posts, twice, same_key, nameless)])
    assert report.errors == [
        "line 1: 'posts' is missing or not a list",
        "line 2: a post seq number appears twice",
        "line 3: participant key 'p0' appears twice",
        "line 4: participant 0 (p0) is a person without a username",
    ]
    assert nothing_written()


def test_a_line_the_database_refuses_rolls_back_the_lines_before_it(exported):
    rich, people = exported
    bad = json.loads(dumps(people))
    bad["posts"][-1]["confidence"] = 7  # the database's check constraint refuses it
    report = import_jsonl([dumps(rich), dumps(bad)])
    assert len(report.errors) == 1 and report.errors[0].startswith("line 2: ")
    assert "confidence_between_0_and_1" in report.errors[0], report.errors
    assert report.sessions == [] and report.users_created == []
    assert nothing_written()
    # The same file without the bad line imports.
    assert import_jsonl([dumps(rich), dumps(people)]).ok
    assert DebateSession.objects.count() == 2


def test_bad_timestamps_and_decimals(exported):
    rich, people = exported
    bad_time = json.loads(dumps(people))
    bad_time["posts"][0]["created_at"] = "yesterday"
    bad_cost = json.loads(dumps(rich))
    bad_cost["agent_turns"][0]["cost_usd"] = "cheap"
    report = import_jsonl([dumps(bad_time), dumps(bad_cost)])
    assert report.errors == [
        "line 1: 'yesterday' is not an ISO date and time",
        "line 2: 'cheap' is not a decimal number",
    ]
    assert nothing_written()


def test_unknown_choices_are_refused(exported):
    people = exported[1]
    protocol = {**people, "session": {**people["session"], "protocol": "shouting"}}
    role = json.loads(dumps(people))
    role["participants"][1]["role"] = "king"
    kind = json.loads(dumps(people))
    kind["posts"][0]["kind"] = "tweet"
    report = import_jsonl([dumps(protocol), dumps(role), dumps(kind)])
    assert report.errors[0].startswith("line 1: session.protocol 'shouting' is not one of ")
    assert report.errors[1:] == [
        "line 2: participant 1 (p1) has an unknown role 'king'",
        "line 3: post #1 has an unknown kind 'tweet'",
    ]
    assert nothing_written()
