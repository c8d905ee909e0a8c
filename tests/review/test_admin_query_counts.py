"""No admin list makes a query per row: every changelist registered in the admin costs the same
number of queries with one world of data as with five (sessions with agents and people, flags,
adjudications, annotation projects with labels, imports, agent runs, webhooks, tokens)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deliberation.agents.services import run_locally
from deliberation.annotation import agent_runs, escalation, importing, labelling
from deliberation.annotation.models import Project
from deliberation.api import tokens
from deliberation.debates import controls, services
from deliberation.moderation import services as moderation
from deliberation.review import services as review
from deliberation.webhooks import services as webhooks
from deliberation.webhooks.models import Webhook

pytestmark = pytest.mark.django_db(transaction=True)


def world(i: int, staff_user, make_user, simulated_agent) -> None:
    """One of everything the admin lists, made through the services."""
    owner, person = make_user(f"owner{i}"), make_user(f"person{i}")
    agents = [
        simulated_agent(name=f"A{i}-{k}", seed=k, parameters={"simulated": {"token_delay": 0}})
        for k in range(2)
    ]
    session = services.create_session(
        moderator=owner,
        title=f"World {i}",
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol="simultaneous",
        protocol_settings={"rounds": 1},
        agent_profiles=agents,
    )
    me = services.join_session(person, session.invite_token)
    mod = session.participants.get(role="moderator")
    run_locally(lambda: controls.control(mod, "start"))
    run_locally(lambda: services.submit_post(me, "Yes.", answer="Yes"))
    first = session.posts.filter(kind="argument").first()
    review.flag(session, staff_user, post=first, reason="off_topic")
    review.add_note(session, staff_user, "Looked at it.", post=first)
    moderation.decide(session, owner, answer="Yes", rationale="Agreed.", post_seqs=[first.seq])
    moderation.publish(session, owner)

    project = Project.objects.create(name=f"P{i}", options=["0", "1"], owner=owner)
    rows = "\n".join(f'{{"id": "t{n}", "text": "item {n}"}}' for n in range(3)).encode()
    importing.create_import(project, rows, "items.jsonl", {}, owner)
    annotator = labelling.person_annotator(project, person)
    while (nxt := labelling.next_assignment(annotator)).assignment:
        labelling.submit_label(annotator, nxt.assignment.item_id, "1")
    run_locally(lambda: agent_runs.start_run(project, agents[:1], 1, owner))
    escalation.escalate(project.items.first(), owner, agents=agents[:1])

    hook = Webhook.objects.create(owner=owner, url="http://127.0.0.1:9/", events=["ping"])
    webhooks.ping(hook)
    tokens.issue(owner, "script")


def test_every_admin_list_costs_the_same_queries_for_1_or_5_worlds(
    staff, make_user, simulated_agent, task_queue
):
    def queries() -> dict[str, int]:
        out = {}
        for model in admin.site._registry:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            with CaptureQueriesContext(connection) as ctx:
                assert staff.get(url).status_code == 200, url
            out[model._meta.label] = len(ctx)
        return out

    world(0, staff.user, make_user, simulated_agent)
    few = queries()
    for i in range(1, 5):
        world(i, staff.user, make_user, simulated_agent)
    assert queries() == few
