"""Errors never reflect request input as HTML: the transcript export pages (issue 13, High)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

PAYLOADS = {
    "status": "<script>alert(1)</script>",
    "ids": "<svg onload=alert(1)>",
}


@pytest.fixture
def client(moderator) -> Client:
    c = Client()
    c.force_login(moderator)
    return c


def assert_not_html_with(response, payload: str) -> None:
    """Either HTML with the payload escaped, or a type no browser renders, marked nosniff."""
    content_type = response["Content-Type"]
    body = response.content.decode()
    if content_type.startswith("text/html"):
        assert payload not in body, body
    else:
        assert content_type.split(";")[0] in {"text/plain", "application/json"}, content_type
        assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("fmt", ["jsonl", "posts_csv"])
@pytest.mark.parametrize("param", sorted(PAYLOADS))
def test_a_hostile_filter_is_answered_as_plain_text(client, fmt, param):
    payload = PAYLOADS[param]
    response = client.get(reverse("transcripts:export", args=[fmt]), {param: payload})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert_not_html_with(response, payload)


def test_the_payload_with_other_ids_is_refused_the_same_way(client):
    response = client.get(
        reverse("transcripts:export", args=["jsonl"]), {"ids": "1 <img src=x onerror=alert(1)>"}
    )
    assert response.status_code == 400
    assert not response["Content-Type"].startswith("text/html")
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("debug", [False, True])
def test_a_hostile_format_name_is_not_reflected(client, settings, debug):
    settings.DEBUG = debug
    payload = "<script>alert(1)</script>"
    response = client.get(f"/transcripts/export/{payload}/")
    assert response.status_code == 404
    assert_not_html_with(response, payload)
    response = client.get(f"/transcripts/sessions/1/export/{payload}/")
    assert response.status_code == 404
    assert_not_html_with(response, payload)


def test_the_api_export_errors_are_json(moderator, api_as):
    client = api_as(moderator)
    for param, payload in PAYLOADS.items():
        response = client.get("/api/v1/sessions/export/jsonl/", {param: payload})
        assert response.status_code == 400
        assert response["Content-Type"].startswith("application/json")
        assert response["X-Content-Type-Options"] == "nosniff"
