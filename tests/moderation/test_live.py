"""The moderator's live metrics socket: one update per change, moderators and staff only."""

from __future__ import annotations

import asyncio
import json
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from deliberation.asgi import application
from deliberation.debates import services
from deliberation.moderation import live
from tests.conftest import session_cookie

from .conftest import play_round

pytestmark = pytest.mark.django_db(transaction=True)


def moderator_socket(user, session_id: int, fmt: str = "json") -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if user is not None:
        headers.append((b"cookie", f"sessionid={session_cookie(user)}".encode()))
    return WebsocketCommunicator(
        application, f"/ws/sessions/{session_id}/moderator/?format={fmt}", headers=headers
    )


async def test_a_stored_post_sends_one_metrics_update_to_the_moderator(people_debate, moderator):
    session, people = await database_sync_to_async(people_debate)(3, rounds=2)
    comm = await database_sync_to_async(moderator_socket)(moderator, session.pk)
    connected, _ = await comm.connect()
    assert connected
    first = json.loads(await comm.receive_from(timeout=5))
    assert first["type"] == "metrics.updated"
    assert first["metrics"]["rounds"][0]["answers"] == 0
    with mock.patch.object(live, "session_metrics", wraps=live.session_metrics) as compute:
        await database_sync_to_async(services.submit_post)(
            people[0], "Blue, by scattering.", answer="Yes", confidence=0.8
        )
        update = json.loads(await comm.receive_from(timeout=5))
        assert await comm.receive_nothing(timeout=0.5)  # exactly one update for one post
    assert compute.call_count == 1  # computed once for the change, not per viewer
    assert update["type"] == "metrics.updated"
    assert update["metrics"]["rounds"][0]["answers"] == 1
    assert update["metrics"]["last_seq"] > first["metrics"]["last_seq"]
    await comm.disconnect()


async def test_html_format_swaps_the_panel_out_of_band(people_debate, moderator):
    session, people = await database_sync_to_async(people_debate)(2, rounds=1)
    comm = await database_sync_to_async(moderator_socket)(moderator, session.pk, "html")
    assert (await comm.connect())[0]
    initial = await comm.receive_from(timeout=5)
    assert 'id="metrics-panel"' in initial and 'hx-swap-oob="true"' in initial
    await database_sync_to_async(play_round)(people, ["Yes", "No"])
    frames = []
    while not await comm.receive_nothing(timeout=0.5):
        frames.append(await comm.receive_from(timeout=1))
    assert frames and all('hx-swap-oob="true"' in f for f in frames)
    assert 'data-status="finished"' in frames[-1]
    assert 'data-metric="answers-1">2<' in frames[-1]
    await comm.disconnect()


async def test_two_moderator_sockets_share_one_computation(people_debate, moderator, make_user):
    session, people = await database_sync_to_async(people_debate)(2, rounds=1)
    staff = await database_sync_to_async(make_user)("staffer")
    staff.is_staff = True
    await database_sync_to_async(staff.save)()
    socks = [
        await database_sync_to_async(moderator_socket)(user, session.pk)
        for user in (moderator, staff)
    ]
    for comm in socks:
        assert (await comm.connect())[0]
        await comm.receive_from(timeout=5)
    with mock.patch.object(live, "session_metrics", wraps=live.session_metrics) as compute:
        await database_sync_to_async(services.submit_post)(people[0], "Yes.", answer="Yes")
        for comm in socks:
            assert json.loads(await comm.receive_from(timeout=5))["type"] == "metrics.updated"
            assert await comm.receive_nothing(timeout=0.3)
    assert compute.call_count == 1
    await asyncio.gather(*(comm.disconnect() for comm in socks))


async def test_debaters_and_strangers_cannot_connect(people_debate, make_user):
    session, people = await database_sync_to_async(people_debate)(2, rounds=1)
    debater_user = await database_sync_to_async(lambda: people[0].user)()
    stranger = await database_sync_to_async(make_user)("stranger")
    for user, code in ((debater_user, 4403), (stranger, 4403), (None, 4401)):
        comm = await database_sync_to_async(moderator_socket)(user, session.pk)
        connected, close_code = await comm.connect()
        assert not connected and close_code == code
