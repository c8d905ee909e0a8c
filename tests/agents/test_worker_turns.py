"""Agent turns run by a real Celery worker on the real Redis broker, watched over a WebSocket."""

from __future__ import annotations

import json
import socket

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from deliberation.agents.models import AgentProfile, AgentTurn
from deliberation.agents.tasks import run_agent_turn
from deliberation.debates import controls, services
from deliberation.debates.models import Post
from tests.conftest import ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def collect_until(comm, predicate, timeout: float = 15) -> list[dict]:
    """Receive messages until one satisfies ``predicate``; return them all."""
    seen = []
    while True:
        message = json.loads(await comm.receive_from(timeout=timeout))
        seen.append(message)
        if predicate(message):
            return seen


def setup_session(debate, simulated_agent, alice, agent=None):
    agent = agent or simulated_agent("Ada", seed=7)
    session = debate(agents=[agent], rounds=1)
    services.join_session(alice, session.invite_token)  # speaks after the agent
    return session


async def test_agent_turn_streams_to_clients_and_the_protocol_moves_on(
    worker, debate, simulated_agent, alice, moderator
):
    session = await database_sync_to_async(setup_session)(debate, simulated_agent, alice)
    async with ws_connect(alice, session.pk) as client:
        assert (await client.connect())[0]
        mod = await database_sync_to_async(session.participants.get)(role="moderator")
        await database_sync_to_async(controls.control)(mod, "start")

        def agent_post(m):
            return m["type"] == "post" and (m["post"]["author"] or {}).get("kind") == "agent"

        messages = await collect_until(client, agent_post)
        started = [m for m in messages if m["type"] == "turn.started"]
        deltas = [m for m in messages if m["type"] == "turn.delta"]
        post = messages[-1]["post"]
        assert started and started[0]["turn"]["participant"]["name"] == "Ada"
        # Streamed in several batches, not one message per word, and adding up to the post.
        streamed = "".join(d["text"] for d in deltas)
        words = len(streamed.split())
        assert 2 <= len(deltas) < words
        # The post is the streamed reply without its closing ANSWER/CONFIDENCE lines.
        assert streamed.strip().startswith(post["text"]) and "ANSWER:" in streamed
        assert post["answer"] in ("Yes", "No") and 0 <= post["confidence"] <= 1
        rest = await collect_until(
            client,
            lambda m: (
                m["type"] == "session.state"
                and (m["state"]["current_speaker"] or {}).get("name") == "alice"
            ),
        )
        assert any(m["type"] == "turn.ended" for m in messages + rest)

    turn = await database_sync_to_async(AgentTurn.objects.get)(session=session)
    assert turn.status == AgentTurn.Status.DONE and turn.attempts == 1
    assert turn.prompt[0]["role"] == "system" and "Is the sky blue?" in turn.prompt[1]["content"]
    assert turn.reply == streamed
    assert turn.completion_tokens == words and turn.prompt_tokens > 0
    assert turn.latency_ms is not None and turn.model == "simulated-1"


async def test_duplicate_delivery_never_posts_twice(worker, debate, simulated_agent, alice):
    session = await database_sync_to_async(setup_session)(debate, simulated_agent, alice)
    async with ws_connect(alice, session.pk) as client:
        await client.connect()
        mod = await database_sync_to_async(session.participants.get)(role="moderator")
        await database_sync_to_async(controls.control)(mod, "start")
        turn = await database_sync_to_async(AgentTurn.objects.get)(session=session)
        # The broker delivers the same task twice more (e.g. after a visibility timeout).
        await sync_to_async(run_agent_turn.delay)(turn.pk)
        await sync_to_async(run_agent_turn.delay)(turn.pk)
        await collect_until(
            client,
            lambda m: (
                m["type"] == "session.state"
                and (m["state"]["current_speaker"] or {}).get("name") == "alice"
            ),
        )
        # Let the duplicates run through the (solo) worker, then count.
        await client.receive_nothing(timeout=1.0)
    count = await database_sync_to_async(
        Post.objects.filter(session=session, author__kind="agent").count
    )()
    assert count == 1


async def test_failing_backend_is_retried_then_marked_failed_and_the_session_goes_on(
    worker, debate, simulated_agent, alice, settings
):
    settings.DELIBERATION = {**settings.DELIBERATION, "AGENT_TURN_MAX_ATTEMPTS": 3}
    broken = await database_sync_to_async(AgentProfile.objects.create)(
        name="Broken",
        backend="openai",
        model="gpt-test",
        base_url=f"http://127.0.0.1:{closed_port()}/v1",
        max_retries=0,
        timeout_seconds=2,
    )
    session = await database_sync_to_async(setup_session)(
        debate, simulated_agent, alice, agent=broken
    )
    async with ws_connect(alice, session.pk) as client:
        await client.connect()
        mod = await database_sync_to_async(session.participants.get)(role="moderator")
        await database_sync_to_async(controls.control)(mod, "start")
        messages = await collect_until(
            client,
            lambda m: (
                m["type"] == "session.state"
                and (m["state"]["current_speaker"] or {}).get("name") == "alice"
            ),
            timeout=20,
        )
    notice = [m["post"] for m in messages if m["type"] == "post" and m["post"]["kind"] == "system"]
    assert any("Broken's turn failed after 3 attempts" in p["text"] for p in notice)
    assert sum(m["type"] == "turn.started" for m in messages) == 3
    turn = await database_sync_to_async(AgentTurn.objects.get)(session=session)
    assert turn.status == AgentTurn.Status.FAILED and turn.attempts == 3
    assert turn.error and turn.post_id is None
