"""Shared fixtures. Every test runs against the PostgreSQL and Redis named by DATABASE_URL and
REDIS_URL (``make test`` starts embedded ones when they are not set)."""

from __future__ import annotations

import contextlib
import uuid

import pytest
import redis
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from deliberation import celery_app
from deliberation.agents.models import AgentProfile
from deliberation.asgi import application
from deliberation.debates import services


@pytest.fixture(autouse=True)
def _fast_agents(settings):
    """Agents stream quickly in tests; retries back off briefly."""
    settings.DELIBERATION = {
        **settings.DELIBERATION,
        "SIMULATED_TOKEN_DELAY": 0.002,
        "STREAM_FLUSH_SECONDS": 0.01,
        "STREAM_FLUSH_CHARS": 40,
        "AGENT_TURN_RETRY_BACKOFF": 0.1,
    }
    # A channel-layer prefix of our own, so parallel runs and a running demo never cross.
    settings.CHANNEL_LAYERS = {
        "default": {
            **settings.CHANNEL_LAYERS["default"],
            "CONFIG": {
                **settings.CHANNEL_LAYERS["default"]["CONFIG"],
                "prefix": f"test-{uuid.uuid4().hex[:8]}",
            },
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _outbound_allows_loopback(settings):
    """The fake servers of the tests (fake_openai, webhook receivers) listen on 127.0.0.1,
    which production refuses (deliberation/netguard.py): allow loopback explicitly here.
    tests/security sets the production default (nothing allowed) where it proves the guard."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Pages render without a collectstatic manifest (the test runner serves no files)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def task_queue():
    """Agent tasks enqueued on commit go to a queue of this test's own, deleted afterwards."""
    queue = f"test-{uuid.uuid4().hex[:10]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        yield queue
    finally:
        celery_app.conf.task_default_queue = previous
        # The queue's list and its kombu binding keys (queue_delete only knows queues the
        # deleting channel declared itself).
        client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
        prefix = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
        try:
            keys = list(client.scan_iter(match=f"{prefix}*{queue}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
def worker(task_queue):
    """A Celery worker thread consuming a queue of this test's own, so nothing else interferes."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[task_queue], shutdown_timeout=30
    ) as w:
        yield w


@pytest.fixture
def make_user(db):
    def make(username: str, password: str = "pw-for-tests-123"):
        return get_user_model().objects.create_user(username=username, password=password)

    return make


@pytest.fixture
def moderator(make_user):
    return make_user("mod")


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def simulated_agent(db):
    def make(name: str = "Sim", seed: int = 1, **extra) -> AgentProfile:
        return AgentProfile.objects.create(name=name, backend="simulated", seed=seed, **extra)

    return make


@pytest.fixture
def debate(moderator):
    """A draft single-choice session; people join with ``services.join_session``."""

    def make(agents=(), rounds: int = 2, **kwargs):
        return services.create_session(
            moderator=moderator,
            title=kwargs.pop("title", "Test debate"),
            question=kwargs.pop("question", "Is the sky blue?"),
            options=kwargs.pop("options", ["Yes", "No"]),
            protocol_settings={"rounds": rounds},
            agent_profiles=list(agents),
            **kwargs,
        )

    return make


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@contextlib.asynccontextmanager
async def ws_connect(user, session_id: int, query: str = "", *, origin: str = "http://localhost"):
    """Open the session WebSocket as ``user`` through the full ASGI stack (origin check, auth)."""
    from channels.db import database_sync_to_async

    headers = [(b"origin", origin.encode()), (b"host", b"localhost")]
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    path = f"/ws/sessions/{session_id}/" + (f"?{query}" if query else "")
    communicator = WebsocketCommunicator(application, path, headers=headers)
    try:
        yield communicator
    finally:
        await communicator.disconnect()
