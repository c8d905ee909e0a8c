"""The shared session fixtures (tests/sessions.py) and a signed-in staff reviewer."""

import pytest
from django.test import Client

from tests.sessions import _clear_metrics_cache, people_session, rich_session  # noqa: F401


@pytest.fixture
def staff(make_user):
    """A test client signed in as a superuser; ``client.user`` is that user."""
    user = make_user("reviewer")
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    client.user = user
    return client
