"""Webhooks against a receiver on a real socket: signatures, retries with backoff, exactly-once
delivery, the three events, who receives what, and the page."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client
from django.urls import reverse

from deliberation import celery_app
from deliberation.batches import services as batches
from deliberation.debates import controls, services
from deliberation.moderation import services as moderation
from deliberation.webhooks import services as hooks
from deliberation.webhooks.models import Delivery, Webhook
from deliberation.webhooks.signing import sign, verify_signature

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    """An HTTP server that answers with the next status in ``script`` (then 200)."""

    def __init__(self, script=(), delay: float = 0):
        self.script, self.delay, self.requests = list(script), delay, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                time.sleep(receiver.delay)
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"try later")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*script, delay: float = 0) -> Receiver:
        r = Receiver(script, delay)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture(autouse=True)
def _quick(settings, task_queue):
    settings.WEBHOOK_BACKOFF_SECONDS = 0.2
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_TIMEOUT_SECONDS = 1


def _wait(predicate, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def worker(task_queue):
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[task_queue], shutdown_timeout=30
    ) as w:
        yield w


def test_signature_round_trip_and_replay_window():
    body = b'{"event":"ping"}'
    header = sign("s3cret", 1_700_000_000, body)
    assert verify_signature("s3cret", 1_700_000_000, body, header, now=1_700_000_100)
    assert not verify_signature("other", 1_700_000_000, body, header, now=1_700_000_100)
    assert not verify_signature("s3cret", 1_700_000_000, body + b" ", header, now=1_700_000_100)
    assert not verify_signature("s3cret", 1_700_000_000, body, header, now=1_700_001_000)
    assert not verify_signature("s3cret", "soon", body, header)


def test_a_failing_receiver_is_retried_with_backoff_and_served_once(moderator, receiver, worker):
    r = receiver(500, 503)
    hook = Webhook.objects.create(owner=moderator, url=r.url, events=["session.finished"])
    delivery = hooks.ping(hook)
    _wait(lambda: Delivery.objects.get(pk=delivery.pk).status == "delivered")
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (3, 200, "")
    assert len(r.requests) == 3
    headers, body = r.requests[-1]
    assert headers["X-Deliberation-Event"] == "ping"
    assert verify_signature(
        hook.secret, headers["X-Deliberation-Timestamp"], body, headers["X-Deliberation-Signature"]
    )
    assert json.loads(body)["delivery"] == delivery.pk
    # Running the task again (a duplicate) never resends a delivered delivery.
    assert hooks.deliver(delivery.pk) == "delivered"
    assert len(r.requests) == 3


def test_backoff_doubles_and_is_capped(settings):
    settings.WEBHOOK_BACKOFF_SECONDS = 10
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 60
    assert [hooks.backoff_seconds(n) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


def test_a_closed_port_and_a_timeout_are_recorded_and_end_failed(moderator, receiver):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/"
    hook = Webhook.objects.create(owner=moderator, url=closed, events=[])
    delivery = hooks.ping(hook)
    for _ in range(3):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
        hooks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 3
    # One message for every network failure (a closed port reads like a silent one).
    assert delivery.last_error == "could not connect or no answer within 1 s"
    slow = receiver(delay=2)
    hook2 = Webhook.objects.create(owner=moderator, url=slow.url, events=[])
    d2 = hooks.ping(hook2)
    assert hooks.deliver(d2.pk) == "pending"
    d2.refresh_from_db()
    assert "no answer within 1 s" in d2.last_error and d2.next_attempt_at is not None
    # Sent again by hand after failing: a fresh series of attempts.
    assert hooks.redeliver(delivery).status == "pending"


def test_events_reach_the_sessions_moderator_and_staff_only(
    moderator, alice, bob, make_user, receiver, worker
):
    r = receiver()
    events = ["session.finished", "session.adjudicated"]
    mine = Webhook.objects.create(owner=moderator, url=r.url, events=events)
    admin = make_user("admin")
    admin.is_staff = True
    admin.save()
    staffs = Webhook.objects.create(owner=admin, url=r.url, events=["session.finished"])
    stranger = Webhook.objects.create(owner=make_user("x"), url=r.url, events=events)
    session = services.create_session(
        moderator=moderator,
        title="Hooked",
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol="simultaneous",
        protocol_settings={"rounds": 1},
    )
    a = services.join_session(alice, session.invite_token)
    b = services.join_session(bob, session.invite_token)
    controls.control(session.participants.get(role="moderator"), "start")
    services.submit_post(a, "Blue.", answer="Yes")
    services.submit_post(b, "Blue too.", answer="Yes")
    _wait(lambda: Delivery.objects.filter(status="delivered").count() == 2)
    seq = session.posts.filter(kind="argument").values_list("seq", flat=True).first()
    moderation.decide(session, moderator, answer="Yes", rationale="Agreed.", post_seqs=[seq])
    moderation.publish(session, moderator)
    _wait(lambda: Delivery.objects.filter(status="delivered").count() == 3)
    assert not Delivery.objects.filter(webhook=stranger).exists()
    assert set(Delivery.objects.filter(webhook=mine).values_list("event", flat=True)) == set(events)
    assert Delivery.objects.filter(webhook=staffs).count() == 1
    adjudicated = json.loads(
        next(body for h, body in r.requests if h["X-Deliberation-Event"] == "session.adjudicated")
    )
    assert adjudicated["data"]["decision"]["answer"] == "Yes"
    assert adjudicated["data"]["session"]["id"] == session.pk


def test_batch_finished_event(moderator, receiver, simulated_agent, worker):
    r = receiver()
    Webhook.objects.create(owner=moderator, url=r.url, events=["batch.finished"])
    questions = batches.parse_questions(
        '{"question": "2+2?", "options": ["4", "5"], "gold": "4"}\n', "q.jsonl", "single_choice"
    )
    run = batches.create_run(
        user=moderator,
        name="Tiny",
        questions=questions,
        protocol="vote_only",
        agents=[simulated_agent("A", seed=1), simulated_agent("B", seed=2)],
        protocol_settings={},
        answer_format="single_choice",
        concurrency=1,
    )
    batches.start_run(run)
    _wait(lambda: len(r.requests) == 1, timeout=60)
    payload = json.loads(r.requests[0][1])
    assert payload["event"] == "batch.finished"
    assert payload["data"]["batch"]["progress"]["done"] == 1


def test_the_page_adds_pings_and_lists(moderator, make_user, receiver, worker):
    r = receiver()
    client = Client()
    client.force_login(moderator)
    page = client.post(
        reverse("webhooks:list"), {"url": r.url, "events": ["session.finished"]}, follow=True
    )
    hook = Webhook.objects.get()
    assert hook.secret in page.content.decode()
    bad = client.post(reverse("webhooks:list"), {"url": "ftp://x", "events": ["x"]})
    assert bad.status_code == 200 and Webhook.objects.count() == 1
    client.post(reverse("webhooks:ping", args=[hook.pk]))
    _wait(lambda: len(r.requests) == 1)
    _wait(lambda: "delivered" in client.get(reverse("webhooks:list")).content.decode())
    other = Client()
    other.force_login(make_user("nosy"))
    assert other.post(reverse("webhooks:ping", args=[hook.pk])).status_code == 404
