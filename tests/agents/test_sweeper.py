"""Recovery of agent turns (issue 14) against the real PostgreSQL, Redis, Celery worker and
WebSockets: a worker that died holding a turn, a task lost because the broker was down, a
database connection dropped while a turn is stored, and a session ended while an agent speaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from datetime import timedelta

import pytest
import redis
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from deliberation import celery_app
from deliberation.agents import services as agent_services
from deliberation.agents.models import AgentTurn
from deliberation.agents.tasks import sweep_agent_turns
from deliberation.debates import controls, engine, services
from deliberation.debates.models import Post, TurnDeadline
from tests.conftest import ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _queue_keys(client, queue: str) -> list:
    prefix = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    return list(client.scan_iter(match=f"{prefix}{queue}*"))


def queued_messages(queue: str) -> int:
    """Messages waiting in the test's own Celery queue (kombu keeps a Redis list per queue)."""
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    try:
        return sum(client.llen(key) for key in _queue_keys(client, queue))
    finally:
        client.close()


def drop_messages(queue: str) -> None:
    """Lose the queue's messages, as a broker or a killed worker loses a task."""
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    try:
        keys = _queue_keys(client, queue)
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@contextlib.contextmanager
def broker_down():
    """Point this process's Celery producer at a closed port for the duration (Redis down)."""
    previous = celery_app.conf.broker_url

    def use(url: str) -> None:
        celery_app.conf.broker_url = url
        celery_app._pool = None  # the producer pools were built for the previous URL
        celery_app.amqp._producer_pool = None

    use(f"redis://127.0.0.1:{closed_port()}/0")
    try:
        yield
    finally:
        use(previous)


async def collect_until(comm, predicate, timeout: float = 15) -> list[dict]:
    seen = []
    while True:
        message = json.loads(await comm.receive_from(timeout=timeout))
        seen.append(message)
        if predicate(message):
            return seen


def agent_post(message: dict) -> bool:
    return message["type"] == "post" and (message["post"]["author"] or {}).get("kind") == "agent"


def start_with_agent_first(debate, simulated_agent, alice, **agent):
    """A running one-round session where the agent speaks first, then alice."""
    session = debate(agents=[simulated_agent("Ada", seed=7, **agent)], rounds=1)
    services.join_session(alice, session.invite_token)
    controls.control(session.participants.get(role="moderator"), "start")
    return session, AgentTurn.objects.get(session=session)


def claimed_then_orphaned(session_turn, task_queue) -> AgentTurn:
    """Claim the turn as a worker would, then lose that worker: its lease has passed and its
    task is gone from the broker."""
    _session, turn = session_turn
    assert agent_services._claim(turn.pk) is not None
    drop_messages(task_queue)
    AgentTurn.objects.filter(pk=turn.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    turn.refresh_from_db()
    assert turn.status == AgentTurn.Status.RUNNING and turn.attempts == 1
    return turn


@pytest.fixture
def orphaned_turn(task_queue, debate, simulated_agent, alice):
    """Set up before the ``worker`` fixture starts, so no worker takes the first task."""
    started = start_with_agent_first(debate, simulated_agent, alice)
    return claimed_then_orphaned(started, task_queue)


# --- 1. expired leases and lost tasks --------------------------------------------------------
async def test_expired_lease_is_requeued_reset_and_finished_by_a_worker(
    orphaned_turn, worker, alice
):
    turn = orphaned_turn
    async with ws_connect(alice, turn.session_id) as client:
        assert (await client.connect())[0]
        result = await database_sync_to_async(sweep_agent_turns)()
        assert result["requeued"] == 1
        messages = await collect_until(client, agent_post)
    kinds = [m["type"] for m in messages]
    # The lost attempt's partial text is dropped before the new attempt streams.
    assert "turn.reset" in kinds and "turn.started" in kinds
    reset, started = kinds.index("turn.reset"), kinds.index("turn.started")
    assert reset < started < kinds.index("turn.delta")
    assert messages[started]["turn"]["attempt"] == 2
    turn = await database_sync_to_async(AgentTurn.objects.get)(pk=turn.pk)
    assert turn.status == AgentTurn.Status.DONE and turn.attempts == 2
    assert turn.lease_until is None and turn.post_id is not None


def test_sweeping_is_idempotent_with_several_sweepers(orphaned_turn, task_queue):
    barrier = threading.Barrier(4)
    results = []

    def sweep():
        try:
            barrier.wait()
            results.append(agent_services.sweep_turns())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["requeued"] for r in results) == 1
    assert sum(r["resent"] for r in results) == 0
    # Once more: nothing left to do, nothing sent twice.
    assert agent_services.sweep_turns() == {"requeued": 0, "failed": 0, "cancelled": 0, "resent": 0}
    assert queued_messages(task_queue) == 1
    turn = AgentTurn.objects.get(pk=orphaned_turn.pk)
    assert turn.status == AgentTurn.Status.QUEUED and turn.attempts == 1
    assert "lease expired" in turn.error


def test_expired_lease_without_attempts_left_fails_visibly(orphaned_turn, settings):
    settings.DELIBERATION = {**settings.DELIBERATION, "AGENT_TURN_MAX_ATTEMPTS": 1}
    assert agent_services.sweep_turns()["failed"] == 1
    turn = AgentTurn.objects.get(pk=orphaned_turn.pk)
    assert turn.status == AgentTurn.Status.FAILED and turn.finished_at is not None
    notice = Post.objects.get(session_id=turn.session_id, data__event="turn_failed")
    assert "turn failed after 1 attempt" in notice.text
    assert engine.current_speaker(turn.session).display_name == "alice"  # the session goes on


async def test_redelivered_task_takes_over_an_expired_lease_with_a_reset(
    orphaned_turn, worker, alice
):
    """The other half of a killed worker: the broker redelivers its task once the lease has
    passed; the task takes the turn over, and clients drop the partial text first."""
    from deliberation.agents.tasks import run_agent_turn

    async with ws_connect(alice, orphaned_turn.session_id) as client:
        assert (await client.connect())[0]
        await database_sync_to_async(run_agent_turn.delay)(orphaned_turn.pk)
        messages = await collect_until(client, agent_post)
    kinds = [m["type"] for m in messages]
    assert "turn.reset" in kinds and kinds.index("turn.reset") < kinds.index("turn.started")
    turn = await database_sync_to_async(AgentTurn.objects.get)(pk=orphaned_turn.pk)
    assert turn.status == AgentTurn.Status.DONE and turn.attempts == 2


# --- 2. database errors and ending a session while a turn runs --------------------------------
async def wait_for_stream(client) -> None:
    await collect_until(client, lambda m: m["type"] == "turn.delta")


async def test_ending_the_session_cancels_the_running_turn(
    worker, debate, simulated_agent, alice, moderator
):
    session, turn = await database_sync_to_async(start_with_agent_first)(
        debate, simulated_agent, alice, parameters={"simulated": {"token_delay": 0.05}}
    )
    async with ws_connect(alice, session.pk) as client:
        assert (await client.connect())[0]
        await wait_for_stream(client)
        mod = await database_sync_to_async(session.participants.get)(role="moderator")
        await database_sync_to_async(controls.control)(mod, "end")
        turn = await database_sync_to_async(AgentTurn.objects.get)(pk=turn.pk)
        assert turn.status == AgentTurn.Status.CANCELLED and turn.lease_until is None
        ended = await collect_until(client, lambda m: m["type"] == "turn.ended")
        assert ended[-1] == {"type": "turn.ended", "turn_id": turn.pk, "status": "cancelled"}
        assert any(m["type"] == "turn.reset" for m in ended)
        # The worker finishes its reply later and adds nothing to the finished session.
        for _ in range(100):
            turn = await database_sync_to_async(AgentTurn.objects.get)(pk=turn.pk)
            if turn.reply:
                break
            await asyncio.sleep(0.1)
    assert turn.status == AgentTurn.Status.CANCELLED and turn.reply
    agent_posts = Post.objects.filter(session=session, author__kind="agent").count
    assert await database_sync_to_async(agent_posts)() == 0


def terminate_other_backends(keep: tuple[int, ...] = ()) -> int:
    """Cut every other connection to this test's own database (the worker thread's), as a
    PostgreSQL restart or a failover does."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND NOT pid = ANY(%s)",
            [list(keep)],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def main_connection_pid(worker) -> int:
    """The backend of the connection pytest-django set the test up with (it flushes the
    database with it afterwards): never cut. Taken after the worker started (its start closes
    this thread's connection)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


async def test_database_connection_dropped_during_a_turn_still_ends_it(
    worker, main_connection_pid, debate, simulated_agent, alice
):
    session, turn = await database_sync_to_async(start_with_agent_first)(
        debate, simulated_agent, alice, parameters={"simulated": {"token_delay": 0.04}}
    )
    async with ws_connect(alice, session.pk) as client:
        assert (await client.connect())[0]
        await wait_for_stream(client)
        # The worker holds its connection from the claim; cut it while the agent speaks.
        cut = await database_sync_to_async(terminate_other_backends)((main_connection_pid,))
        assert cut >= 1
        await collect_until(client, agent_post, timeout=20)
    turn = await database_sync_to_async(AgentTurn.objects.get)(pk=turn.pk)
    assert turn.status == AgentTurn.Status.DONE and turn.post_id is not None


def wait_for(turn: AgentTurn, statuses, seconds: float) -> AgentTurn:
    deadline = timezone.now() + timedelta(seconds=seconds)
    while timezone.now() < deadline:
        turn.refresh_from_db()
        if turn.status in statuses:
            break
        threading.Event().wait(0.1)
    return turn


def set_lock_timeout(value: str | None) -> None:
    """For new connections to this test's own database."""
    name = connection.ops.quote_name(connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        if value is None:
            cursor.execute(f"ALTER DATABASE {name} RESET lock_timeout")
        else:
            cursor.execute(f"ALTER DATABASE {name} SET lock_timeout = '{value}'")


def test_database_errors_while_storing_retry_the_task_until_the_turn_ends(
    worker, debate, simulated_agent, alice
):
    """The session row stays locked by another connection for longer than the worker's
    ``lock_timeout``: storing the reply and recording the failure both fail, again and again;
    the task retries with backoff, holding its lease, and the turn ends once the lock goes."""
    import psycopg

    session, turn = start_with_agent_first(
        debate, simulated_agent, alice, parameters={"simulated": {"token_delay": 0.02}}
    )
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
    ) as blocker:
        blocker.execute(
            "SELECT 1 FROM debates_debatesession WHERE id = %s FOR UPDATE", [session.pk]
        )
        set_lock_timeout("200ms")
        try:
            wait_for(turn, (AgentTurn.Status.RUNNING,), 10)
            # The worker's next connection gives up on the lock after 200 ms.
            terminate_other_backends(keep=(blocker.info.backend_pid,))
            threading.Event().wait(2.5)
            turn.refresh_from_db()
            assert turn.status in (AgentTurn.Status.RUNNING, AgentTurn.Status.QUEUED)
            assert not Post.objects.filter(session=session, author__kind="agent").exists()
        finally:
            blocker.rollback()
            set_lock_timeout(None)
    turn = wait_for(turn, (AgentTurn.Status.DONE, AgentTurn.Status.FAILED), 30)
    assert turn.status == AgentTurn.Status.DONE and turn.post_id is not None


# --- 3. enqueue failures never break the caller ------------------------------------------------
async def test_post_is_stored_and_acknowledged_while_the_broker_is_down_and_swept_later(
    worker, task_queue, debate, simulated_agent, alice, settings
):
    def setup():
        session = debate(rounds=1)
        me = services.join_session(alice, session.invite_token)
        services.add_agent(session, simulated_agent("Ada", seed=7))  # speaks after alice
        controls.control(session.participants.get(role="moderator"), "start")
        return session, me

    session, _ = await database_sync_to_async(setup)()
    async with ws_connect(alice, session.pk) as client:
        assert (await client.connect())[0]
        with broker_down():
            await client.send_to(
                json.dumps(
                    {"type": "post", "text": "Blue.", "client_msg_id": "b1", "answer": "Yes"}
                )
            )
            seen = await collect_until(client, lambda m: m["type"] == "ack")
            assert seen[-1]["client_msg_id"] == "b1" and not seen[-1]["duplicate"]

            def agents_turn(m):
                return (
                    m["type"] == "session.state"
                    and (m["state"]["current_speaker"] or {}).get("name") == "Ada"
                )

            # The state broadcast after the post still goes out: the agent's turn is next.
            if not any(agents_turn(m) for m in seen):
                await collect_until(client, agents_turn)
        turn = await database_sync_to_async(AgentTurn.objects.get)(session=session)
        assert turn.status == AgentTurn.Status.QUEUED and turn.attempts == 0
        assert queued_messages(task_queue) == 0  # its task never reached the broker
        # The broker is back: the sweeper sends the lost task and the worker runs the turn.
        settings.AGENT_TURN_RESEND_AFTER_SECONDS = 0
        assert (await database_sync_to_async(sweep_agent_turns)())["resent"] == 1
        await collect_until(client, agent_post)
    stored = Post.objects.filter(session=session, client_msg_id="b1").count
    assert await database_sync_to_async(stored)() == 1
    turn = await database_sync_to_async(AgentTurn.objects.get)(pk=turn.pk)
    assert turn.status == AgentTurn.Status.DONE and turn.attempts == 1


async def test_starting_while_the_broker_is_down_still_broadcasts_the_state(
    debate, alice, bob, moderator
):
    def setup():
        session = debate()
        services.join_session(alice, session.invite_token)
        services.join_session(bob, session.invite_token)
        return session

    session = await database_sync_to_async(setup)()
    async with ws_connect(moderator, session.pk) as client:
        assert (await client.connect())[0]
        with broker_down():  # the deadline's expiry task cannot be scheduled
            await client.send_to(json.dumps({"type": "control", "action": "start"}))
            await collect_until(
                client,
                lambda m: m["type"] == "session.state" and m["state"]["status"] == "running",
            )
        await client.send_to(json.dumps({"type": "ping"}))
        await collect_until(client, lambda m: m["type"] == "pong")
    deadline = TurnDeadline.objects.filter(session=session, status=TurnDeadline.Status.OPEN)
    assert await database_sync_to_async(deadline.exists)()  # the deadline sweeper fires it
