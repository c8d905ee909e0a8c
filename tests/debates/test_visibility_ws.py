"""What each viewer receives over the WebSocket: sealed answers, aliases, private opinions."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from deliberation.debates import controls, services
from deliberation.debates.models import Opinion, Post
from tests.conftest import ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


async def receive_type(comm, wanted: str, timeout: float = 3):
    while True:
        message = json.loads(await comm.receive_from(timeout=timeout))
        if message["type"] == wanted:
            return message


async def catch_up(comm) -> list[dict]:
    """The posts a fresh connection receives before its welcome."""
    posts = []
    while True:
        message = json.loads(await comm.receive_from(timeout=3))
        if message["type"] == "welcome":
            return posts
        if message["type"] == "post":
            posts.append(message["post"])


def people_session(moderator, alice, bob, protocol="simultaneous", **settings):
    session = services.create_session(
        moderator=moderator,
        title="Sealed",
        question="Is it?",
        options=["Yes", "No"],
        protocol=protocol,
        protocol_settings=settings,
    )
    a = services.join_session(alice, session.invite_token)
    b = services.join_session(bob, session.invite_token)
    mod = session.participants.get(role="moderator")
    controls.control(mod, "start")
    return session, a, b, mod


async def test_answers_of_an_open_simultaneous_round_arrive_sealed_then_revealed(
    moderator, alice, bob
):
    session, a, b, _ = await database_sync_to_async(people_session)(moderator, alice, bob, rounds=2)
    async with (
        ws_connect(bob, session.pk, "last_seq=0") as bob_ws,
        ws_connect(moderator, session.pk, "last_seq=0") as mod_ws,
    ):
        assert (await bob_ws.connect())[0] and (await mod_ws.connect())[0]
        await database_sync_to_async(services.submit_post)(
            a, "Secret reasoning.", answer="Yes", confidence=0.8
        )
        sealed = (await receive_type(bob_ws, "post"))["post"]
        while sealed["kind"] != "sealed":
            sealed = (await receive_type(bob_ws, "post"))["post"]
        assert sealed["text"] == "" and sealed["answer"] is None
        assert sealed["author"]["name"] == "alice" and sealed["sealed_until"] == "round"
        seen_by_mod = (await receive_type(mod_ws, "post"))["post"]
        while seen_by_mod["kind"] != "argument":
            seen_by_mod = (await receive_type(mod_ws, "post"))["post"]
        assert seen_by_mod["text"] == "Secret reasoning."
        # Bob answers; the round closes and alice's post is revealed to him in place.
        await database_sync_to_async(services.submit_post)(b, "Mine.", answer="No")
        revealed = (await receive_type(bob_ws, "post.revealed"))["post"]
        assert revealed["seq"] == sealed["seq"]
        assert revealed["text"] == "Secret reasoning." and revealed["answer"] == "Yes"
    # A late joiner catching up while round 2 is open gets round 1 in full.
    async with ws_connect(alice, session.pk, "last_seq=0") as alice_ws:
        assert (await alice_ws.connect())[0]
        posts = await catch_up(alice_ws)
        assert {p["text"] for p in posts if p["kind"] == "argument"} >= {"Mine."}


async def test_catch_up_during_an_open_round_keeps_answers_sealed(moderator, alice, bob):
    session, a, _, _ = await database_sync_to_async(people_session)(moderator, alice, bob)
    await database_sync_to_async(services.submit_post)(a, "Early answer.", answer="Yes")
    async with ws_connect(bob, session.pk, "last_seq=0") as bob_ws:
        assert (await bob_ws.connect())[0]
        kinds = [(post["kind"], post["text"]) for post in await catch_up(bob_ws)]
        assert ("sealed", "") in kinds
        assert all(text != "Early answer." for _, text in kinds)


async def test_anonymised_sessions_send_aliases_to_debaters_and_names_to_the_moderator(
    moderator, alice, bob
):
    session, a, _b, _ = await database_sync_to_async(people_session)(
        moderator, alice, bob, protocol="round_robin", anonymise=True
    )
    async with (
        ws_connect(bob, session.pk) as bob_ws,
        ws_connect(moderator, session.pk) as mod_ws,
    ):
        await bob_ws.connect()
        await mod_ws.connect()
        await database_sync_to_async(services.submit_post)(a, "Hello.", answer="Yes")
        to_bob = (await receive_type(bob_ws, "post"))["post"]
        assert to_bob["author"]["name"].startswith("Participant ")
        assert to_bob["author"]["kind"] == "participant"
        state = (await receive_type(bob_ws, "session.state"))["state"]
        assert all(p["name"] != "alice" for p in state["participants"])
        to_mod = (await receive_type(mod_ws, "post"))["post"]
        assert to_mod["author"]["name"] == "alice" and to_mod["author"]["kind"] == "human"


async def test_private_opinions_and_moderator_controls_over_the_socket(moderator, alice, bob):
    session, a, _b, _ = await database_sync_to_async(people_session)(
        moderator, alice, bob, protocol="round_robin"
    )
    async with ws_connect(alice, session.pk) as alice_ws, ws_connect(moderator, session.pk) as m:
        await alice_ws.connect()
        await m.connect()
        await alice_ws.send_to(json.dumps({"type": "opinion", "answer": "No", "confidence": 0.6}))
        saved = await receive_type(alice_ws, "opinion.saved")
        assert saved["round"]
        await alice_ws.send_to(json.dumps({"type": "opinion", "answer": "Maybe"}))
        assert (await receive_type(alice_ws, "error"))["code"] == "answer"
        # The moderator skips alice (whose turn it is) with a control frame.
        await m.send_to(json.dumps({"type": "control", "action": "skip", "participant_id": a.pk}))
        event = (await receive_type(m, "post"))["post"]
        assert event["kind"] == "event" and event["data"]["event"] == "skip"
        await m.send_to(
            json.dumps({"type": "control", "action": "extend", "participant_id": 0, "seconds": 9})
        )
        assert (await receive_type(m, "error"))["code"] == "participant"
    opinion = await database_sync_to_async(Opinion.objects.get)(participant=a)
    assert opinion.answer == "No" and opinion.confidence == 0.6
    assert not await database_sync_to_async(
        Post.objects.filter(session=session, text__icontains="opinion").exists
    )()
