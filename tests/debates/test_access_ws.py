"""An open socket keeps no rights it lost: removal, deactivation, and finished transcripts."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from deliberation.debates import controls, services
from deliberation.debates.models import Opinion, Participant, Post
from tests.conftest import ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


def running_session(moderator, alice):
    session = services.create_session(
        moderator=moderator,
        title="Access",
        question="Is it?",
        options=["Yes", "No"],
        protocol="round_robin",
        protocol_settings={"rounds": 1},
    )
    debater = services.join_session(alice, session.invite_token)
    controls.control(session.participants.get(role="moderator"), "start")
    return session, debater


async def closed_with(comm) -> int | None:
    """The close code of the next close frame (skipping ordinary frames)."""
    while True:
        output = await comm.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            return output.get("code")


async def test_a_removed_participant_is_disconnected_at_once(moderator, alice):
    session, debater = await database_sync_to_async(running_session)(moderator, alice)
    async with ws_connect(alice, session.pk) as ws:
        assert (await ws.connect())[0]
        await database_sync_to_async(lambda: Participant.objects.get(pk=debater.pk).delete())()
        assert await closed_with(ws) == 4403


async def test_a_deactivated_account_is_disconnected_at_once(moderator, alice):
    session, _ = await database_sync_to_async(running_session)(moderator, alice)
    async with ws_connect(alice, session.pk) as ws:
        assert (await ws.connect())[0]
        alice.is_active = False
        await database_sync_to_async(alice.save)()
        assert await closed_with(ws) == 4403


async def test_a_socket_that_missed_the_news_is_refused_on_its_next_frame(moderator, alice):
    session, _ = await database_sync_to_async(running_session)(moderator, alice)
    async with ws_connect(alice, session.pk) as ws:
        assert (await ws.connect())[0]
        # A bulk update sends no signal, as when an operator edits the database directly.
        await database_sync_to_async(type(alice).objects.filter(pk=alice.pk).update)(
            is_active=False
        )
        await ws.send_to(json.dumps({"type": "post", "text": "Still here?", "answer": "Yes"}))
        assert await closed_with(ws) == 4403
    assert not await database_sync_to_async(
        Post.objects.filter(session=session, text="Still here?").exists
    )()


async def test_private_opinions_are_read_only_once_the_session_finished(moderator, alice):
    session, debater = await database_sync_to_async(running_session)(moderator, alice)
    await database_sync_to_async(services.submit_opinion)(debater, answer="Yes", confidence=0.7)
    mod = await database_sync_to_async(session.participants.get)(role="moderator")
    await database_sync_to_async(controls.control)(mod, "end")
    async with ws_connect(alice, session.pk) as ws:
        assert (await ws.connect())[0]
        await ws.send_to(json.dumps({"type": "opinion", "answer": "No", "confidence": 0.9}))
        while True:
            frame = json.loads(await ws.receive_from(timeout=3))
            if frame["type"] == "error":
                break
        assert frame["code"] == "finished"

    def over_the_api():
        client = Client()
        client.force_login(alice)
        return client.post(
            f"/api/v1/sessions/{session.pk}/opinions/",
            {"answer": "No"},
            content_type="application/json",
        )

    response = await database_sync_to_async(over_the_api)()
    assert response.status_code in (403, 409), response.content
    opinion = await database_sync_to_async(Opinion.objects.get)(participant=debater)
    assert opinion.answer == "Yes" and opinion.confidence == 0.7
