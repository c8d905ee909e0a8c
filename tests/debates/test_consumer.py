"""The session WebSocket over the real Redis channel layer and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from deliberation.asgi import application
from deliberation.debates import controls, services
from deliberation.debates.models import Post
from tests.conftest import session_cookie, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


async def receive_type(comm, wanted: str, timeout: float = 3):
    """Next message of type ``wanted``, skipping others (state updates, welcome...)."""
    while True:
        message = json.loads(await comm.receive_from(timeout=timeout))
        if message["type"] == wanted:
            return message


async def receive_posts(comm, count: int, timeout: float = 3) -> list[dict]:
    return [(await receive_type(comm, "post", timeout))["post"] for _ in range(count)]


@pytest.fixture
def running_debate(debate, alice, bob):
    """A running session where alice speaks first and bob second."""

    def make(**kwargs):
        session = debate(**kwargs)
        a = services.join_session(alice, session.invite_token)
        b = services.join_session(bob, session.invite_token)
        controls.control(session.participants.get(role="moderator"), "start")
        return session, a, b

    return make


async def test_post_from_one_participant_reaches_the_other(running_debate, alice, bob):
    session, _, _ = await database_sync_to_async(running_debate)()
    async with ws_connect(alice, session.pk) as a, ws_connect(bob, session.pk) as b:
        assert (await a.connect())[0] and (await b.connect())[0]
        await receive_type(a, "welcome")
        await receive_type(b, "welcome")
        await a.send_to(
            json.dumps(
                {
                    "type": "post",
                    "text": "The sky scatters blue light.",
                    "client_msg_id": "m1",
                    "answer": "Yes",
                    "confidence": 0.9,
                }
            )
        )
        ack = await receive_type(a, "ack")
        assert ack["client_msg_id"] == "m1" and ack["duplicate"] is False
        post = (await receive_posts(b, 1))[0]
        assert post["text"] == "The sky scatters blue light."
        assert post["author"]["name"] == "alice" and post["author"]["kind"] == "human"
        assert post["answer"] == "Yes" and post["confidence"] == 0.9
        assert post["seq"] == ack["seq"]
        # The turn moved on to bob, and everyone is told.
        state = await receive_type(b, "session.state")
        assert state["state"]["current_speaker"]["name"] == "bob"


async def test_not_your_turn_is_refused_without_losing_the_connection(running_debate, bob):
    session, _, _ = await database_sync_to_async(running_debate)()
    async with ws_connect(bob, session.pk) as b:
        await b.connect()
        await b.send_to(json.dumps({"type": "post", "text": "Me first!", "client_msg_id": "x"}))
        error = await receive_type(b, "error")
        assert error["code"] == "not_your_turn" and "alice" in error["message"]
        assert error["client_msg_id"] == "x"
        await b.send_to(json.dumps({"type": "ping"}))
        assert (await receive_type(b, "pong"))["type"] == "pong"
    assert not await database_sync_to_async(Post.objects.filter(text="Me first!").exists)()


async def test_observer_cannot_post(debate, alice, moderator):
    session = await database_sync_to_async(debate)(join_role="observer")
    await database_sync_to_async(services.join_session)(alice, session.invite_token)
    async with ws_connect(alice, session.pk) as a:
        assert (await a.connect())[0]
        await a.send_to(json.dumps({"type": "post", "text": "hello", "client_msg_id": "o1"}))
        error = await receive_type(a, "error")
        assert error["code"] == "forbidden"
    assert await database_sync_to_async(Post.objects.filter(text="hello").count)() == 0


async def test_stranger_and_anonymous_cannot_connect(debate, make_user):
    session = await database_sync_to_async(debate)()
    stranger = await database_sync_to_async(make_user)("stranger")
    async with ws_connect(stranger, session.pk) as s:
        connected, code = await s.connect()
        assert not connected and code == 4403
    async with ws_connect(None, session.pk) as anon:
        connected, code = await anon.connect()
        assert not connected and code == 4401


async def test_foreign_origin_is_rejected(debate, moderator):
    session = await database_sync_to_async(debate)()
    async with ws_connect(moderator, session.pk, origin="http://evil.example") as m:
        connected, _ = await m.connect()
        assert not connected


async def test_reconnect_with_last_seq_catches_up_exactly_once_in_order(running_debate, alice, bob):
    session, a_part, b_part = await database_sync_to_async(running_debate)(rounds=3)
    mod = await database_sync_to_async(session.participants.get)(role="moderator")

    def say(participant, text):
        return services.submit_post(participant, text).post.seq

    # bob saw everything up to now, then went away while three more posts were made.
    seen = await database_sync_to_async(services.last_seq)(session.pk)
    await database_sync_to_async(say)(a_part, "alice 1")
    await database_sync_to_async(say)(b_part, "bob 1")
    await database_sync_to_async(say)(mod, "note from the moderator")
    async with ws_connect(bob, session.pk, f"last_seq={seen}") as b:
        await b.connect()
        # A live post arriving right after the catch-up is delivered once, after it.
        await database_sync_to_async(say)(a_part, "alice 2")
        missed = []
        while True:
            post = (await receive_type(b, "post"))["post"]
            missed.append(post)
            if post["text"] == "alice 2":
                break
        texts = [p["text"] for p in missed if p["kind"] != "system"]
        assert texts == ["alice 1", "bob 1", "note from the moderator", "alice 2"]
        seqs = [p["seq"] for p in missed]
        assert seqs == list(range(seen + 1, seen + 1 + len(seqs)))
        # Nothing is delivered twice: whatever else arrives is state, not posts.
        while not await b.receive_nothing(timeout=0.3):
            assert json.loads(await b.receive_from())["type"] != "post"


async def test_replayed_client_message_id_creates_no_duplicate(running_debate, alice):
    session, _, _ = await database_sync_to_async(running_debate)()
    async with ws_connect(alice, session.pk) as a:
        await a.connect()
        frame = json.dumps({"type": "post", "text": "Only once", "client_msg_id": "same-id"})
        await a.send_to(frame)
        first = await receive_type(a, "ack")
        await a.send_to(frame)  # e.g. the client retried after a dropped connection
        second = await receive_type(a, "ack")
        assert second["duplicate"] is True and second["seq"] == first["seq"]
    assert await database_sync_to_async(Post.objects.filter(text="Only once").count)() == 1


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "malformed"),
        ("[1, 2, 3]", "malformed"),
        (json.dumps({"type": "post", "text": 42}), "malformed"),
        (json.dumps({"type": "post", "text": "   "}), "empty"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "post", "text": "x" * 5000}), "too_long"),
        (json.dumps({"type": "post", "text": "y" * 40000}), "frame_too_large"),
        (json.dumps({"type": "post", "text": "ok", "answer": "Maybe"}), "answer"),
        (json.dumps({"type": "post", "text": "ok", "confidence": 7}), "confidence"),
        # Text PostgreSQL cannot store is refused at the socket (as the API refuses it).
        pytest.param(json.dumps({"type": "post", "text": "nul \x00 here"}), "malformed", id="nul"),
        pytest.param(
            json.dumps({"type": "post", "text": "lone \ud800 surrogate"}),
            "malformed",
            id="surrogate",
        ),
        pytest.param(
            json.dumps({"type": "post", "text": "ok", "answer": {"\x00": 1}}),
            "malformed",
            id="nul-key",
        ),
        # Nesting deep enough to exhaust the parser, or merely deeper than any frame needs.
        pytest.param("[" * 15000 + "]" * 15000, "malformed", id="nesting-15000"),
        pytest.param(
            '{"type": "post", "text": "ok", "answer": ' + "[" * 40 + "]" * 40 + "}",
            "malformed",
            id="nesting-40",
        ),
        pytest.param(
            json.dumps({"type": "post", "text": "ok", "client_msg_id": "i" * 65}),
            "client_msg_id",
            id="client-msg-id-65",
        ),
        pytest.param(
            json.dumps({"type": "post", "text": "ok", "client_msg_id": ["a"]}),
            "client_msg_id",
            id="client-msg-id-list",
        ),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_stays_usable(
    running_debate, alice, frame, code
):
    session, _, _ = await database_sync_to_async(running_debate)()
    async with ws_connect(alice, session.pk) as a:
        await a.connect()
        await a.send_to(frame)
        assert (await receive_type(a, "error"))["code"] == code
        await a.send_to(json.dumps({"type": "post", "text": "Still here", "client_msg_id": "k"}))
        assert (await receive_type(a, "ack"))["client_msg_id"] == "k"


async def test_moderator_controls_over_the_socket(debate, moderator, alice):
    session = await database_sync_to_async(debate)()
    await database_sync_to_async(services.join_session)(alice, session.invite_token)
    async with ws_connect(moderator, session.pk) as m, ws_connect(alice, session.pk) as a:
        await m.connect()
        await a.connect()
        await a.send_to(json.dumps({"type": "control", "action": "start"}))
        assert (await receive_type(a, "error"))["code"] == "forbidden"
        await m.send_to(json.dumps({"type": "control", "action": "start"}))
        state = (await receive_type(a, "session.state"))["state"]
        assert state["status"] == "running" and state["round"] == 1
        assert state["current_speaker"]["name"] == "alice"


async def test_html_format_renders_escaped_fragments_for_htmx(running_debate, alice, bob):
    session, _, _ = await database_sync_to_async(running_debate)()
    async with (
        ws_connect(alice, session.pk, "format=html") as a,
        ws_connect(bob, session.pk, "format=html") as b,
    ):
        await a.connect()
        await b.connect()
        await a.send_to(
            json.dumps(
                {
                    "type": "post",
                    "text": "<script>alert(1)</script>",
                    "client_msg_id": "h1",
                    "HEADERS": {"HX-Request": "true"},
                }
            )
        )
        fragments = [await b.receive_from(timeout=3) for _ in range(2)]
        post_html = next(f for f in fragments if "beforeend:#transcript" in f)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in post_html
        assert "<script>" not in post_html
        ack = await a.receive_from(timeout=3)
        assert 'id="post-fields"' in ack and 'hx-swap-oob="true"' in ack


async def test_long_client_msg_id_is_refused_never_cut(running_debate, alice):
    """Two ids sharing their first 64 characters must not collide: the second post is not
    taken for a retry of the first."""
    session, _, _ = await database_sync_to_async(running_debate)()
    prefix = "p" * 64
    async with ws_connect(alice, session.pk) as a:
        await a.connect()
        await a.send_to(
            json.dumps({"type": "post", "text": "first", "client_msg_id": prefix + "1"})
        )
        error = await receive_type(a, "error")
        assert error["code"] == "client_msg_id" and error["client_msg_id"] == prefix + "1"
        await a.send_to(json.dumps({"type": "post", "text": "fits", "client_msg_id": prefix}))
        assert (await receive_type(a, "ack"))["client_msg_id"] == prefix
    texts = await database_sync_to_async(
        lambda: list(Post.objects.filter(session=session, kind="argument").values_list("text"))
    )()
    assert texts == [("fits",)]


async def test_welcome_carries_the_state_as_this_viewer_sees_it(running_debate, alice, bob):
    """A debater who reconnects after their turn began learns it from ``welcome``."""
    session, a_part, _ = await database_sync_to_async(running_debate)()
    async with ws_connect(alice, session.pk, "last_seq=0") as a, ws_connect(bob, session.pk) as b:
        assert (await a.connect())[0] and (await b.connect())[0]
        welcome = await receive_type(a, "welcome")
        state = welcome["state"]
        assert state["status"] == "running" and state["round"] == 1
        assert state["mine"]["participant"]["id"] == a_part.pk
        assert state["current_speaker"]["name"] == "alice"
        assert (await receive_type(b, "welcome"))["state"]["mine"] is None


async def test_a_session_id_that_is_not_a_number_closes_cleanly(alice):
    for bad in ("abc", "0", "99999999999999999999"):
        async with ws_connect(alice, bad) as s:
            connected, code = await s.connect()
            assert not connected and code == 4404


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:8080",  # another port of the same host: another origin
        "https://localhost",  # another scheme
        "http://localhost.evil.example",
        "null",
    ],
)
async def test_an_origin_that_differs_in_scheme_or_port_is_rejected(debate, moderator, origin):
    session = await database_sync_to_async(debate)()
    async with ws_connect(moderator, session.pk, origin=origin) as m:
        connected, _ = await m.connect()
        assert not connected


async def test_trusted_origins_and_a_tls_proxy_are_accepted(debate, moderator, settings):
    session = await database_sync_to_async(debate)()
    async with ws_connect(moderator, session.pk, origin="http://localhost:80") as m:
        assert (await m.connect())[0]  # the default port is the same origin
    # Another origin (an allowed host) that the operator trusts.
    async with ws_connect(moderator, session.pk, origin="https://127.0.0.1:8443") as m:
        assert not (await m.connect())[0]
    settings.CSRF_TRUSTED_ORIGINS = ["https://127.0.0.1:8443"]
    async with ws_connect(moderator, session.pk, origin="https://127.0.0.1:8443") as m:
        assert (await m.connect())[0]
    settings.CSRF_TRUSTED_ORIGINS = []
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    cookie = await database_sync_to_async(session_cookie)(moderator)
    comm = WebsocketCommunicator(
        application,
        f"/ws/sessions/{session.pk}/",
        headers=[
            (b"origin", b"https://localhost"),
            (b"host", b"localhost"),
            (b"x-forwarded-proto", b"https"),
            (b"cookie", f"sessionid={cookie}".encode()),
        ],
    )
    assert (await comm.connect())[0]
    await comm.disconnect()
