"""The create-session form (protocol settings from each protocol's declaration) and batch pages."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from deliberation.batches.models import BatchRun
from deliberation.debates.models import DebateSession
from deliberation.protocols.registry import PROTOCOLS


@pytest.fixture
def logged_in(client, moderator):
    client.force_login(moderator)
    return client


def test_the_form_shows_every_protocols_settings_with_their_defaults(logged_in):
    page = logged_in.get(reverse("debates:session_create")).content.decode()
    for name, protocol in PROTOCOLS.items():
        assert f'data-protocol="{name}"' in page
        assert protocol.source.split(",")[0][:30].replace("'", "&#x27;") in page
        for setting in protocol.all_settings:
            assert f'name="{name}__{setting.name}"' in page
    assert 'name="socratic__contentiousness"' in page and 'value="0.9"' in page


def test_creating_a_session_stores_the_chosen_protocols_settings(logged_in, moderator):
    response = logged_in.post(
        reverse("debates:session_create"),
        {
            "title": "RT",
            "question": "Which?",
            "answer_format": "single_choice",
            "options": "A\nB",
            "protocol": "round_table",
            "join_role": "debater",
            "round_table__rounds": "4",
            "round_table__turn_seconds": "60",
            "round_table__anonymise": "on",
            # another protocol's fields are ignored
            "simultaneous__rounds": "9",
        },
    )
    session = DebateSession.objects.get(title="RT")
    assert response.status_code == 302
    assert session.protocol == "round_table"
    settings = session.protocol_settings
    assert settings["rounds"] == 4 and settings["turn_seconds"] == 60
    assert settings["anonymise"] is True and settings["shuffle_options"] is False


def test_out_of_range_settings_are_refused_with_the_setting_named(logged_in):
    response = logged_in.post(
        reverse("debates:session_create"),
        {
            "title": "Bad",
            "question": "Which?",
            "answer_format": "single_choice",
            "options": "A\nB",
            "protocol": "socratic",
            "join_role": "debater",
            "socratic__contentiousness": "3",
        },
    )
    assert response.status_code == 200
    assert "less than or equal to 1" in response.content.decode()
    assert not DebateSession.objects.filter(title="Bad").exists()


@pytest.mark.django_db(transaction=True)
def test_a_batch_run_from_the_page_reports_bad_rows_then_starts(
    logged_in, simulated_agent, task_queue
):
    agent = simulated_agent("Sim")
    bad = SimpleUploadedFile(
        "q.jsonl", b'{"question": "ok?", "options": ["a", "b"]}\n{"question": ""}\n'
    )
    response = logged_in.post(
        reverse("batches:create"),
        {
            "name": "Bad",
            "questions": bad,
            "answer_format": "single_choice",
            "protocol": "vote_only",
            "agents": [agent.pk],
            "concurrency": 2,
        },
    )
    page = response.content.decode()
    assert response.status_code == 200 and "line 2: the question is empty" in page
    assert not BatchRun.objects.exists()
    rows = "\n".join(
        json.dumps({"question": f"Q{i}?", "options": ["a", "b"], "gold": "a"}) for i in range(3)
    )
    response = logged_in.post(
        reverse("batches:create"),
        {
            "name": "Good",
            "questions": SimpleUploadedFile("q.jsonl", rows.encode()),
            "answer_format": "single_choice",
            "protocol": "vote_only",
            "agents": [agent.pk],
            "concurrency": 2,
        },
    )
    run = BatchRun.objects.get(name="Good")
    assert response.status_code == 302 and response.url == run.get_absolute_url()
    assert run.status == "running" and run.items.filter(status="running").count() == 2
    detail = logged_in.get(run.get_absolute_url()).content.decode()
    assert 'id="progress-bar"' in detail and "0/3" in detail
    partial = logged_in.get(run.get_absolute_url(), HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="batch-progress"')


def test_other_peoples_batch_runs_are_not_found(client, make_user, moderator):
    run = BatchRun.objects.create(name="Mine", protocol="vote_only", created_by=moderator)
    client.force_login(make_user("stranger"))
    assert client.get(run.get_absolute_url()).status_code == 404


@pytest.mark.django_db
def test_an_outsider_cannot_tell_a_session_that_exists_from_one_that_does_not(debate, make_user):
    session = debate()
    outsider = Client()
    outsider.force_login(make_user("outsider"))
    pages = ["/sessions/{}/", "/moderation/sessions/{}/"]
    for page in pages:
        existing = outsider.get(page.format(session.pk))
        missing = outsider.get(page.format(session.pk + 1000))
        assert existing.status_code == missing.status_code == 404

        def page_text(response):  # the CSRF token is masked anew on every response
            return re.sub(
                rb'(X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]*', b"", response.content
            )

        assert page_text(existing) == page_text(missing)
        assert b"invite link" in existing.content  # and it says how to join
