"""Transcript exports through the API: the same streamed files as the export pages."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from deliberation.debates import services
from deliberation.debates.models import DebateSession
from deliberation.transcripts.exporting import iter_answers_csv, iter_jsonl, iter_posts_csv

pytestmark = pytest.mark.django_db(transaction=True)


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_a_moderator_downloads_transcripts_a_notebook_can_read(
    api_as, people_session, moderator, alice
):
    first, second = people_session(title="One"), people_session(title="Two")
    client = api_as(moderator)

    one = client.get(f"/api/v1/sessions/{first.pk}/export/jsonl/")
    assert one.status_code == 200 and one["Content-Type"].startswith("application/x-ndjson")
    text = _body(one)
    assert text == "".join(iter_jsonl(DebateSession.objects.filter(pk=first.pk)))
    frame = pd.read_json(io.StringIO(text), lines=True)
    assert len(frame) == 1 and frame.iloc[0]["session"]["title"] == "One"

    both = _body(client.get(f"/api/v1/sessions/export/posts_csv/?ids={first.pk},{second.pk}"))
    expected = DebateSession.objects.filter(pk__in=[first.pk, second.pk])
    assert both == "".join(iter_posts_csv(expected))
    assert len(list(csv.DictReader(io.StringIO(both)))) == expected.first().posts.count() * 2

    answers = _body(client.get("/api/v1/sessions/export/answers_csv/?status=finished"))
    assert answers == "".join(iter_answers_csv(DebateSession.objects.order_by("pk")))

    outsider = api_as(alice)
    assert outsider.get(f"/api/v1/sessions/{first.pk}/export/jsonl/").status_code == 403
    refused = outsider.get(f"/api/v1/sessions/export/jsonl/?ids={first.pk}")
    assert refused.status_code == 403 and refused.json()["error"] == "permission_denied"
    assert _body(outsider.get("/api/v1/sessions/export/jsonl/")) == ""  # nothing of theirs
    for query in ("status=sleeping", "status=", "ids=", "ids=x"):
        bad = client.get(f"/api/v1/sessions/export/jsonl/?{query}")
        assert bad.status_code == 400 and list(bad.json()["fields"]) == [query.split("=")[0]]
    unknown = client.get(f"/api/v1/sessions/{first.pk}/export/xml/")
    assert unknown.status_code == 404 and "jsonl" in unknown.json()["detail"]


def test_an_export_is_refused_to_a_participant_who_does_not_moderate(api_as, moderator, alice):
    session = services.create_session(
        moderator=moderator, title="T", question="Q?", options=["a", "b"]
    )
    services.join_session(alice, session.invite_token)
    assert api_as(alice).get(f"/api/v1/sessions/{session.pk}/export/jsonl/").status_code == 403
    assert json.loads(_body(api_as(moderator).get(f"/api/v1/sessions/{session.pk}/export/jsonl/")))
