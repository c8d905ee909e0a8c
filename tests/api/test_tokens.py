"""Personal API tokens: made and revoked on a page, shown once, stored hashed."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from deliberation.api.models import ApiToken

pytestmark = pytest.mark.django_db


def test_a_token_is_shown_once_works_and_stops_working_when_revoked(alice):
    page = Client()
    page.force_login(alice)
    created = page.post("/api/tokens/", {"name": "notebook"}, follow=True)
    assert created.redirect_chain == [("/api/tokens/", 302)]
    key = re.search(r'id="new-token-key">([^<]+)<', created.content.decode()).group(1)
    token = ApiToken.objects.get(user=alice)
    assert token.name == "notebook" and key.startswith(token.prefix)
    assert key not in token.key_hash and len(token.key_hash) == 64  # only the hash is kept
    assert key not in page.get("/api/tokens/").content.decode()  # shown once

    api = Client()
    me = api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None

    assert page.post(f"/api/tokens/{token.pk}/revoke/").status_code == 302
    refused = api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert "revoked" in page.get("/api/tokens/").content.decode()


def test_tokens_are_personal(alice, bob):
    page = Client()
    page.force_login(alice)
    page.post("/api/tokens/", {"name": "mine"})
    theirs = Client()
    theirs.force_login(bob)
    token = ApiToken.objects.get(user=alice)
    theirs.post(f"/api/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.active
    assert "mine" not in theirs.get("/api/tokens/").content.decode()
    refused = page.post("/api/tokens/", {"name": "  "}, follow=True)
    assert "Name the token" in refused.content.decode()
    assert ApiToken.objects.filter(user=alice).count() == 1  # a nameless token is refused


def test_an_inactive_user_token_is_refused(alice):
    from deliberation.api import tokens

    _, key = tokens.issue(alice, "old")
    alice.is_active = False
    alice.save()
    assert Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_the_token_admin_list_costs_the_same_queries_for_2_or_12_tokens(make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from deliberation.api import tokens

    admin = make_user("root")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client = Client()
    client.force_login(admin)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/admin/api/apitoken/").status_code == 200
        return len(ctx)

    for i in range(2):
        tokens.issue(make_user(f"u{i}"), "t")
    few = queries()
    for i in range(2, 12):
        tokens.issue(make_user(f"u{i}"), "t")
    assert queries() == few
