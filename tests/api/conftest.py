"""An API client per user, authenticated with a real personal token."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from deliberation.api import tokens
from tests.sessions import _clear_metrics_cache, people_session  # noqa: F401


@pytest.fixture
def api_as(db):
    def make(user) -> APIClient:
        _, key = tokens.issue(user, "tests")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client

    return make
