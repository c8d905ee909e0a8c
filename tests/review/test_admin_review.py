"""The admin as a review tool: changelists without N+1, read-only finished transcripts, search,
filters, flags and notes, the actions (export, flag, anonymise) and the replay page."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deliberation.agents.models import AgentTurn
from deliberation.agents.services import run_locally
from deliberation.debates import controls, services
from deliberation.debates.models import DebateSession, Participant, Post
from deliberation.moderation.metrics import session_metrics
from deliberation.review import services as review
from deliberation.review.models import Flag, ReviewNote

pytestmark = pytest.mark.django_db


def _changelist(client, model: str, query: dict | None = None):
    response = client.get(reverse(f"admin:{model}_changelist"), query or {})
    assert response.status_code == 200
    return response


def _queries(client, model: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        _changelist(client, model)
    return len(ctx)


@pytest.mark.parametrize(
    "model", ["debates_debatesession", "debates_post", "agents_agentturn", "review_flag"]
)
def test_changelists_cost_the_same_queries_for_2_or_12_sessions(
    staff, people_session, simulated_agent, moderator, model
):
    from deliberation.agents.services import run_locally
    from deliberation.debates import controls, services

    made = iter(range(1000))

    def grow(n):
        for _ in range(n):
            i = next(made)
            session = people_session(title=f"S{i}")
            review.flag(session, staff.user, post=session.posts.first(), reason="off_topic")
            agents = [simulated_agent(name=f"A{i}-{k}", seed=k) for k in range(2)]
            s = services.create_session(
                moderator=moderator,
                title=f"Agents {i}",
                question="Q?",
                options=["Yes", "No"],
                protocol="simultaneous",
                protocol_settings={"rounds": 1},
                agent_profiles=agents,
            )
            run_locally(lambda s=s: controls.control(s.participants.get(role="moderator"), "start"))

    grow(2)
    few = _queries(staff, model)
    grow(10)
    assert _queries(staff, model) == few


def test_finished_transcripts_are_read_only_inline(staff, people_session):
    session = people_session()
    page = staff.get(reverse("admin:debates_debatesession_change", args=[session.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="posts-0-text"' not in html and "I say Yes." in html
    assert 'name="participants-0-display_name"' not in html
    assert reverse("review:replay", args=[session.pk]) in html


def test_finished_transcripts_cannot_be_edited_or_deleted_by_staff(staff, people_session):
    """Not the session's question, not a post's text, answer or seq, not a round: only the
    audited correction path changes a finished transcript."""
    session = people_session()
    post = session.posts.filter(kind="argument").first()
    before = (post.text, post.answer, post.seq)
    url = reverse("admin:debates_post_change", args=[post.pk])
    html = staff.get(url).content.decode()
    assert 'name="text"' not in html and 'name="seq"' not in html
    staff.post(url, {"text": "Rewritten.", "seq": 99, "answer": '"No"', "session": session.pk})
    post.refresh_from_db()
    assert (post.text, post.answer, post.seq) == before
    assert staff.post(reverse("admin:debates_post_delete", args=[post.pk])).status_code == 403
    session_url = reverse("admin:debates_debatesession_change", args=[session.pk])
    assert 'name="question"' not in staff.get(session_url).content.decode()
    staff.post(session_url, {"question": "Another question?", "title": "x"})
    session.refresh_from_db()
    assert session.question != "Another question?"
    delete = reverse("admin:debates_debatesession_delete", args=[session.pk])
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    rnd = session.rounds.first()
    assert staff.post(reverse("admin:debates_round_delete", args=[rnd.pk])).status_code == 403
    changelist = staff.get(reverse("admin:debates_post_changelist")).content.decode()
    assert "delete_selected" not in changelist


def test_a_correction_goes_through_the_audited_path(staff, people_session):
    session = people_session()
    post = session.posts.filter(kind="argument").first()
    original, answer = post.text, post.answer
    call_command(
        "correct_post",
        str(session.pk),
        str(post.seq),
        "--text",
        "[redacted]",
        "--reason",
        "personal data",
        "--user",
        staff.user.username,
    )
    post.refresh_from_db()
    assert post.text == "[redacted]" and post.answer == answer
    note = ReviewNote.objects.get(post=post)
    assert note.reviewer == staff.user and "personal data" in note.text
    assert original in note.text and "[redacted]" in note.text
    with pytest.raises(CommandError, match="reason"):
        call_command(
            "correct_post",
            str(session.pk),
            str(post.seq),
            "--text",
            "x",
            "--reason",
            " ",
            "--user",
            staff.user.username,
        )


@pytest.mark.django_db(transaction=True)
def test_search_by_post_text_participant_and_model(staff, people_session, rich_session):
    people = people_session(title="Sky")
    rich = rich_session()

    def found(q):
        return list(_changelist(staff, "debates_debatesession", {"q": q}).context["cl"].result_list)

    assert found('"I say Yes."') == [people]
    debater = people.participants.filter(kind="human", role="debater").first()
    assert found(debater.display_name) == [people]
    assert found("simulated-1") == [rich]
    assert found("bob") == [rich]


@pytest.mark.django_db(transaction=True)
def test_filters_adjudication_state_and_flags(staff, people_session, rich_session, moderator):
    undecided = people_session(title="Undecided")
    published = rich_session()
    flagged = people_session(title="Flagged")
    review.flag(flagged, staff.user, reason="harmful")

    def titles(**query):
        cl = _changelist(staff, "debates_debatesession", query).context["cl"]
        return sorted(s.title for s in cl.result_list)

    assert titles(adjudication="published") == [published.title]
    assert titles(adjudication="none") == ["Flagged", "Undecided"]
    assert titles(flagged="open") == ["Flagged"]
    Flag.objects.update(resolved_at="2026-01-01T00:00:00Z")
    assert titles(flagged="open") == []
    assert titles(flagged="any") == ["Flagged"]
    assert undecided.title in titles(flagged="no")


@pytest.mark.django_db(transaction=True)
def test_agent_post_shows_the_exact_call(staff, rich_session):
    session = rich_session()
    turn = AgentTurn.objects.filter(session=session, post__isnull=False).first()
    html = staff.get(reverse("admin:debates_post_change", args=[turn.post_id])).content.decode()
    assert turn.model in html
    assert f"{turn.prompt_tokens} prompt + {turn.completion_tokens} completion tokens" in html
    system = turn.prompt[0]["content"]
    assert system[:60].replace('"', "&quot;").replace("'", "&#x27;") in html
    assert "<summary>system</summary>" in html


def test_flag_and_note_a_post_inline_with_the_reviewer(staff, people_session):
    session = people_session()
    post = session.posts.filter(kind="argument").first()
    url = reverse("admin:debates_post_change", args=[post.pk])
    form = staff.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "data"}
    data.update(
        {
            "session": session.pk,
            "author": post.author_id,
            "round": post.round_id,
            "data": "{}",
            "answer": json.dumps(post.answer),
            "flags-TOTAL_FORMS": 1,
            "flags-INITIAL_FORMS": 0,
            "flags-0-reason": "hallucination",
            "flags-0-note": "Invented a source.",
            "review_notes-TOTAL_FORMS": 1,
            "review_notes-INITIAL_FORMS": 0,
            "review_notes-0-text": "Checked against the question.",
        }
    )
    response = staff.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    flag = Flag.objects.get()
    assert (flag.post, flag.session, flag.reviewer) == (post, session, staff.user)
    note = ReviewNote.objects.get()
    assert (note.post, note.session, note.reviewer) == (post, session, staff.user)


def test_actions_flag_and_export(staff, people_session):
    sessions = [people_session(title=f"S{i}") for i in range(2)]
    url = reverse("admin:debates_debatesession_changelist")
    ids = [s.pk for s in sessions]
    staff.post(url, {"action": "flag_sessions", "_selected_action": ids})
    assert Flag.objects.filter(post__isnull=True).count() == 2
    response = staff.post(url, {"action": "export_jsonl", "_selected_action": ids})
    assert response.status_code == 200 and response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert sorted(json.loads(line)["session"]["title"] for line in lines) == ["S0", "S1"]


def test_anonymise_keeps_the_transcript_but_no_name(staff, people_session):
    session = people_session(answers=("Yes", "No"))
    people = list(
        session.participants.filter(kind="human").select_related("user").order_by("position")
    )
    names = [p.display_name for p in people]
    first = session.posts.filter(kind="argument").order_by("seq").first()
    Post.objects.filter(pk=first.pk).update(text=f"I agree with {names[1]}, not {names[1]}x.")
    before = list(session.posts.order_by("seq").values_list("seq", "answer", "confidence"))
    url = reverse("admin:debates_debatesession_changelist")
    staff.post(url, {"action": "anonymise", "_selected_action": [session.pk]})
    staff.post(url, {"action": "anonymise", "_selected_action": [session.pk]})  # idempotent
    assert list(session.posts.order_by("seq").values_list("seq", "answer", "confidence")) == before
    first.refresh_from_db()
    assert first.text == f"I agree with Person 2, not {names[1]}x."  # whole words only
    assert len(names) == 3  # the moderator is a person too
    renamed = Participant.objects.filter(session=session, kind="human").order_by("position")
    assert [p.display_name for p in renamed] == [f"Person {n}" for n in range(1, len(names) + 1)]
    assert all(p.user.username.startswith("anon-") and not p.user.is_active for p in renamed)
    assert ReviewNote.objects.filter(session=session).count() == 1
    replay = staff.get(reverse("review:replay", args=[session.pk])).content.decode()
    change = staff.get(
        reverse("admin:debates_debatesession_change", args=[session.pk])
    ).content.decode()
    for name in names:
        assert f">{name}<" not in replay and f">{name}<" not in change


def test_replay_steps_through_the_session_with_the_metrics_at_each_point(staff, people_session):
    session = people_session(answers=("Yes", "No", "Yes"), rounds=2)
    answers = list(
        session.posts.filter(kind="argument").order_by("seq").values_list("seq", flat=True)
    )
    url = reverse("review:replay", args=[session.pk])
    second = staff.get(url, {"at": answers[1]})
    rounds = second.context["m"]["rounds"]
    assert [(r["number"], r["answers"]) for r in rounds] == [(1, 2)]
    tally = {d["label"]: d["count"] for d in rounds[0]["distribution"]}
    assert tally == {"Yes": 1, "No": 1} and rounds[0]["normalised_entropy"] == pytest.approx(1.0)
    html = second.content.decode()
    assert f'id="post-{answers[1]}"' in html and f'id="post-{answers[2]}"' not in html
    assert f'href="?at={answers[2]}" id="replay-next"' in html
    assert 'id="rules-table"' in html  # the moderator's panel, as it stood
    end = staff.get(url).context["m"]
    assert [(r["number"], r["answers"], r["top_share"]) for r in end["rounds"]] == [
        (1, 3, pytest.approx(2 / 3, abs=1e-6)),
        (2, 3, pytest.approx(2 / 3, abs=1e-6)),
    ]
    assert staff.get(url, {"at": "nonsense"}).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_replay_shows_exactly_the_live_metrics_of_each_moment(
    moderator, alice, bob, simulated_agent
):
    """Metrics recomputed for post N equal those the moderator saw live after post N (until
    the next post), for every N."""
    agent = simulated_agent(name="Agent", seed=5, parameters={"simulated": {"token_delay": 0}})
    session = services.create_session(
        moderator=moderator,
        title="Replay",
        question="Is the sky blue?",
        options=["Yes", "No"],
        gold_answer="Yes",
        protocol="simultaneous",
        protocol_settings={"rounds": 2},
        agent_profiles=[agent],
    )
    a = services.join_session(alice, session.invite_token)
    b = services.join_session(bob, session.invite_token)
    mod = session.participants.get(role="moderator")
    live: dict[int, dict] = {}

    def snapshot():
        metrics = session_metrics(DebateSession.objects.get(pk=session.pk))
        live[metrics["last_seq"]] = metrics

    run_locally(lambda: controls.control(mod, "start"), on_progress=snapshot)
    for person, answer in ((a, "Yes"), (b, "No")):
        run_locally(
            lambda p=person, x=answer: services.submit_post(p, f"I say {x}.", answer=x),
            on_progress=snapshot,
        )
        snapshot()
    services.submit_opinion(b, answer="Yes", confidence=0.6)
    snapshot()  # post N's moment lasts until post N+1: later entries of it count too
    run_locally(lambda: services.submit_post(a, "Still yes.", answer="Yes"), on_progress=snapshot)
    snapshot()
    run_locally(lambda: services.submit_post(b, "Now yes.", answer="Yes"), on_progress=snapshot)
    snapshot()
    session = DebateSession.objects.get(pk=session.pk)
    assert session.status == "finished" and len(live) >= 5
    for seq, seen in live.items():
        replayed = session_metrics(session, upto_seq=seq)
        for key in set(seen) - {"computed_at"}:
            assert replayed[key] == seen[key], (seq, key)


def test_replay_is_for_staff_only(people_session, make_user):
    session = people_session()
    client = Client()
    client.force_login(make_user("curious"))
    response = client.get(reverse("review:replay", args=[session.pk]))
    assert response.status_code == 302 and "login" in response["Location"]
    assert DebateSession.objects.count() == 1
