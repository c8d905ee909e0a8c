"""Escalating disputed items into a live deliberation, and the item's adjudicated label."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from deliberation import celery_app
from deliberation.agents.services import run_locally
from deliberation.annotation import escalation
from deliberation.annotation.labelling import (
    InvalidLabel,
    agent_annotator,
    crowd_annotator,
    person_annotator,
    store_label,
)
from deliberation.annotation.models import Item
from deliberation.debates import controls
from deliberation.debates.models import DebateSession, Participant, Post
from deliberation.debates.services import InvalidInput, submit_post
from deliberation.moderation import services as moderation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _own_queue(task_queue):
    return task_queue


@pytest.fixture
def sim(simulated_agent):
    def make(name: str, seed: int = 1, **behaviour):
        return simulated_agent(name=name, seed=seed, parameters={"simulated": behaviour})

    return make


def label(item: Item, user, value):
    return store_label(item, person_annotator(item.project, user), value)


@pytest.fixture
def disputed(project, make_items, alice, bob):
    """Item t0, labelled 1 by alice and 0 by bob (a 1-1 split: disputed)."""
    project.instructions = "1 if the text entails the hypothesis."
    project.save()
    item = make_items(project, 2)[0]
    Item.objects.filter(pk=item.pk).update(data={"text": "A cat sat.", "hypothesis": "A cat."})
    item.refresh_from_db()
    label(item, alice, "1")
    label(item, bob, "0")
    return item


def test_escalation_opens_a_session_with_the_items_people_and_agents(
    disputed, project, manager, alice, bob, sim
):
    judge = sim("Sim", accuracy=1.0)
    session = escalation.escalate(disputed, manager, protocol="simultaneous", agents=[judge])
    disputed.refresh_from_db()
    assert disputed.escalation == session
    assert session.status == DebateSession.Status.DRAFT  # people take part: the moderator starts
    assert project.name in session.title and "t0" in session.title
    assert "text: A cat sat." in session.question and "hypothesis: A cat." in session.question
    assert "1 if the text entails the hypothesis." in session.question
    assert session.answer_format == "single_choice" and session.options == ["0", "1"]
    people = session.participants.order_by("position")
    assert [(p.role, p.user, p.agent_profile) for p in people] == [
        (Participant.Role.MODERATOR, manager, None),
        (Participant.Role.DEBATER, alice, None),
        (Participant.Role.DEBATER, bob, None),
        (Participant.Role.DEBATER, None, judge),
    ]


def test_a_published_decision_becomes_the_items_final_label(disputed, manager, alice, bob, sim):
    agent = sim("Sim", accuracy=1.0)
    session = escalation.escalate(
        disputed, manager, protocol="simultaneous", agents=[agent], settings={"rounds": 1}
    )
    mod, al, bo = (session.participants.get(user=u) for u in (manager, alice, bob))
    run_locally(lambda: controls.control(mod, "start"))  # the agent answers in this process
    submit_post(al, "It entails it.", answer="1")
    submit_post(bo, "It does not.", answer="0")
    session.refresh_from_db()
    assert session.status == DebateSession.Status.FINISHED
    cited = list(
        Post.objects.filter(session=session, kind="argument").values_list("seq", flat=True)
    )
    assert len(cited) == 3
    moderation.decide(
        session, manager, answer="1", rationale="The cat sat: entailed.", post_seqs=cited
    )
    disputed.refresh_from_db()
    assert disputed.final_label is None  # decided, not yet published
    moderation.publish(session, manager)
    disputed.refresh_from_db()
    assert disputed.final_label == "1"
    assert disputed.final_rationale == "The cat sat: entailed."
    assert disputed.final_by == manager and disputed.final_at is not None
    assert disputed.escalation == session  # the transcript behind the label
    # A revision, published again, replaces the item's label.
    moderation.decide(
        session, manager, answer="0", rationale="On reflection, no.", post_seqs=cited, reason="Typo"
    )
    disputed.refresh_from_db()
    assert disputed.final_label == "0"  # a revision of a published decision is announced too
    moderation.publish(session, manager)
    disputed.refresh_from_db()
    assert disputed.final_label == "0" and disputed.final_rationale == "On reflection, no."


def test_an_agents_only_escalation_starts_at_once(project, make_items, simulated_agent, sim):
    item = make_items(project, 1)[0]
    project.crowd_enabled = True
    project.save()
    store_label(item, crowd_annotator(project, "w1"), "1")
    store_label(item, crowd_annotator(project, "w2"), "0")
    agents = [sim("A", accuracy=1.0), simulated_agent("B", seed=2)]
    session = escalation.escalate(item, project.owner, protocol="simultaneous", agents=agents)
    session.refresh_from_db()
    assert session.status == DebateSession.Status.RUNNING
    assert not session.participants.filter(role="debater", kind="human").exists()


def test_refusals_say_why_and_change_nothing(
    disputed, project, make_items, manager, simulated_agent
):
    agent = simulated_agent("Sim")
    unlabelled = Item.objects.get(project=project, external_id="t1")
    with pytest.raises(escalation.EscalationError, match="no labels yet"):
        escalation.escalate(unlabelled, manager, agents=[agent])
    with pytest.raises(InvalidInput, match="unknown protocol"):
        escalation.escalate(disputed, manager, protocol="nonsense", agents=[agent])
    disputed.refresh_from_db()
    assert disputed.escalation is None and not DebateSession.objects.exists()
    first = escalation.escalate(disputed, manager, agents=[agent])
    with pytest.raises(escalation.EscalationError, match=f"already escalated .session #{first.pk}"):
        escalation.escalate(disputed, manager, agents=[agent])
    assert DebateSession.objects.count() == 1
    # Crowd labels only and no agent: nobody could deliberate.
    project.crowd_enabled = True
    project.save()
    store_label(unlabelled, crowd_annotator(project, "w1"), "1")
    with pytest.raises(escalation.EscalationError, match="crowd workers cannot join"):
        escalation.escalate(unlabelled, manager, agents=[])


def test_the_moderator_is_not_also_a_debater(disputed, alice, bob, simulated_agent):
    session = escalation.escalate(disputed, alice, agents=[simulated_agent("Sim")])
    assert session.participants.get(user=alice).role == Participant.Role.MODERATOR
    assert session.participants.filter(role="debater", user=bob).exists()


def test_the_projects_default_protocol_and_agents_are_used(
    disputed, project, manager, simulated_agent
):
    agent = simulated_agent("Default")
    project.escalation_protocol = "vote_only"
    project.save()
    project.escalation_agents.set([agent])
    session = escalation.escalate(disputed, manager)
    assert session.protocol == "vote_only"
    assert session.participants.filter(agent_profile=agent).exists()


def test_a_manager_decides_an_item_directly(disputed, manager):
    escalation.set_final_label(disputed, " 1 ", "Read the text again.", manager)
    disputed.refresh_from_db()
    assert disputed.final_label == "1" and disputed.final_by == manager
    assert disputed.escalation is None
    with pytest.raises(InvalidLabel, match="not one of the options"):
        escalation.set_final_label(disputed, "7", "", manager)
    disputed.refresh_from_db()
    assert disputed.final_label == "1"


# --- auto-escalation ---------------------------------------------------------------------------
@pytest.fixture
def three_way(make_project, make_user, simulated_agent):
    project = make_project(
        name="Three", options=["a", "b", "c"], labels_per_item=3, auto_escalate=True
    )
    project.escalation_agents.set([simulated_agent("Sim")])
    project.escalation_protocol = "simultaneous"
    project.save()
    people = [make_user(f"u{i}") for i in range(3)]
    return project, people


def test_the_kth_label_that_makes_an_item_disputed_escalates_it(three_way, make_items, task_queue):
    project, (u0, u1, u2) = three_way
    split, agreed = make_items(project, 2)
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[task_queue], shutdown_timeout=30
    ):
        label(split, u0, "a")
        label(split, u1, "b")  # a 1-1 split, but fewer than labels_per_item labels
        label(agreed, u0, "a")
        label(agreed, u1, "a")
        label(agreed, u2, "b")  # 2 of 3 agree: not disputed
        assert escalation.maybe_auto_escalate(split.pk) is None  # what the queued tasks find
        assert escalation.maybe_auto_escalate(agreed.pk) is None
        label(split, u2, "c")  # the third label: 1-1-1, disputed
        deadline = timezone.now() + timedelta(seconds=30)
        while timezone.now() < deadline and split.escalation_id is None:
            time.sleep(0.2)
            split.refresh_from_db()
    assert split.escalation is not None
    session = split.escalation
    assert session.created_by == project.owner
    assert set(
        session.participants.filter(kind="human", role="debater").values_list("user", flat=True)
    ) == {
        u0.pk,
        u1.pk,
        u2.pk,
    }
    assert session.participants.filter(kind="agent").count() == 1
    agreed.refresh_from_db()
    assert agreed.escalation is None
    assert DebateSession.objects.count() == 1


def test_auto_escalation_is_off_unless_the_project_asks(three_way, make_items, simulated_agent):
    project, (u0, u1, u2) = three_way
    project.auto_escalate = False
    project.save()
    item = make_items(project, 1)[0]
    for user, value in zip((u0, u1, u2), "abc", strict=True):
        label(item, user, value)
    assert escalation.maybe_auto_escalate(item.pk) is None
    project.auto_escalate = True
    project.save()
    session = escalation.maybe_auto_escalate(item.pk)
    assert session is not None
    assert escalation.maybe_auto_escalate(item.pk) is None  # once


def test_an_agent_label_can_complete_the_dispute(three_way, make_items, simulated_agent):
    project, (u0, u1, _u2) = three_way
    project.auto_escalate = False  # checked by hand below
    project.save()
    item = make_items(project, 1)[0]
    label(item, u0, "a")
    label(item, u1, "b")
    store_label(item, agent_annotator(project, simulated_agent("Labeller")), "c")
    project.auto_escalate = True
    project.save()
    session = escalation.maybe_auto_escalate(item.pk)
    assert session is not None
    assert session.participants.filter(kind="human", role="debater").count() == 2
