"""Adjudicated final answers: audit trail, revisions with reasons, permissions, publication."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from deliberation.debates import services as debate_services
from deliberation.debates.models import DebateSession, Post
from deliberation.debates.services import InvalidInput, NotAllowed
from deliberation.moderation import services
from deliberation.moderation.models import Adjudication, AdjudicationRevision
from tests.conftest import ws_connect

from .conftest import fresh, play_round

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished(people_debate):
    """A finished one-round session: plurality Yes, ReConcile No (the rules disagree)."""

    def make(answers=("Yes", "Yes", "No"), confidences=(0.5, 0.6, 1.0), **kwargs):
        session, people = people_debate(len(answers), rounds=1, **kwargs)
        play_round(people, list(answers), list(confidences))
        session = fresh(session)
        assert session.status == DebateSession.Status.FINISHED
        return session, people

    return make


def seqs(session, n=2) -> list[int]:
    return list(
        Post.objects.filter(session=session, kind=Post.Kind.ARGUMENT)
        .order_by("seq")
        .values_list("seq", flat=True)[:n]
    )


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_decision_records_who_when_rules_posts_and_metrics(finished, moderator):
    session, _ = finished()
    cited = seqs(session)
    before = timezone.now()
    revision = services.decide(
        session,
        moderator,
        answer="no",  # cleaned to the option's spelling
        rationale="The most confident debater's argument holds.",
        post_seqs=", ".join(f"#{n}" for n in cited),
    )
    assert revision.number == 1 and revision.reason == ""
    assert revision.final_answer == "No"
    assert revision.decided_by == moderator and revision.decided_at >= before
    assert sorted(p.seq for p in revision.posts.all()) == cited
    assert revision.rules_agreeing == ["confidence_weighted"]
    assert revision.metrics["rules_disagree"] is True
    assert revision.metrics["last_seq"] == debate_services.last_seq(session.pk)
    assert not revision.adjudication.published


def test_revisions_need_a_reason_and_all_are_kept(finished, moderator):
    session, _ = finished()
    cited = seqs(session)
    services.decide(session, moderator, answer="No", rationale="First.", post_seqs=cited)
    with pytest.raises(InvalidInput) as exc:
        services.decide(session, moderator, answer="Yes", rationale="Second.", post_seqs=cited)
    assert exc.value.code == "reason"
    second = services.decide(
        session,
        moderator,
        answer="Yes",
        rationale="Two of three agree.",
        post_seqs=cited[:1],
        reason="Confidence was uncalibrated.",
    )
    assert second.number == 2 and second.rules_agreeing == ["plurality", "majority", "vote_only"]
    trail = list(AdjudicationRevision.objects.filter(adjudication__session=session))
    assert [(r.number, r.final_answer, r.reason) for r in trail] == [
        (1, "No", ""),
        (2, "Yes", "Confidence was uncalibrated."),
    ]
    assert services.current_revision(session).number == 2
    # Append-only: a revision cannot be edited or deleted.
    first = trail[0]
    first.rationale = "rewritten"
    with pytest.raises(ValidationError):
        first.save()
    with pytest.raises(ValidationError):
        first.delete()
    assert AdjudicationRevision.objects.get(pk=first.pk).rationale == "First."


def test_decision_cites_posts_of_its_own_session_only(finished, moderator):
    session, _ = finished()
    other, _ = finished(("Yes",), (0.9,), title="Other")
    with pytest.raises(InvalidInput) as exc:
        services.decide(session, moderator, answer="Yes", rationale="R.", post_seqs=[999])
    assert "#999" in exc.value.message
    with pytest.raises(InvalidInput):
        services.decide(session, moderator, answer="Yes", rationale="R.", post_seqs=[])
    with pytest.raises(InvalidInput):
        services.decide(session, moderator, answer="Maybe", rationale="R.", post_seqs=seqs(session))
    with pytest.raises(InvalidInput):
        services.decide(session, moderator, answer="Yes", rationale=" ", post_seqs=seqs(session))
    revision = services.decide(
        session, moderator, answer="Yes", rationale="R.", post_seqs=seqs(session)
    )
    foreign = Post.objects.filter(session=other).first()
    with pytest.raises(ValidationError):
        revision.posts.add(foreign)  # the model refuses it too, however it is linked


def test_only_the_moderator_or_staff_decide_and_only_when_finished(
    finished, people_debate, moderator, make_user
):
    session, people = finished()
    debater = people[0].user
    with pytest.raises(NotAllowed):
        services.decide(session, debater, answer="Yes", rationale="R.", post_seqs=seqs(session))
    response = client_for(debater).post(
        f"/moderation/sessions/{session.pk}/decide/",
        {"answer": "Yes", "rationale": "R.", "posts": "1"},
    )
    assert response.status_code == 403
    assert client_for(debater).get(f"/moderation/sessions/{session.pk}/").status_code == 403
    json_url = f"/moderation/sessions/{session.pk}/metrics.json"
    assert client_for(debater).get(json_url).status_code == 403
    assert client_for(moderator).get(json_url).json()["rules_disagree"] is True
    staff = make_user("boss")
    staff.is_staff = True
    staff.save()
    revision = services.decide(
        session, staff, answer="Yes", rationale="Staff call.", post_seqs=seqs(session)
    )
    assert revision.decided_by == staff
    running, _ = people_debate(2, rounds=2)
    with pytest.raises(NotAllowed) as exc:
        services.decide(running, moderator, answer="Yes", rationale="R.", post_seqs=[1])
    assert exc.value.code == "bad_state"


def test_participants_see_the_final_answer_once_published(finished, moderator):
    session, people = finished()
    page = client_for(people[0].user)
    client = client_for(moderator)
    response = client.post(
        f"/moderation/sessions/{session.pk}/decide/",
        {"answer": "No", "rationale": "Well argued <b>by</b> p2.", "posts": "#2"},
    )
    assert response.status_code == 302
    html = page.get(session.get_absolute_url()).content.decode()
    assert 'id="published-answer"' not in html
    response = client.post(f"/moderation/sessions/{session.pk}/publish/")
    assert response.status_code == 302
    assert Adjudication.objects.get(session=session).published_by == moderator
    html = page.get(session.get_absolute_url()).content.decode()
    assert '<strong id="published-answer">No</strong>' in html
    assert "Well argued &lt;b&gt;by&lt;/b&gt; p2." in html  # the rationale is escaped text
    assert 'href="#post-2"' in html
    # The moderator's page shows the audit trail and the publication.
    mod_html = client.get(f"/moderation/sessions/{session.pk}/").content.decode()
    assert 'id="published-badge"' in mod_html and 'data-revision="1"' in mod_html
    # The form refuses a revision without a reason and says why.
    response = client.post(
        f"/moderation/sessions/{session.pk}/decide/",
        {"answer": "Yes", "rationale": "Changed my mind.", "posts": "1"},
    )
    assert response.status_code == 200 and "Say why the decision is revised." in (
        response.content.decode()
    )


def test_queue_lists_disagreements_first_and_drops_published_sessions(finished, moderator):
    finished(("Yes", "Yes", "Yes"), (0.9, 0.9, 0.9), title="Agree")
    finished(title="Disagree")
    done, _ = finished(("No", "No", "No"), (0.9, 0.9, 0.9), title="Done")
    decided, _ = finished(("No", "No", "Yes"), (0.9, 0.9, 0.9), title="Decided")
    for session in (done, decided):
        services.decide(session, moderator, answer="No", rationale="R.", post_seqs=[2])
    services.publish(done, moderator)
    entries = services.queue(moderator)
    assert [(e.session.title, e.rules_disagree, e.status) for e in entries] == [
        ("Disagree", True, "awaiting"),
        ("Agree", False, "awaiting"),
        ("Decided", False, "unpublished"),
    ]
    html = client_for(moderator).get("/moderation/").content.decode()
    assert html.index("Disagree") < html.index("Agree") < html.index("Decided")
    assert "Done" not in html.split('id="queue"')[1]


async def test_publishing_pushes_the_decision_to_open_pages(finished, moderator):
    session, people = await database_sync_to_async(finished)()
    participant = await database_sync_to_async(lambda: people[0].user)()
    async with (
        ws_connect(participant, session.pk) as as_json,
        ws_connect(participant, session.pk, "format=html") as as_html,
    ):
        assert (await as_json.connect())[0] and (await as_html.connect())[0]
        await database_sync_to_async(services.decide)(
            session, moderator, answer="No", rationale="Because.", post_seqs=[2]
        )
        await database_sync_to_async(services.publish)(session, moderator)
        while True:
            message = json.loads(await as_json.receive_from(timeout=3))
            if message["type"] == "decision.published":
                break
        assert message["decision"] == {
            "answer": "No",
            "rationale": "Because.",
            "revision": 1,
            "posts": [2],
        }
        while True:
            fragment = await as_html.receive_from(timeout=3)
            if "published-decision" in fragment:
                break
        assert 'hx-swap-oob="true"' in fragment and 'id="published-answer">No<' in fragment
