"""Exports stream: a fixed number of queries per chunk of sessions, and lazy generators."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deliberation.debates.models import DebateSession
from deliberation.transcripts.exporting import iter_answers_csv, iter_jsonl, iter_posts_csv

pytestmark = pytest.mark.django_db(transaction=True)


def queries(render, **kwargs) -> int:
    with CaptureQueriesContext(connection) as ctx:
        out = "".join(render(DebateSession.objects.all(), **kwargs))
    assert out
    outputs.setdefault(render, set()).add(out)
    return len(ctx.captured_queries)


outputs: dict = {}  # render -> the texts it gave in this test (chunking must not change them)


@pytest.fixture(autouse=True)
def _forget_outputs():
    outputs.clear()


@pytest.mark.parametrize(
    ("render", "kwargs"),
    [
        (iter_jsonl, {"metrics": False}),
        (iter_posts_csv, {}),
        (iter_answers_csv, {}),
    ],
)
def test_queries_do_not_grow_with_the_number_of_sessions(people_session, render, kwargs):
    people_session(("Yes", "No"))
    people_session(("Yes", "No", "No"), rounds=2)
    two = queries(render, **kwargs)
    for n in range(4):
        people_session(("Yes",) * (n + 1), rounds=2)
    assert queries(render, **kwargs) == two
    # In chunks of 2 sessions: one query for the sessions, the same prefetches per chunk.
    prefetches = two - 1
    outputs.clear()
    assert queries(render, chunk_size=2, **kwargs) == 1 + 3 * prefetches
    queries(render, chunk_size=5, **kwargs)
    queries(render, **kwargs)
    assert len(outputs[render]) == 1  # the same text whatever the chunk size


def test_metrics_cost_the_same_few_queries_per_session_however_long(people_session):
    people_session(("Yes", "No"))
    one = queries(iter_jsonl)
    people_session(("Yes", "No"), rounds=1)
    two = queries(iter_jsonl)
    people_session(("Yes", "No", "No", "Yes"), rounds=3)  # longer: more posts and rounds
    three = queries(iter_jsonl)
    assert two - one == three - two > 0


def test_exports_are_lazy_generators(people_session):
    people_session()
    with CaptureQueriesContext(connection) as ctx:
        lines = iter_jsonl(DebateSession.objects.all())
        assert len(ctx.captured_queries) == 0  # nothing read until the first line is asked for
        next(lines)
    assert ctx.captured_queries
