"""The moderator page reads a session with a fixed number of queries, whatever its length."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deliberation.debates import services
from deliberation.debates.models import DebateSession, Opinion, Post, Round
from deliberation.moderation import services as moderation

pytestmark = pytest.mark.django_db

ROUNDS, DEBATERS = 5, 4


def long_session(moderator, make_user, n_posts: int, tag: str) -> DebateSession:
    session = services.create_session(
        moderator=moderator,
        title=f"Long {tag}",
        question="Yes or no?",
        options=["Yes", "No", "Maybe"],
        gold_answer="Yes",
        protocol="simultaneous",
        protocol_settings={"rounds": ROUNDS},
    )
    people = [
        services.join_session(make_user(f"{tag}-{i}"), session.invite_token)
        for i in range(DEBATERS)
    ]
    rounds = Round.objects.bulk_create(
        Round(session=session, number=n, status=Round.Status.CLOSED) for n in range(1, ROUNDS + 1)
    )
    options = session.options
    Post.objects.bulk_create(
        (
            Post(
                session=session,
                seq=i + 1,
                round=rounds[i * ROUNDS // n_posts],
                author=people[i % DEBATERS],
                kind=Post.Kind.ARGUMENT,
                text=f"Argument number {i}.",
                answer=options[(i // DEBATERS) % len(options)],
                confidence=0.5 + (i % 5) / 10,
                parse_status=Post.ParseStatus.PARSED,
            )
            for i in range(n_posts)
        ),
        batch_size=2000,
    )
    Opinion.objects.bulk_create(
        Opinion(session=session, round=r, participant=p, answer="Yes", confidence=0.7)
        for r in rounds
        for p in people
    )
    DebateSession.objects.filter(pk=session.pk).update(
        status=DebateSession.Status.FINISHED, finished_at=timezone.now()
    )
    return DebateSession.objects.get(pk=session.pk)


def page_queries(client: Client, session: DebateSession) -> tuple[int, float, str]:
    cache.clear()  # the page computes the metrics itself: the worst case
    start = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/moderation/sessions/{session.pk}/")
    assert response.status_code == 200
    return len(queries), time.monotonic() - start, response.content.decode()


def test_a_page_with_10000_posts_needs_no_more_queries_than_one_with_100(moderator, make_user):
    small = long_session(moderator, make_user, 100, "small")
    large = long_session(moderator, make_user, 10_000, "large")
    client = Client()
    client.force_login(moderator)
    page_queries(client, small)  # warm up (the login session, content types...)
    n_small, _, _ = page_queries(client, small)
    n_large, seconds, html = page_queries(client, large)
    assert n_large == n_small <= 30
    assert 'data-metric="answers-5">4<' in html
    assert seconds < 20
    # Cached: the next page view reads the metrics instead of the posts.
    with CaptureQueriesContext(connection) as cached:
        assert client.get(f"/moderation/sessions/{large.pk}/").status_code == 200
    assert len(cached) < n_large
    assert not any("debates_post" in q["sql"] and "ORDER BY" in q["sql"] for q in cached)


def test_the_queue_reads_cached_metrics_with_a_fixed_number_of_queries(moderator, make_user):
    for i in range(3):
        long_session(moderator, make_user, 50, f"q{i}")
    cache.clear()
    moderation.queue(moderator)  # fills the cache
    with CaptureQueriesContext(connection) as queries:
        entries = moderation.queue(moderator)
    assert len(entries) == 3 and len(queries) == 1
