"""CSV exports: one row per post, and one row per answering participant per round."""

from __future__ import annotations

import csv
import io
import json

import pytest

from deliberation.debates.models import DebateSession, Post
from deliberation.transcripts.exporting import (
    ANSWER_COLUMNS,
    POST_COLUMNS,
    iter_answers_csv,
    iter_posts_csv,
)

pytestmark = pytest.mark.django_db(transaction=True)


def rows(render, sessions=None) -> list[dict[str, str]]:
    text = "".join(render(sessions or DebateSession.objects.all()))
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_posts_csv_has_every_post_in_order(rich_session):
    session = rich_session()
    table = rows(iter_posts_csv)
    posts = list(Post.objects.filter(session=session).order_by("seq"))
    assert list(table[0]) == POST_COLUMNS
    assert [int(r["seq"]) for r in table] == [p.seq for p in posts]
    assert {r["session_id"] for r in table} == {str(session.pk)}
    assert {r["kind"] for r in table} == {"argument", "event", "system"}
    first = next(r for r in table if r["author"] == "alice" and r["kind"] == "argument")
    assert (first["answer"], first["confidence"], first["round"]) == ("Paris", "0.9", "1")
    assert (first["author_kind"], first["author_role"]) == ("human", "debater")
    assert first["text"] == "Paris is the capital."
    garbled = [r for r in table if r["author"] == "Garbled" and r["kind"] == "argument"]
    assert [(r["parse_status"], r["answer"]) for r in garbled] == [("unparsed", "")] * 2
    skip = next(r for r in table if r["event"] == "skip")
    assert skip["author"] == "mod" and skip["author_kind"] == "human"
    # The title's quotes and newlines in texts survive the CSV quoting.
    assert table[0]["session_title"] == session.title


def test_answers_csv_has_one_row_per_participant_and_round(rich_session, people_session):
    session = rich_session()
    people_session(("Yes", "No"), title="Other")
    table = [r for r in rows(iter_answers_csv) if r["session_id"] == str(session.pk)]
    assert list(table[0]) == ANSWER_COLUMNS
    cells = {(r["round"], r["participant"]): r for r in table}
    # The moderator does not answer; the four debaters do, in speaking position order.
    assert [r["participant"] for r in table] == ["Good", "Garbled", "alice", "bob"] * 2
    assert len(cells) == 8
    alice1 = cells[("1", "alice")]
    assert (alice1["status"], alice1["answer"], alice1["confidence"]) == (
        "answered",
        "Paris",
        "0.9",
    )
    assert (alice1["private_answer"], alice1["private_confidence"]) == ("Paris", "0.7")
    assert cells[("2", "alice")]["confidence"] == ""  # no confidence given
    bob1 = cells[("1", "bob")]
    assert (bob1["status"], bob1["answer"], bob1["private_answer"]) == ("skipped", "", "Lyon")
    assert cells[("2", "bob")]["answer"] == "Paris"
    for n in ("1", "2"):
        garbled = cells[(n, "Garbled")]
        assert (garbled["status"], garbled["answer"]) == ("unparsed", "")
        assert garbled["participant_kind"] == "agent"
        assert cells[(n, "Good")]["status"] == "answered"
    assert {r["correct_answer"] for r in table} == {"Paris"}
    other = [r for r in rows(iter_answers_csv) if r["session_title"] == "Other"]
    assert [(r["participant"], r["answer"]) for r in other] == [
        ("person1", "Yes"),
        ("person2", "No"),
    ]


def test_structured_answers_are_json_cells(moderator, make_user):
    from deliberation.debates import controls, services

    session = services.create_session(
        moderator=moderator,
        title="Pick",
        question="Which are primes?",
        answer_format="multiple_choice",
        options=["2", "4", "5"],
        protocol="simultaneous",
        protocol_settings={"rounds": 1},
    )
    person = services.join_session(make_user("chooser"), session.invite_token)
    controls.control(session.participants.get(role="moderator"), "start")
    services.submit_post(person, "These.", answer=["5", "2"], confidence=1)
    (row,) = rows(iter_answers_csv)
    assert json.loads(row["answer"]) == ["2", "5"]
    assert row["confidence"] == "1.0"
