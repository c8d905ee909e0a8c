"""Experimental conditions over the real stack: a person, an observer and agents run by a real
Celery worker, each watching the session WebSocket (JSON and HTML formats).

- A reply that becomes a sealed post never streams to a viewer who may not see that post.
- In an anonymised session no frame to a participant carries a real name or kind.
"""

from __future__ import annotations

import json
import re
import socket

import pytest
from channels.db import database_sync_to_async

from deliberation.agents.models import AgentProfile
from deliberation.debates import controls, services
from deliberation.debates.models import DebateSession, Post
from tests.conftest import ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


def join_as(user, session: DebateSession, role: str):
    session.join_role = role
    session.save(update_fields=["join_role"])
    return services.join_session(user, session.invite_token)


async def frames_until(comm, predicate, timeout: float = 20) -> list[str]:
    """Raw frames until one (decoded as JSON when it is) satisfies ``predicate``."""
    seen = []
    while True:
        raw = await comm.receive_from(timeout=timeout)
        seen.append(raw)
        try:
            message = json.loads(raw)
        except ValueError:
            message = {"html": raw}
        if predicate(message):
            return seen


def decoded(frames: list[str]) -> list[dict]:
    return [json.loads(f) for f in frames]


def people_and_agents(moderator, alice, carol, simulated_agent, protocol, **settings):
    session = services.create_session(
        moderator=moderator,
        title="Integrity",
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol=protocol,
        protocol_settings=settings,
        agent_profiles=[simulated_agent("Ada", seed=3), simulated_agent("Bo", seed=4)],
    )
    debater = join_as(alice, session, "debater")
    join_as(carol, session, "observer")
    return session, debater


@pytest.mark.parametrize(
    "protocol,protocol_settings",
    [("simultaneous", {"rounds": 2}), ("round_table", {"rounds": 2}), ("vote_only", {})],
)
async def test_sealed_replies_do_not_stream_to_those_who_may_not_see_them(
    worker, moderator, alice, make_user, simulated_agent, protocol, protocol_settings
):
    carol = await database_sync_to_async(make_user)("carol")
    session, debater = await database_sync_to_async(people_and_agents)(
        moderator, alice, carol, simulated_agent, protocol, **protocol_settings
    )
    mod = await database_sync_to_async(session.participants.get)(role="moderator")
    async with (
        ws_connect(moderator, session.pk) as mod_ws,
        ws_connect(alice, session.pk) as alice_ws,
        ws_connect(carol, session.pk) as carol_ws,
        ws_connect(alice, session.pk, "format=html") as alice_html,
    ):
        for ws in (mod_ws, alice_ws, carol_ws, alice_html):
            assert (await ws.connect())[0]
        await database_sync_to_async(controls.control)(mod, "start")

        def agent_posts(n):
            count = 0

            def done(m):
                nonlocal count
                post = m.get("post") or {}
                count += m.get("type") == "post" and (post.get("author") or {}).get("kind") in (
                    "agent",
                    "participant",
                )
                return count == n

            return done

        to_mod = decoded(await frames_until(mod_ws, agent_posts(2)))
        to_alice = decoded(await frames_until(alice_ws, agent_posts(2)))
        to_carol = decoded(await frames_until(carol_ws, agent_posts(2)))
        agent_text = await database_sync_to_async(
            lambda: [p.text for p in Post.objects.filter(session=session, author__kind="agent")]
        )()
        # The moderator watches both replies stream in.
        assert sum(m["type"] == "turn.delta" for m in to_mod) >= 2
        assert all(not m["turn"]["sealed"] for m in to_mod if m["type"] == "turn.started")
        # The debater and the observer learn only that each agent is writing.
        for frames in (to_alice, to_carol):
            started = [m["turn"] for m in frames if m["type"] == "turn.started"]
            assert len(started) == 2 and all(t["sealed"] for t in started)
            assert not [m for m in frames if m["type"] == "turn.delta"]
            posts = [m["post"] for m in frames if m["type"] == "post"]
            by_agents = [p for p in posts if (p["author"] or {}).get("kind") == "agent"]
            assert [p["kind"] for p in by_agents] == ["sealed", "sealed"]
            dumped = json.dumps(frames)
            assert not any(text[:40] in dumped for text in agent_text)
        # The HTML format too: the streaming card has no text area, no fragment carries text.
        html = await _drain(alice_html)
        assert "is writing" in html and not re.search(r'id="turn-\d+-text"', html)
        assert not any(text[:40] in html for text in agent_text)
        # The person answers; the round closes (or the session ends) and the text is revealed.
        await database_sync_to_async(services.submit_post)(debater, "Mine.", answer="Yes")
        revealed = [
            m["post"]
            for m in decoded(
                await frames_until(
                    alice_ws,
                    lambda m: (
                        m.get("type") == "post.revealed" and m["post"]["author"]["kind"] == "agent"
                    ),
                )
            )
            if m["type"] == "post.revealed"
        ]
        assert revealed[-1]["text"] in agent_text


async def _drain(comm, quiet: float = 0.5) -> str:
    """Everything received until the socket stays quiet for ``quiet`` seconds."""
    out = ""
    while not await comm.receive_nothing(timeout=quiet):
        out += await comm.receive_from()
    return out


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def anonymised_session(moderator, alice, carol, simulated_agent):
    broken = AgentProfile.objects.create(
        name="Brokenbot",
        backend="openai",
        model="gpt-secret-model",
        base_url=f"http://127.0.0.1:{closed_port()}/v1",
        max_retries=0,
        timeout_seconds=2,
    )
    session = services.create_session(
        moderator=moderator,
        title="Anonymous",
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol="round_robin",
        protocol_settings={"rounds": 1, "anonymise": True},
        agent_profiles=[simulated_agent("Adabot", seed=3, model="sim-secret"), broken],
    )
    debater = join_as(alice, session, "debater")
    join_as(carol, session, "observer")
    return session, debater


async def test_no_frame_of_an_anonymised_session_names_anyone(
    worker, moderator, alice, make_user, simulated_agent, settings
):
    settings.DELIBERATION = {**settings.DELIBERATION, "AGENT_TURN_MAX_ATTEMPTS": 2}
    carol = await database_sync_to_async(make_user)("carol")
    session, debater = await database_sync_to_async(anonymised_session)(
        moderator, alice, carol, simulated_agent
    )
    mod = await database_sync_to_async(session.participants.get)(role="moderator")
    secrets = ("Adabot", "Brokenbot", "alice", "carol", "sim-secret", "gpt-secret", "127.0.0.1")

    def alice_turn(m):
        return m.get("type") == "session.state" and (m["state"]["mine"] or {}) != {}

    async with (
        ws_connect(alice, session.pk, "last_seq=0") as alice_ws,
        ws_connect(carol, session.pk, "last_seq=0") as carol_ws,
        ws_connect(alice, session.pk, "format=html&last_seq=0") as alice_html,
        ws_connect(moderator, session.pk, "last_seq=0") as mod_ws,
    ):
        for ws in (alice_ws, carol_ws, alice_html, mod_ws):
            assert (await ws.connect())[0]
        await database_sync_to_async(controls.control)(mod, "start")
        to_alice = await frames_until(alice_ws, alice_turn)
        # The moderator skips alice's turn: the skip is written with her alias too.
        await database_sync_to_async(controls.control)(mod, "skip", participant_id=debater.pk)
        to_alice += await frames_until(
            alice_ws,
            lambda m: m.get("type") == "session.state" and m["state"]["status"] == "finished",
        )
        to_carol = await frames_until(
            carol_ws,
            lambda m: m.get("type") == "session.state" and m["state"]["status"] == "finished",
        )
        html = await _drain(alice_html, quiet=1.0)
        to_mod = await frames_until(
            mod_ws,
            lambda m: m.get("type") == "session.state" and m["state"]["status"] == "finished",
        )
    kinds = [json.loads(f)["type"] for f in to_alice]
    assert {"turn.started", "turn.delta", "post"} <= set(kinds)
    notices = [json.loads(f)["post"] for f in to_alice if json.loads(f)["type"] == "post"]
    failed = [p for p in notices if "failed" in p["text"]]
    assert failed and "Participant" in failed[0]["text"] and "detail" not in failed[0]["data"]
    skipped = [p for p in notices if p["kind"] == "event" and "skipped" in p["text"]]
    assert skipped and "Participant" in skipped[0]["text"]
    for me, frames in (("alice", to_alice), ("carol", to_carol)):
        for frame in frames:
            for secret in secrets:
                if secret != me:
                    assert secret not in frame, (me, secret, frame[:300])
            for person in _people(json.loads(frame)):
                # Only the viewer themself and the moderator appear as who they are.
                if person["name"] != me and person["role"] != "moderator":
                    assert person["name"].startswith("Participant "), (me, person)
                    assert person["kind"] == "participant", (me, person)
    for secret in secrets:
        if secret != "alice":
            assert secret not in html, (secret, html)
    assert "badge agent" not in html and "by-agent" not in html
    # The moderator still sees who is who, and the provider's error.
    to_mod_text = "".join(to_mod)
    assert "Adabot" in to_mod_text and '"detail"' in to_mod_text


def _people(value) -> list[dict]:
    """Every participant record (a dict with a name, a kind and a role) inside a frame."""
    if isinstance(value, dict):
        found = [value] if {"name", "kind", "role"} <= value.keys() else []
        return found + [p for v in value.values() for p in _people(v)]
    if isinstance(value, list):
        return [p for v in value for p in _people(v)]
    return []
