"""Sessions through the HTTP API: the same services, permissions and visibility as the pages."""

from __future__ import annotations

import pytest

from deliberation.agents.services import run_locally
from deliberation.debates.models import DebateSession, Post

pytestmark = pytest.mark.django_db(transaction=True)


def _run(call):
    """Make the request, then run every agent turn it leads to in this process."""
    out = []
    run_locally(lambda: out.append(call()))
    return out[0]


def _create(client, **overrides):
    body = {
        "title": "Sky",
        "question": "Is the sky blue?",
        "answer_format": "single_choice",
        "options": ["Yes", "No"],
        "protocol": "simultaneous",
        "settings": {"rounds": 1},
        "agents": ["sim:accuracy=1.0,seed=1", "sim:accuracy=1.0,seed=2"],
        "gold_answer": "Yes",
        **overrides,
    }
    return client.post("/api/v1/sessions/", body, format="json")


def test_a_whole_session_through_the_api(api_as, moderator, alice):
    mod, deb = api_as(moderator), api_as(alice)
    created = _create(mod)
    assert created.status_code == 201, created.json()
    session = created.json()
    assert session["status"] == "draft" and session["me"]["role"] == "moderator"
    assert [p["kind"] for p in session["state"]["participants"]] == ["human", "agent", "agent"]

    joined = deb.post("/api/v1/sessions/join/", {"invite_token": session["invite_token"]})
    assert joined.status_code == 200, joined.json()
    assert joined.json()["me"]["role"] == "debater"
    assert joined.json()["invite_token"] is None and joined.json()["gold_answer"] is None

    sid = session["id"]
    started = _run(lambda: mod.post(f"/api/v1/sessions/{sid}/control/", {"action": "start"}))
    assert started.status_code == 200, started.json()
    posted = deb.post(
        f"/api/v1/sessions/{sid}/posts/",
        {"text": "Blue, by Rayleigh scattering.", "answer": "Yes", "confidence": 0.9},
        format="json",
    )
    assert posted.status_code == 201, posted.json()
    assert posted.json()["answer"] == "Yes" and posted.json()["seq"] > 0

    detail = mod.get(f"/api/v1/sessions/{sid}/").json()
    assert detail["status"] == "finished"
    assert detail["state"]["outcome"]["final"]["answer"] == "Yes"

    transcript = mod.get(f"/api/v1/sessions/{sid}/posts/").json()
    stored = list(Post.objects.filter(session_id=sid).order_by("seq").values_list("seq", "text"))
    assert [(p["seq"], p["text"]) for p in transcript["results"]] == stored
    assert transcript["last_seq"] == stored[-1][0] and transcript["next_after"] is None

    metrics = mod.get(f"/api/v1/sessions/{sid}/metrics/")
    assert metrics.status_code == 200
    assert deb.get(f"/api/v1/sessions/{sid}/metrics/").status_code == 403

    decided = mod.post(
        f"/api/v1/sessions/{sid}/adjudication/",
        {"answer": "Yes", "rationale": "Everyone agrees.", "posts": [posted.json()["seq"]]},
        format="json",
    )
    assert decided.status_code == 201, decided.json()
    assert decided.json()["current"]["number"] == 1 and not decided.json()["published"]
    assert deb.get(f"/api/v1/sessions/{sid}/adjudication/").json()["current"] is None
    assert mod.post(f"/api/v1/sessions/{sid}/adjudication/publish/").status_code == 200
    seen = deb.get(f"/api/v1/sessions/{sid}/adjudication/").json()
    assert seen["published"] and seen["current"]["final_answer"] == "Yes"
    assert DebateSession.objects.get(pk=sid).adjudication.published_at is not None


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"question": ""}, "question", "blank"),
        ({"options": ["Yes"]}, "options", "two options"),
        ({"options": ["Yes", "yes"]}, "options", "distinct"),
        ({"settings": {"rounds": 0}}, "settings", "rounds"),
        ({"settings": {"bogus": 1}}, "settings", "bogus"),
        ({"protocol": "chess"}, "protocol", "chess"),
        ({"agents": [999999]}, "agents.0", "No agent profile"),
        ({"agents": ["sim:accuracy=2"]}, "agents.0", "accuracy"),
        ({"gold_answer": "Maybe"}, "gold_answer", "Maybe"),
        ({"tolerance": -1}, "tolerance", "greater than or equal to 0"),
    ],
)
def test_a_bad_session_names_the_field_and_creates_nothing(
    api_as, moderator, overrides, field, words
):
    response = _create(api_as(moderator), **overrides)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert list(body["fields"]) == [field], body
    assert words.lower() in " ".join(body["fields"][field]).lower(), body
    assert words.lower() in body["detail"].lower()
    assert not DebateSession.objects.exists()


def test_malformed_json_and_wrong_types_get_a_clear_error(api_as, moderator):
    client = api_as(moderator)
    broken = client.post("/api/v1/sessions/", "{not json", content_type="application/json")
    assert broken.status_code == 400
    assert broken.json()["error"] == "parse_error" and "JSON" in broken.json()["detail"]
    typed = client.post("/api/v1/sessions/", {"title": ["x"], "question": 3, "options": "a"})
    assert typed.status_code == 400
    assert {"title", "options"} <= set(typed.json()["fields"])


def _started_people_session(api_as, moderator, alice, bob, **settings):
    mod = api_as(moderator)
    session = _create(mod, agents=[], settings={"rounds": 1, **settings}, gold_answer=None).json()
    clients = [api_as(alice), api_as(bob)]
    for client in clients:
        assert (
            client.post(
                "/api/v1/sessions/join/", {"invite_token": session["invite_token"]}
            ).status_code
            == 200
        )
    assert (
        mod.post(f"/api/v1/sessions/{session['id']}/control/", {"action": "start"}).status_code
        == 200
    )
    return session["id"], mod, clients


def test_permissions_are_those_of_the_pages(api_as, moderator, alice, bob, make_user, client):
    sid, mod, (a, _) = _started_people_session(api_as, moderator, alice, bob)
    outsider = api_as(make_user("outsider"))
    assert outsider.get(f"/api/v1/sessions/{sid}/").status_code == 404
    assert outsider.post(f"/api/v1/sessions/{sid}/posts/", {"text": "hi"}).status_code == 404
    assert [s["id"] for s in outsider.get("/api/v1/sessions/").json()["results"]] == []
    assert [s["id"] for s in a.get("/api/v1/sessions/").json()["results"]] == [sid]

    forbidden = a.post(f"/api/v1/sessions/{sid}/control/", {"action": "end"})
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "permission_denied"
    assert a.get(f"/api/v1/sessions/{sid}/adjudication/").status_code == 200
    early = mod.post(
        f"/api/v1/sessions/{sid}/adjudication/",
        {"answer": "Yes", "rationale": "too soon", "posts": [1]},
    )
    assert early.status_code == 409 and "finished" in early.json()["detail"]
    again = mod.post(f"/api/v1/sessions/{sid}/control/", {"action": "start"})
    assert again.status_code == 409 and again.json()["error"] == "bad_state"

    anonymous = client.get(f"/api/v1/sessions/{sid}/")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    wrong = client.get("/api/v1/sessions/", HTTP_AUTHORIZATION="Bearer dlb_not-a-real-token")
    assert wrong.status_code == 401 and "token" in wrong.json()["detail"]


def test_posting_follows_the_protocol_and_retries_never_post_twice(api_as, moderator, alice, bob):
    sid, mod, (a, b) = _started_people_session(api_as, moderator, alice, bob)
    body = {"text": "Yes.", "answer": "Yes", "client_msg_id": "m-1"}
    first = a.post(f"/api/v1/sessions/{sid}/posts/", body)
    retry = a.post(f"/api/v1/sessions/{sid}/posts/", body)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["id"] == first.json()["id"]
    assert Post.objects.filter(session_id=sid, client_msg_id="m-1").count() == 1

    twice = a.post(f"/api/v1/sessions/{sid}/posts/", {"text": "Again", "answer": "No"})
    assert twice.status_code == 409 and twice.json()["error"] == "not_your_turn"
    bad = b.post(f"/api/v1/sessions/{sid}/posts/", {"text": "x", "answer": "Perhaps"})
    assert bad.status_code == 400 and list(bad.json()["fields"]) == ["answer"]
    long = b.post(f"/api/v1/sessions/{sid}/posts/", {"text": "x" * 5000, "answer": "No"})
    assert long.status_code == 400 and "at most 4000" in long.json()["fields"]["text"][0]
    assert Post.objects.filter(session_id=sid, author__user=bob).count() == 0  # nothing lost
    note = mod.post(f"/api/v1/sessions/{sid}/posts/", {"text": "Moderator here."})
    assert note.status_code == 201 and note.json()["kind"] == "note"


def test_sealed_answers_and_aliases_as_the_viewer_sees_them(api_as, moderator, alice, bob):
    sid, mod, (a, b) = _started_people_session(api_as, moderator, alice, bob, anonymise=True)
    assert (
        a.post(
            f"/api/v1/sessions/{sid}/posts/", {"text": "My secret: Yes", "answer": "Yes"}
        ).status_code
        == 201
    )
    seen_by_b = [
        p
        for p in b.get(f"/api/v1/sessions/{sid}/posts/").json()["results"]
        if p["author"] and p["author"]["role"] == "debater"
    ]
    assert [p["kind"] for p in seen_by_b] == ["sealed"]
    assert seen_by_b[0]["text"] == "" and seen_by_b[0]["answer"] is None
    assert seen_by_b[0]["author"]["name"].startswith("Participant ")
    assert "alice" not in str(b.get(f"/api/v1/sessions/{sid}/").json()["state"]["participants"])
    seen_by_mod = mod.get(f"/api/v1/sessions/{sid}/posts/").json()["results"]
    assert any(
        p["text"] == "My secret: Yes" and p["author"]["name"] == "alice" for p in seen_by_mod
    )
    # Once the round closes, everyone sees the answer.
    assert (
        b.post(f"/api/v1/sessions/{sid}/posts/", {"text": "No", "answer": "No"}).status_code == 201
    )
    revealed = [p["text"] for p in b.get(f"/api/v1/sessions/{sid}/posts/").json()["results"]]
    assert "My secret: Yes" in revealed


def test_the_transcript_pages_by_sequence_number(api_as, moderator, alice, bob):
    sid, mod, _ = _started_people_session(api_as, moderator, alice, bob)
    for i in range(7):
        assert mod.post(f"/api/v1/sessions/{sid}/posts/", {"text": f"note {i}"}).status_code == 201
    seqs, after = [], 0
    while after is not None:
        page = mod.get(f"/api/v1/sessions/{sid}/posts/?after={after}&limit=3").json()
        assert len(page["results"]) <= 3
        seqs += [p["seq"] for p in page["results"]]
        after = page["next_after"]
    assert seqs == list(
        Post.objects.filter(session_id=sid).order_by("seq").values_list("seq", flat=True)
    )
    bad = mod.get(f"/api/v1/sessions/{sid}/posts/?limit=0")
    assert bad.status_code == 400 and list(bad.json()["fields"]) == ["limit"]


def test_private_opinions_reach_only_their_author_and_the_moderator(api_as, moderator, alice, bob):
    sid, mod, (a, b) = _started_people_session(api_as, moderator, alice, bob)
    made = a.post(f"/api/v1/sessions/{sid}/opinions/", {"answer": "No", "confidence": 0.4})
    assert made.status_code == 201, made.json()
    assert b.get(f"/api/v1/sessions/{sid}/opinions/").json() == []
    assert [o["answer"] for o in a.get(f"/api/v1/sessions/{sid}/opinions/").json()] == ["No"]
    assert [o["answer"] for o in mod.get(f"/api/v1/sessions/{sid}/opinions/").json()] == ["No"]
    assert mod.post(f"/api/v1/sessions/{sid}/opinions/", {"answer": "No"}).status_code == 403


def test_text_postgres_cannot_store_and_unknown_urls_get_json_errors(api_as, moderator):
    client = api_as(moderator)
    nul = client.post(
        "/api/v1/sessions/",
        '{"title": "a\\u0000b", "question": "q", "options": ["x", "y"]}',
        content_type="application/json",
    )
    assert nul.status_code == 400 and nul.json()["error"] == "parse_error"
    surrogate = client.post(
        "/api/v1/sessions/",
        '{"title": "\\ud800", "question": "q", "options": ["x", "y"]}',
        content_type="application/json",
    )
    assert surrogate.status_code == 400 and "surrogate" in surrogate.json()["detail"]
    assert not DebateSession.objects.exists()
    missing = client.get("/api/v1/no-such-thing/")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_an_agent_named_by_a_digit_like_character_is_not_found(api_as, moderator):
    response = _create(api_as(moderator), agents=["¹"])
    assert response.status_code == 400 and "No agent profile" in response.json()["detail"]


@pytest.mark.django_db
def test_an_oversized_body_gets_a_json_error_not_a_page(api_as, moderator, settings):
    client = api_as(moderator)
    client.raise_request_exception = False
    big = '{"title": "x", "question": "' + "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"}'
    response = client.post("/api/v1/sessions/", big, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "too_large"
