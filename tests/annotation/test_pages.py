"""The project pages, the labelling page and the crowd join link, through the Django client."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from deliberation.annotation.models import Annotator, Label, Project

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_create_project_from_the_form(manager):
    client = _client(manager)
    response = client.post(
        reverse("annotation:project_create"),
        {
            "name": "Sentiment",
            "instructions": "Is the review positive?",
            "label_format": "single_choice",
            "options_text": "positive\nnegative\n",
            "shown_fields_text": "review",
            "tolerance": "0",
            "labels_per_item": "3",
            "ask_confidence": "on",
            "gold_min_answered": "3",
            "items_per_worker": "10",
            "assignment_minutes": "30",
            "dispute_threshold": "0.5",
            "escalation_protocol": "round_robin",
        },
    )
    project = Project.objects.get(name="Sentiment")
    assert response.status_code == 302
    assert (project.options, project.shown_fields, project.owner) == (
        ["positive", "negative"],
        ["review"],
        manager,
    )


def test_a_choice_schema_needs_two_distinct_options(manager):
    response = _client(manager).post(
        reverse("annotation:project_create"),
        {
            "name": "Bad",
            "label_format": "single_choice",
            "options_text": "yes\nYES",
            "tolerance": "0",
            "labels_per_item": "3",
            "gold_min_answered": "3",
            "items_per_worker": "10",
            "assignment_minutes": "30",
            "dispute_threshold": "0.5",
            "escalation_protocol": "round_robin",
        },
    )
    assert response.status_code == 200
    assert "Options must differ" in response.content.decode()
    assert not Project.objects.filter(name="Bad").exists()


def test_only_managers_see_a_project(project, make_user):
    stranger = _client(make_user("stranger"))
    assert stranger.get(reverse("annotation:project_detail", args=[project.pk])).status_code == 404
    assert (
        stranger.get(reverse("annotation:project_settings", args=[project.pk])).status_code == 404
    )


def test_project_page_shows_progress_consensus_and_annotators(project, make_items, make_user):
    items = make_items(project, 2)
    for name, values in {"ann": "11", "bea": "10", "cid": "10"}.items():
        annotator = Annotator.objects.create(
            project=project, kind="person", user=make_user(name), name=name
        )
        for item, value in zip(items, values, strict=True):
            Label.objects.create(item=item, annotator=annotator, value=value)
    page = _client(project.owner).get(
        reverse("annotation:project_detail", args=[project.pk]), {"method": "mv"}
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "<strong>2/2</strong> items have their 3 labels" in html
    rows = re.findall(r"<tr><td>(t\d)</td><td>(\d+)</td><td>([^<]*)</td>", html)
    assert rows == [("t0", "3", "1"), ("t1", "3", "0")]
    assert html.index(">bea<") < html.index(">ann<")  # agrees with the majority more often


def test_labelling_page_blind_by_default_with_shortcuts(project, make_items, make_user):
    items = make_items(project, 1)
    earlier = Annotator.objects.create(
        project=project, kind="person", user=make_user("earlier"), name="earlier"
    )
    Label.objects.create(item=items[0], annotator=earlier, value="0")
    client = _client(make_user("labeller"))
    html = client.get(reverse("annotation:label_next", args=[project.pk])).content.decode()
    assert "item 0" in html  # the item's text field
    assert 'data-key="1"' in html and 'data-key="2"' in html
    assert "earlier" not in html  # blind: no other labels
    project.show_others_labels = True
    project.save()
    html = client.get(reverse("annotation:label_next", args=[project.pk])).content.decode()
    assert 'id="others-labels"' in html and "earlier" in html


def test_rejected_label_keeps_the_input_and_a_good_one_moves_on(project, make_items, make_user):
    items = make_items(project, 2)
    user = make_user("labeller")
    client = _client(user)
    client.get(reverse("annotation:label_next", args=[project.pk]))
    url = reverse("annotation:label_submit", args=[project.pk, items[0].pk])
    bad = client.post(url, {"value": "1", "confidence": "250"})
    assert bad.status_code == 422
    assert "Confidence must be between" in bad.content.decode()
    assert 'value="1" data-key="2" checked' in bad.content.decode()
    good = client.post(url, {"value": "1", "confidence": "90", "seconds": "3.2"})
    assert good.status_code == 302
    label = Label.objects.get(annotator__user=user)
    assert (label.value, label.confidence) == ("1", 0.9)
    html = client.get(good["Location"]).content.decode()
    assert "1 done / 2 assigned" in html and "item 1" in html


def test_signed_out_visitor_is_sent_to_log_in(project):
    response = Client().get(reverse("annotation:label_next", args=[project.pk]))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_crowd_worker_flow_ends_with_a_completion_code(make_project, make_items):
    project = make_project(crowd_enabled=True, items_per_worker=2, ask_confidence=False)
    make_items(project, 4)
    join = reverse("annotation:crowd_join", args=[project.crowd_token])
    browser = Client()
    assert browser.get(join, {"workerId": "MTURK42"}).status_code == 302
    for _ in range(2):
        page = browser.get(reverse("annotation:label_next", args=[project.pk]))
        item_pk = re.search(r"/label/(\d+)/\"", page.content.decode()).group(1)
        browser.post(reverse("annotation:label_submit", args=[project.pk, item_pk]), {"value": "0"})
    done = browser.get(reverse("annotation:label_next", args=[project.pk])).content.decode()
    code = re.search(r'id="completion-code">(\w+)<', done).group(1)
    worker = Annotator.objects.get(worker_id="MTURK42")
    assert worker.completion_code == code and worker.labels.count() == 2
    # The same worker id from another browser is the same worker: no second round of items.
    again = Client()
    again.get(join, {"worker_id": "MTURK42"})
    page = again.get(reverse("annotation:label_next", args=[project.pk])).content.decode()
    assert code in page
    assert Annotator.objects.filter(kind="crowd").count() == 1


def test_crowd_link_without_worker_id_is_refused(make_project):
    project = make_project(crowd_enabled=True)
    response = Client().get(reverse("annotation:crowd_join", args=[project.crowd_token]))
    assert response.status_code == 400
    assert "worker id" in response.content.decode()
    assert Client().get(reverse("annotation:crowd_join", args=["nope"])).status_code == 404
