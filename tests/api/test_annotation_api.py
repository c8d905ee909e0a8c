"""Annotation projects through the HTTP API: the same services and permissions as the pages."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from rest_framework.test import APIClient

from deliberation.annotation import importing, labelling
from deliberation.annotation.aggregation import aggregate_project
from deliberation.annotation.models import Annotator, ImportJob, Item, Label, Project

pytestmark = pytest.mark.django_db

ROWS = [
    {"id": "a", "text": "A man is sleeping.", "gold": "1", "check": "yes"},
    {"id": "b", "text": "Two dogs run.", "gold": "0"},
    {"id": "c", "text": "It rains."},
    {"id": "d", "text": "The sun is up."},
]


def _project(owner, **fields) -> Project:
    return Project.objects.create(
        **{"name": "RTE", "options": ["0", "1"], "labels_per_item": 2, "owner": owner, **fields}
    )


def _import(client, project, rows=ROWS, **options):
    body = {"items": rows, "gold_column": "gold", "check_column": "check", **options}
    return client.post(f"/api/v1/projects/{project.pk}/items/", body, format="json")


def _all(client, url) -> list[dict]:
    """Every row of a paginated list, following its cursor links."""
    rows = []
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.json()
        rows += page.json()["results"]
        url = page.json()["next"]
    return rows


def _label_everything(client, project) -> list[int]:
    """Ask for items and label each '1' until nothing is left; the item ids, in order."""
    seen = []
    while True:
        nxt = client.post(f"/api/v1/projects/{project.pk}/assignments/next/")
        assert nxt.status_code == 200, nxt.json()
        item = nxt.json()["item"]
        if item is None:
            assert nxt.json()["reason"] == "done" and nxt.json()["detail"]
            return seen
        seen.append(item["id"])
        url = f"/api/v1/projects/{project.pk}/items/{item['id']}/label/"
        labelled = client.post(url, {"value": "1", "confidence": 0.8}, format="json")
        assert labelled.status_code == 201, labelled.json()


def test_create_then_change_a_project(api_as, alice):
    client = api_as(alice)
    created = client.post(
        "/api/v1/projects/",
        {
            "name": "Entailment",
            "instructions": "Does the first sentence entail the second?",
            "options": ["no", "yes"],
            "shown_fields": ["premise", "hypothesis"],
            "labels_per_item": 3,
            "gold_threshold": 0.7,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    project = created.json()
    stored = Project.objects.get(pk=project["id"])
    assert stored.owner == alice and stored.options == ["no", "yes"]
    assert stored.shown_fields == ["premise", "hypothesis"] and stored.gold_threshold == 0.7
    assert project["owner"] == "alice" and project["item_count"] == 0
    assert project["ask_confidence"] is True  # a default the request left out

    url = f"/api/v1/projects/{project['id']}/"
    changed = client.patch(url, {"labels_per_item": 5}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["labels_per_item"] == 5
    assert changed.json()["options"] == ["no", "yes"]  # what was not sent keeps its value
    numeric = client.patch(url, {"label_format": "numeric"}, format="json")
    assert numeric.json()["options"] == []  # the form drops options of a non-choice format
    assert client.get(url).json() == numeric.json()
    assert [p["id"] for p in client.get("/api/v1/projects/").json()["results"]] == [stored.pk]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"options": ["Yes", "yes"]}, "options", "differ"),
        ({"options": ["Yes"]}, "options", "two options"),
        ({"options": [f"o{i}" for i in range(51)]}, "options", "at most 50"),
        ({"options": ["a\nb", "c"]}, "options.0", "line"),
        ({"labels_per_item": 0}, "labels_per_item", "greater than or equal to 1"),
        ({"escalation_protocol": "chess"}, "escalation_protocol", "chess"),
        ({"gold_threshold": 1.5}, "gold_threshold", "less than or equal to 1"),
    ],
)
def test_a_bad_project_names_the_field(api_as, alice, body, field, words):
    client = api_as(alice)
    created = client.post("/api/v1/projects/", {"name": "P", **body}, format="json")
    assert created.status_code == 400
    assert list(created.json()["fields"]) == [field], created.json()
    assert words.lower() in " ".join(created.json()["fields"][field]).lower()
    assert not Project.objects.exists()

    project = _project(alice)
    changed = client.patch(f"/api/v1/projects/{project.pk}/", body, format="json")
    assert changed.status_code == 400 and list(changed.json()["fields"]) == [field]
    project.refresh_from_db()
    assert project.labels_per_item == 2 and project.options == ["0", "1"]


def test_a_choice_format_without_options_is_refused_on_change(api_as, alice):
    project = _project(alice, label_format="free_text", options=[])
    changed = api_as(alice).patch(
        f"/api/v1/projects/{project.pk}/", {"label_format": "single_choice"}, format="json"
    )
    assert changed.status_code == 400 and list(changed.json()["fields"]) == ["options"]


def test_only_managers_manage_and_anyone_signed_in_labels(api_as, alice, bob, make_user):
    project = _project(alice)
    assert _import(api_as(alice), project).status_code == 201
    job = ImportJob.objects.get()
    carol = make_user("carol")
    project.managers.add(carol)
    outsider, manager = api_as(bob), api_as(carol)
    base = f"/api/v1/projects/{project.pk}"
    managed = [
        f"{base}/",
        f"{base}/items/",
        f"{base}/labels/",
        f"{base}/aggregate/",
        f"{base}/imports/{job.pk}/",
    ]
    for url in managed:
        assert outsider.get(url).status_code == 404, url
        assert manager.get(url).status_code == 200, url
    assert outsider.patch(f"{base}/", {"name": "Mine"}, format="json").status_code == 404
    assert _import(outsider, project, [{"id": "z"}]).status_code == 404
    assert outsider.get("/api/v1/projects/").json()["results"] == []
    assert Project.objects.get().name == "RTE" and Item.objects.count() == len(ROWS)

    nxt = outsider.post(f"{base}/assignments/next/")  # labelling is open to everyone
    assert nxt.status_code == 200 and nxt.json()["item"] is not None
    assert outsider.post("/api/v1/projects/999999/assignments/next/").status_code == 404

    anonymous = APIClient()
    for url in [*managed, "/api/v1/projects/"]:
        assert anonymous.get(url).status_code == 401, url
    refused = anonymous.post(f"{base}/assignments/next/")
    assert refused.status_code == 401 and refused.json()["error"] == "not_authenticated"


def test_one_bad_row_imports_nothing_and_every_bad_row_is_named(api_as, alice):
    project = _project(alice)
    rows = [
        ROWS[0],
        {"id": "a", "text": "the same id again"},
        {"id": "x", "text": "a check without gold", "check": "1"},
        {"id": "y", "text": "gold outside the options", "gold": "maybe"},
        ROWS[3],
    ]
    response = _import(api_as(alice), project, rows)
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert set(fields) == {"items.1.id", "items.2.gold", "items.3.gold"}, fields
    assert "repeats" in fields["items.1.id"][0] and "gold" in fields["items.2.gold"][0]
    assert not Item.objects.exists()

    not_a_row = _import(api_as(alice), project, [ROWS[0], "text"])
    assert not_a_row.status_code == 400 and list(not_a_row.json()["fields"]) == ["items.1"]
    bad_mode = _import(api_as(alice), project, mode="skip")
    assert bad_mode.status_code == 400 and list(bad_mode.json()["fields"]) == ["mode"]
    assert not Item.objects.exists()


def test_skip_bad_rows_imports_the_good_ones_and_reports_the_rest(api_as, alice):
    project = _project(alice)
    client = api_as(alice)
    rows = [*ROWS, {"id": "b", "text": "a repeated id"}]
    response = _import(client, project, rows, mode="skip_bad_rows")
    assert response.status_code == 201, response.json()
    job = response.json()
    assert job["status"] == "done" and job["created_items"] == len(ROWS)
    assert [(e["line"], e["column"]) for e in job["errors"]] == [(len(rows), "id")]
    followed = client.get(f"/api/v1/projects/{project.pk}/imports/{job['id']}/")
    assert followed.json() == job

    items = _all(client, f"/api/v1/projects/{project.pk}/items/?page_size=3")
    assert [i["external_id"] for i in items] == [r["id"] for r in ROWS]
    first = items[0]
    assert first["gold"] == "1" and first["is_check"] and first["label_count"] == 0
    assert first["data"] == {"id": "a", "text": ROWS[0]["text"]}  # gold and check kept apart

    again = _import(client, project, [{"id": "e", "text": "one more"}])
    assert again.status_code == 201 and Item.objects.filter(project=project).count() == 5


def test_a_large_import_is_queued_and_can_be_followed(api_as, alice, settings):
    settings.ANNOTATION_SYNC_IMPORT_BYTES = 10  # every import goes to the worker
    project = _project(alice)
    client = api_as(alice)
    queued = _import(client, project)
    assert queued.status_code == 202, queued.json()
    url = f"/api/v1/projects/{project.pk}/imports/{queued.json()['id']}/"
    assert client.get(url).json()["status"] == "pending" and not Item.objects.exists()
    importing.run_import(queued.json()["id"])  # what the Celery task does
    done = client.get(url).json()
    assert done["status"] == "done" and done["created_items"] == len(ROWS)
    assert done["progress"]["percent"] == 100
    other = _project(alice, name="Other")
    assert client.get(f"/api/v1/projects/{other.pk}/imports/{done['id']}/").status_code == 404


def test_people_label_every_item_k_times_never_the_same_item_twice(api_as, alice, bob, make_user):
    project = _project(alice, labels_per_item=2)
    assert _import(api_as(alice), project).status_code == 201
    people = {"alice": alice, "bob": bob, "carol": make_user("carol")}
    clients = {name: api_as(user) for name, user in people.items()}
    labelled = {name: [] for name in people}
    working = list(people)
    while working:  # interleaved, as people at work: one item each in turn
        for name in list(working):
            nxt = clients[name].post(f"/api/v1/projects/{project.pk}/assignments/next/").json()
            if nxt["item"] is None:
                assert nxt["reason"] == "done"
                working.remove(name)
                continue
            item = nxt["item"]["id"]
            again = clients[name].post(f"/api/v1/projects/{project.pk}/assignments/next/")
            assert again.json()["item"]["id"] == item  # held until labelled
            url = f"/api/v1/projects/{project.pk}/items/{item}/label/"
            assert clients[name].post(url, {"value": "1"}, format="json").status_code == 201
            labelled[name].append(item)
    for ids in labelled.values():
        assert len(ids) == len(set(ids))
    per_item = Counter(Label.objects.values_list("item_id", flat=True))
    assert per_item == {
        pk: project.labels_per_item for pk in Item.objects.values_list("pk", flat=True)
    }
    assert sum(map(len, labelled.values())) == project.labels_per_item * len(ROWS)

    first = clients["alice"]
    retry = first.post(
        f"/api/v1/projects/{project.pk}/items/{labelled['alice'][0]}/label/",
        {"value": "0"},
        format="json",
    )
    assert retry.status_code == 200  # a second submit returns the first label
    stored = Label.objects.get(item_id=labelled["alice"][0], annotator__user=alice)
    assert retry.json()["id"] == stored.pk and retry.json()["value"] == stored.value == "1"


def test_labellers_see_neither_gold_nor_blind_labels(api_as, alice, bob, make_user):
    project = _project(alice, labels_per_item=3, shown_fields=["text"])
    _import(api_as(alice), project, [ROWS[0]])
    first = api_as(bob).post(f"/api/v1/projects/{project.pk}/assignments/next/").json()
    assert first["item"]["fields"] == [{"name": "text", "value": ROWS[0]["text"]}]
    assert first["project"] == {
        "id": project.pk,
        "name": "RTE",
        "instructions": "",
        "label_format": "single_choice",
        "options": ["0", "1"],
        "ask_confidence": True,
    }
    url = f"/api/v1/projects/{project.pk}/items/{first['item']['id']}/label/"
    assert api_as(bob).post(url, {"value": "0", "confidence": 70}, format="json").status_code == 201
    assert Label.objects.get().confidence == pytest.approx(0.7)  # a percentage, as on the page

    carol = api_as(make_user("carol"))
    blind = carol.post(f"/api/v1/projects/{project.pk}/assignments/next/").json()
    assert blind["item"]["others"] == []  # blind labelling
    assert set(blind["item"]) == {"id", "external_id", "fields", "others", "expires_at"}

    project.show_others_labels = True
    project.save()
    open_ = carol.post(f"/api/v1/projects/{project.pk}/assignments/next/").json()
    assert open_["item"]["others"] == [{"annotator": "bob", "value": "0", "confidence": 0.7}]


def test_a_skipped_item_is_never_given_again(api_as, alice, bob):
    project = _project(alice)
    _import(api_as(alice), project, ROWS[2:])
    client = api_as(bob)
    base = f"/api/v1/projects/{project.pk}"
    skipped = client.post(f"{base}/assignments/next/").json()["item"]["id"]
    assert client.post(f"{base}/items/{skipped}/skip/").status_code == 204
    again = client.post(f"{base}/items/{skipped}/skip/")
    assert again.status_code == 409 and again.json()["error"] == "not_allowed"
    late = client.post(f"{base}/items/{skipped}/label/", {"value": "1"}, format="json")
    assert late.status_code == 409 and "skipped" in late.json()["detail"]
    assert _label_everything(client, project) == [
        pk for pk in Item.objects.order_by("position").values_list("pk", flat=True) if pk != skipped
    ]
    assert client.post(f"{base}/items/999999/skip/").status_code == 404


def test_a_label_outside_the_schema_names_the_value(api_as, alice, bob):
    project = _project(alice)
    _import(api_as(alice), project, ROWS[2:3])
    client = api_as(bob)
    base = f"/api/v1/projects/{project.pk}"
    never_assigned = client.post(f"{base}/items/{Item.objects.get().pk}/label/", {"value": "1"})
    assert never_assigned.status_code == 409
    item = client.post(f"{base}/assignments/next/").json()["item"]
    url = f"{base}/items/{item['id']}/label/"
    for body, field in [
        ({"value": "maybe"}, "value"),
        ({"value": "1", "confidence": 101}, "confidence"),
        ({}, "value"),
    ]:
        refused = client.post(url, body, format="json")
        assert refused.status_code == 400 and list(refused.json()["fields"]) == [field], body
    assert not Label.objects.exists()


def test_the_aggregate_is_the_projects_aggregate(api_as, alice, make_user):
    project = _project(alice, labels_per_item=3)
    _import(api_as(alice), project)
    people = [make_user(name) for name in ("p1", "p2", "p3")]
    answers = {"p1": "1", "p2": "1", "p3": "0"}
    for person in people:  # labelled through the labelling service, as the page does
        annotator = labelling.person_annotator(project, person)
        while (nxt := labelling.next_assignment(annotator)).assignment:
            value = answers[person.username]
            labelling.submit_label(annotator, nxt.assignment.item_id, value, confidence=0.9)
    client = api_as(alice)
    for method, pin_gold in [(None, 0), ("mv", 0), ("glad", 1)]:
        query = f"?pin_gold={pin_gold}" + (f"&method={method}" if method else "")
        response = client.get(f"/api/v1/projects/{project.pk}/aggregate/{query}")
        assert response.status_code == 200, response.json()
        body = response.json()
        expected = aggregate_project(project, method, pin_gold=bool(pin_gold))
        assert body["method"] == expected.method and body["pin_gold"] == bool(pin_gold)
        assert body["alpha"] == pytest.approx(expected.alpha)
        assert body["accuracy"] == pytest.approx(expected.accuracy)
        assert [
            (i["external_id"], i["label"], i["labels"], i["source"]) for i in body["items"]
        ] == [(r.external_id, r.label, r.labels, r.source) for r in expected.items]
        assert [i["confidence"] for i in body["items"]] == pytest.approx(
            [r.confidence for r in expected.items]
        )
        keys = {a.pk: a.label_key for a in Annotator.objects.filter(project=project)}
        assert [
            (a["annotator"], a["gold_answered"], a["gold_correct"]) for a in body["annotators"]
        ] == [(keys[a.annotator_id], a.gold_answered, a.gold_correct) for a in expected.annotators]

    numeric = _project(alice, label_format="numeric", options=[])
    refused = client.get(f"/api/v1/projects/{numeric.pk}/aggregate/?method=ds")
    assert refused.status_code == 400 and list(refused.json()["fields"]) == ["method"]
    assert "mv" in refused.json()["detail"]
    bad_flag = client.get(f"/api/v1/projects/{project.pk}/aggregate/?pin_gold=yes")
    assert bad_flag.status_code == 400 and list(bad_flag.json()["fields"]) == ["pin_gold"]


def test_every_label_is_listed_with_its_annotator_and_cost(api_as, alice, bob, simulated_agent):
    project = _project(alice)
    _import(api_as(alice), project, ROWS[:2])
    _label_everything(api_as(bob), project)
    agent = labelling.agent_annotator(project, simulated_agent("Judge"))
    item = Item.objects.get(external_id="b")
    labelling.store_label(
        item,
        agent,
        "0",
        model="simulated-1",
        prompt_tokens=12,
        completion_tokens=3,
        cost_usd="0.000150",
    )
    listed = _all(api_as(alice), f"/api/v1/projects/{project.pk}/labels/?page_size=2")
    assert [
        (r["item_external_id"], r["annotator"], r["annotator_kind"], r["value"]) for r in listed
    ] == [
        ("a", "user:bob", "person", "1"),
        ("b", "user:bob", "person", "1"),
        ("b", "agent:Judge", "agent", "0"),
    ]
    by_agent = listed[-1]
    assert by_agent["model"] == "simulated-1" and by_agent["prompt_tokens"] == 12
    assert by_agent["cost_usd"] == "0.000150" and by_agent["seconds_spent"] is None
    assert listed[0]["confidence"] == 0.8 and listed[0]["seconds_spent"] >= 0
    assert [r["id"] for r in listed] == list(
        Label.objects.order_by("id").values_list("pk", flat=True)
    )


def test_rows_postgres_cannot_store_are_reported_not_crashed_on(api_as, alice):
    project = _project(alice)
    rows = [{"id": "ok", "text": "fine"}, {"id": "bad", "text": "nul \u0000 byte"}]
    data = "\n".join(json.dumps(r) for r in rows).encode()  # as an uploaded file holds it
    job = importing.create_import(project, data, "items.jsonl", {}, alice)
    assert job.status == ImportJob.Status.FAILED and not project.items.exists()
    assert [(e["line"], "NUL" in e["reason"]) for e in job.errors] == [(2, True)]
    assert bytes(job.content) == b""  # a refused file is not kept
