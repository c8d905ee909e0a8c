"""The agent-run and adjudication pages: managers only, thin over the services."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from deliberation.annotation import agent_runs
from deliberation.annotation.labelling import person_annotator, store_label
from deliberation.annotation.models import AgentLabelRun, Item
from deliberation.debates.models import DebateSession

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def setup(project, make_items, manager, alice, bob, simulated_agent):
    items = make_items(project, 3)
    store_label(items[0], person_annotator(project, alice), "1")
    store_label(items[0], person_annotator(project, bob), "0")
    store_label(items[1], person_annotator(project, alice), "1")
    profile = simulated_agent(name="Sim")
    run = agent_runs.start_run(project, [profile], 2, manager)
    return project, items, profile, run


def urls(project, item, run):
    return {
        "get": [
            reverse("annotation:agent_run_create", args=[project.pk]),
            reverse("annotation:agent_run_detail", args=[project.pk, run.pk]),
            reverse("annotation:adjudication_queue", args=[project.pk]),
        ],
        "post": [
            reverse("annotation:agent_run_pause", args=[project.pk, run.pk]),
            reverse("annotation:agent_run_resume", args=[project.pk, run.pk]),
            reverse("annotation:escalate", args=[project.pk, item.pk]),
            reverse("annotation:decide_item", args=[project.pk, item.pk]),
        ],
    }


def test_non_managers_get_404_and_change_nothing(setup, alice, client):
    project, items, _profile, run = setup
    pages = urls(project, items[0], run)
    other = client_for(alice)
    for url in pages["get"]:
        assert other.get(url).status_code == 404, url
    for url in pages["post"]:
        assert other.post(url, {"value": "1", "protocol": "round_robin"}).status_code == 404, url
    for url in pages["get"]:  # signed out: to the login page
        assert client.get(url).status_code == 302
    run.refresh_from_db()
    items[0].refresh_from_db()
    assert run.status == "running" and items[0].final_label is None
    assert items[0].escalation is None and not DebateSession.objects.exists()


def test_a_manager_starts_a_run_and_follows_it(setup, manager):
    project, _items, profile, _run = setup
    web = client_for(manager)
    page = web.get(reverse("annotation:agent_run_create", args=[project.pk]))
    assert page.status_code == 200 and 'name="profiles"' in page.text and "Sim" in page.text
    refused = web.post(
        reverse("annotation:agent_run_create", args=[project.pk]), {"concurrency": 2}
    )
    assert refused.status_code == 200 and "This field is required" in refused.text
    response = web.post(
        reverse("annotation:agent_run_create", args=[project.pk]),
        {"profiles": [profile.pk], "concurrency": 3},
    )
    run = AgentLabelRun.objects.latest("id")
    assert response.status_code == 302
    assert response.url == reverse("annotation:agent_run_detail", args=[project.pk, run.pk])
    assert run.concurrency == 3 and run.total == 3 and list(run.profiles.all()) == [profile]
    detail = web.get(response.url)
    assert 'id="progress-text">0/3<' in detail.text and 'hx-trigger="every 2s"' in detail.text
    partial = web.get(response.url, HTTP_HX_REQUEST="true")
    assert partial.text.startswith('<div id="agent-run-progress"') and "<html" not in partial.text
    web.post(reverse("annotation:agent_run_pause", args=[project.pk, run.pk]))
    run.refresh_from_db()
    assert run.status == "paused"
    paused = web.get(response.url)
    assert "every 2s" not in paused.text and 'id="pause-run"' not in paused.text
    web.post(reverse("annotation:agent_run_resume", args=[project.pk, run.pk]))
    run.refresh_from_db()
    assert run.status == "running"


def test_failures_are_listed_on_the_run_page(setup, manager):
    project, _items, _profile, run = setup
    run.failures = [{"item": "t2", "agent": "Sim", "error": "<b>bad</b> reply"}]
    run.save()
    page = client_for(manager).get(
        reverse("annotation:agent_run_detail", args=[project.pk, run.pk])
    )
    assert 'id="failures-table"' in page.text
    assert "&lt;b&gt;bad&lt;/b&gt; reply" in page.text  # model text stays text
    assert 'id="progress-failed">1<' in page.text


def test_the_queue_lists_disputed_items_with_their_labels(setup, manager):
    project, items, _profile, _run = setup
    page = client_for(manager).get(reverse("annotation:adjudication_queue", args=[project.pk]))
    assert page.status_code == 200
    assert 'data-item="t0"' in page.text and 'data-item="t1"' not in page.text  # t1: one label
    assert "alice" in page.text and "bob" in page.text
    assert reverse("annotation:escalate", args=[project.pk, items[0].pk]) in page.text
    assert reverse("annotation:decide_item", args=[project.pk, items[0].pk]) in page.text


def test_escalating_from_the_queue_opens_the_session(setup, manager, alice):
    project, items, profile, _run = setup
    web = client_for(manager)
    url = reverse("annotation:escalate", args=[project.pk, items[0].pk])
    response = web.post(url, {"protocol": "simultaneous", "agents": [profile.pk]})
    items[0].refresh_from_db()
    session = items[0].escalation
    assert session is not None and response.url == session.get_absolute_url()
    assert session.protocol == "simultaneous"
    assert session.participants.filter(user=alice, role="debater").exists()
    queue = web.get(reverse("annotation:adjudication_queue", args=[project.pk]))
    assert session.get_absolute_url() in queue.text and "Draft" in queue.text
    again = web.post(url, {"protocol": "simultaneous"}, follow=True)
    assert "already escalated" in again.text
    assert DebateSession.objects.count() == 1


def test_escalating_an_item_without_labels_says_why(setup, manager):
    project, items, _profile, _run = setup
    url = reverse("annotation:escalate", args=[project.pk, items[2].pk])
    page = client_for(manager).post(url, {"protocol": "round_robin"}, follow=True)
    assert "has no labels yet" in page.text and not DebateSession.objects.exists()


def test_a_manager_decides_an_item_from_the_queue(setup, manager):
    project, items, _profile, _run = setup
    web = client_for(manager)
    url = reverse("annotation:decide_item", args=[project.pk, items[0].pk])
    bad = web.post(url, {"value": "maybe", "rationale": "?"}, follow=True)
    assert "not one of the options" in bad.text
    items[0].refresh_from_db()
    assert items[0].final_label is None
    web.post(url, {"value": "1", "rationale": "Entailed."})
    items[0].refresh_from_db()
    assert items[0].final_label == "1" and items[0].final_by == manager
    queue = web.get(reverse("annotation:adjudication_queue", args=[project.pk]))
    assert "Final label: <strong>1</strong>" in queue.text


def test_an_item_of_another_project_is_404(setup, make_project, make_items, manager):
    project, _items, _profile, _run = setup
    other = make_project(name="Other")
    foreign = make_items(other, 1)[0]
    web = client_for(manager)
    for name in ("escalate", "decide_item"):
        response = web.post(reverse(f"annotation:{name}", args=[project.pk, foreign.pk]))
        assert response.status_code == 404
    assert Item.objects.get(pk=foreign.pk).final_label is None
