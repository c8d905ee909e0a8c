"""Download views (streamed, moderators and staff only) and the export/import commands."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connections
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from deliberation.agents.models import AgentProfile
from deliberation.debates import services
from deliberation.debates.models import DebateSession
from deliberation.transcripts.exporting import iter_jsonl, iter_posts_csv

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def two_moderators(people_session, alice):
    mine = people_session(("Yes", "No"), title="Mine")
    theirs = services.create_session(
        moderator=alice,
        title="Theirs",
        question="Q?",
        options=["Yes", "No"],
        protocol="simultaneous",
    )
    return mine, theirs


def test_session_download_streams_for_its_moderator_and_staff(two_moderators, moderator, bob):
    mine, _ = two_moderators
    url = reverse("transcripts:session_export", args=[mine.pk, "jsonl"])
    response = client_for(moderator).get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert f'filename="session-{mine.pk}.jsonl"' in response["Content-Disposition"]
    text = body(response)
    assert text == "".join(iter_jsonl(DebateSession.objects.filter(pk=mine.pk)))
    assert client_for(bob).get(url).status_code == 403
    bob.is_staff = True
    bob.save()
    assert body(client_for(bob).get(url)) == text
    assert Client().get(url).status_code == 302  # to the login page


def test_csv_downloads_and_unknown_format(two_moderators, moderator):
    mine, _ = two_moderators
    client = client_for(moderator)
    url = reverse("transcripts:session_export", args=[mine.pk, "answers_csv"])
    response = client.get(url)
    assert response["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(body(response))))
    assert [(r["participant"], r["answer"]) for r in table] == [
        ("person1", "Yes"),
        ("person2", "No"),
    ]
    posts_url = reverse("transcripts:session_export", args=[mine.pk, "posts_csv"])
    assert "I say Yes." in body(client.get(posts_url))
    bad = reverse("transcripts:session_export", args=[mine.pk, "xml"])
    assert client.get(bad).status_code == 404


def test_bulk_download_only_holds_sessions_the_user_moderates(two_moderators, moderator, bob):
    mine, theirs = two_moderators
    url = reverse("transcripts:export", args=["jsonl"])
    client = client_for(moderator)
    titles = [json.loads(line)["session"]["title"] for line in body(client.get(url)).splitlines()]
    assert titles == ["Mine"]
    assert client.get(url, {"ids": f"{mine.pk},{theirs.pk}"}).status_code == 403
    assert client.get(url, {"ids": "1,x"}).status_code == 400
    assert client.get(url, {"status": "nonsense"}).status_code == 400
    finished = body(client.get(url, {"ids": str(mine.pk), "status": "finished"}))
    assert finished.count("\n") == 1
    assert body(client.get(url, {"status": "draft"})) == ""
    bob.is_staff = True
    bob.save()
    lines = body(client_for(bob).get(url, {"ids": f"{theirs.pk},{mine.pk}"})).splitlines()
    assert [json.loads(line)["session"]["title"] for line in lines] == ["Mine", "Theirs"]


def test_export_then_import_commands_round_trip(rich_session, people_session, tmp_path):
    rich = rich_session()
    people_session(title="Finished too")
    DebateSession.objects.create(title="Draft", question="?", created_by=rich.created_by)
    path = tmp_path / "sessions.jsonl"
    err = io.StringIO()
    call_command("export_sessions", "--status", "finished", "--out", str(path), stderr=err)
    exported = path.read_text(encoding="utf-8")
    assert exported.count("\n") == 2 and "Wrote 2 line(s)" in err.getvalue()
    stdout = io.StringIO()
    call_command("export_sessions", "--ids", str(rich.pk), stdout=stdout)
    assert stdout.getvalue() == exported.splitlines(keepends=True)[0]

    DebateSession.objects.all().delete()
    AgentProfile.objects.all().delete()
    get_user_model().objects.all().delete()
    out = io.StringIO()
    call_command("import_sessions", str(path), stdout=out)
    assert "Imported 2 session(s)" in out.getvalue()
    again = io.StringIO()
    call_command("export_sessions", stdout=again)
    assert again.getvalue() == exported


def test_commands_report_bad_input(people_session, tmp_path):
    session = people_session()
    with pytest.raises(CommandError, match="No session 999"):
        call_command("export_sessions", "--ids", f"{session.pk},999", stdout=io.StringIO())
    with pytest.raises(CommandError, match="'x' is not a session id"):
        call_command("export_sessions", "--ids", "x", stdout=io.StringIO())
    csv_out = io.StringIO()
    call_command("export_sessions", "--format", "posts_csv", stdout=csv_out)
    assert csv_out.getvalue().startswith("session_id,session_title,seq,")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "deliberation.session", "version": 9}\n', encoding="utf-8")
    with pytest.raises(CommandError, match="line 1: version 9 is not supported"):
        call_command("import_sessions", str(bad), stdout=io.StringIO())
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_sessions", str(tmp_path / "missing.jsonl"), stdout=io.StringIO())
    assert DebateSession.objects.count() == 1


async def test_under_asgi_the_download_streams_in_chunks(two_moderators, moderator, settings):
    """The async path reads the export chunk by chunk (not whole, as Django does for sync
    iterators under ASGI) and gives the same bytes."""
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    from deliberation import streaming

    settings.ALLOWED_HOSTS = ["*"]
    client = AsyncClient()
    await client.aforce_login(moderator)
    url = reverse("transcripts:export", args=["posts_csv"])
    streaming.CHUNK_CHARS, previous = 10, streaming.CHUNK_CHARS  # one chunk per row or so
    try:
        response = await client.get(url)
        assert response.status_code == 200 and response.is_async
        chunks = [chunk async for chunk in response.streaming_content]
        expected = await sync_to_async(
            lambda: "".join(iter_posts_csv(DebateSession.objects.all()))
        )()
    finally:
        streaming.CHUNK_CHARS = previous
        await sync_to_async(connections.close_all)()  # the sync thread's connection
    assert b"".join(chunks).decode() == expected
    assert len(chunks) == expected.count("\n") > 2
