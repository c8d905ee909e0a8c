"""Two people label rte items in headless Chromium with the keyboard, against the real server.

Alice and Bob, each in a browser of their own, open the project's labelling link and label
with the shortcuts only (a digit picks an option, Enter submits, S skips). The test then checks
what the server stored: every item got its two labels, nobody labelled an item twice, the time
spent was recorded, a skipped item went to someone else; and the manager's project page shows
the consensus.

Needs Debian's Chromium (``apt-get install chromium chromium-driver``); skipped without it.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from deliberation.agents.models import AgentProfile
from deliberation.annotation.models import Assignment, Item, Label, Project
from tests.live_server import CHROMIUM, chromium, daphne_only, log_in, run_servers, screenshot

if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DATA = Path(__file__).resolve().parents[1] / "data" / "crowd"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rte_sample.csv"
TIMEOUT_MS = 15_000


@pytest.fixture
def server(transactional_db, tmp_path):
    with daphne_only(tmp_path) as base_url:
        yield base_url


@pytest.fixture
def rte_project(manager, alice, bob):
    project = Project.objects.create(
        name="RTE",
        instructions="Does the text entail the hypothesis? 1 = yes, 0 = no.",
        label_format="single_choice",
        options=["0", "1"],
        labels_per_item=2,
        shown_fields=["text", "hypothesis"],
        owner=manager,
    )
    with open(DATA / "rte.items.csv", newline="") as f:
        rows = [r for _, r in zip(range(3), csv.DictReader(f), strict=False)]
    Item.objects.bulk_create(
        Item(project=project, external_id=r["task"], position=n, data=dict(r))
        for n, r in enumerate(rows)
    )
    return project


def _label_with_keys(page, key: str) -> str:
    """Label the item on screen with a digit and Enter; return its id."""
    item = page.locator("#labelling").get_attribute("data-item")
    page.locator("body").press(key)
    expect(page.locator(f'#choices input[data-key="{key}"]')).to_be_checked()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    return item


def test_two_people_label_with_the_keyboard(server, rte_project):
    pk = rte_project.pk
    path = f"/annotation/{pk}/label/"
    with chromium() as browser:
        alice = log_in(browser, server, "alice", path)
        bob = log_in(browser, server, "bob", path)
        expect(alice.locator("#item-fields")).to_contain_text("hypothesis")
        screenshot(alice, "annotation-label")
        first_alice = alice.locator("#labelling").get_attribute("data-item")
        first_bob = bob.locator("#labelling").get_attribute("data-item")
        assert first_alice != first_bob  # the least-labelled items, one each
        # Alice skips her first item with S, then labels the rest with "2" (option "1").
        with alice.expect_navigation():
            alice.locator("body").press("s")
        alice_items = []
        while alice.locator("#labelling").count():
            alice_items.append(_label_with_keys(alice, "2"))
        expect(alice.locator("#done-reason")).to_contain_text("no more items")
        bob_items = []
        while bob.locator("#labelling").count():
            bob_items.append(_label_with_keys(bob, "1"))
        screenshot(bob, "annotation-done")
        manager = log_in(browser, server, "manager", f"/annotation/{pk}/?method=mv")
        expect(manager.locator("#project-stats")).to_contain_text("items have their 2 labels")
        screenshot(manager, "annotation-project")
        stats = manager.locator("#project-stats").inner_text()
    labels = list(Label.objects.filter(item__project=rte_project).select_related("item"))
    per_item = Counter(label.item.external_id for label in labels)
    assert first_alice not in alice_items  # skipped for good
    assert sorted(alice_items) == sorted(
        label.item.external_id for label in labels if label.annotator.name == "alice"
    )
    assert Counter((lb.item_id, lb.annotator_id) for lb in labels).most_common(1)[0][1] == 1
    assert {lb.value for lb in labels if lb.annotator.name == "alice"} == {"1"}
    assert {lb.value for lb in labels if lb.annotator.name == "bob"} == {"0"}
    assert all(lb.seconds_spent is not None and lb.seconds_spent >= 0 for lb in labels)
    assert Assignment.objects.filter(status="skipped").count() == 1
    # Three items, two labels each, from two people: the skipped item could not be completed.
    assert per_item[first_alice] == 1 and sum(per_item.values()) == 5
    assert "2/3" in stats


# --- a whole project, in the browser ----------------------------------------------------------
@pytest.fixture(scope="module")
def servers_with_worker(django_db_setup, tmp_path_factory):
    with run_servers(tmp_path_factory.mktemp("annotation-servers")) as running:
        yield running


@pytest.fixture
def live(servers_with_worker, transactional_db):
    servers_with_worker.check_alive()
    offsets = servers_with_worker.log_offsets()
    yield servers_with_worker.base_url
    servers_with_worker.print_logs(offsets)


def test_import_label_agents_aggregate_escalate_export(live, manager, alice, bob, tmp_path):
    """The issue's 'done means', in Chromium: rte items imported, labelled by two people and by
    simulated agents in batch (a real Celery worker), aggregated, escalated, exported."""
    project = Project.objects.create(
        name="RTE",
        label_format="single_choice",
        options=["0", "1"],
        labels_per_item=2,
        shown_fields=["text", "hypothesis"],
        owner=manager,
    )
    for name, accuracy in (("Careful (sim)", 0.9), ("Sloppy (sim)", 0.6)):
        AgentProfile.objects.create(
            name=name, backend="simulated", seed=7, parameters={"simulated": {"accuracy": accuracy}}
        )
    with open(EXAMPLE, newline="") as f:
        rows = list(csv.DictReader(f))[:6]
    upload = tmp_path / "rte6.csv"
    with upload.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["id", "text", "hypothesis", "gold"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    pk = project.pk
    with chromium() as browser:
        boss = log_in(browser, live, "manager", f"/annotation/{pk}/import/")
        boss.set_input_files("#id_file", str(upload))
        boss.fill("#id_gold_column", "gold")
        boss.click("#import-form button[type=submit]")
        expect(boss.locator("#import-state")).to_have_text("done")
        expect(boss.locator("#import-created")).to_have_text("6")

        for name, key in (("alice", "2"), ("bob", "1")):
            page = log_in(browser, live, name, f"/annotation/{pk}/label/")
            while page.locator("#labelling").count():
                _label_with_keys(page, key)
            expect(page.locator("#done-reason")).to_contain_text("no more items")

        boss.goto(f"/annotation/{pk}/agents/new/")
        for label in boss.locator("#agent-run-form input[type=checkbox]").all():
            label.check()
        boss.click("#agent-run-form button[type=submit]")
        expect(boss.locator("#run-status")).to_have_text("done", timeout=60_000)
        expect(boss.locator("#progress-text")).to_have_text("12/12")

        boss.goto(f"/annotation/{pk}/?method=ds")
        expect(boss.locator("#project-stats")).to_contain_text("6/6")
        expect(boss.locator("#aggregate-table tbody tr")).to_have_count(6)
        expect(boss.locator("#annotator-table tbody tr")).to_have_count(4)
        screenshot(boss, "annotation-project-aggregated")

        csv_text = boss.request.get(f"/annotation/{pk}/export/labels_csv/").text()
        aggregated = boss.request.get(f"/annotation/{pk}/export/aggregated_csv/?method=ds").text()

        boss.goto(f"/annotation/{pk}/adjudication/")
        first = boss.locator("article.adjudication-item").first
        item_id = first.get_attribute("data-item")
        first.locator(".escalate-form button[type=submit]").click()
        boss.wait_for_url("**/sessions/**")
        expect(boss.locator("body")).to_contain_text("escalated to a deliberation")
    rows = list(csv.reader(csv_text.splitlines()))
    assert rows[0] == ["task", "worker", "label"] and len(rows) == 1 + 24
    assert {r[1] for r in rows[1:]} == {
        "user:alice",
        "user:bob",
        "agent:Careful (sim)",
        "agent:Sloppy (sim)",
    }
    assert len(list(csv.DictReader(aggregated.splitlines()))) == 6
    agent_labels = Label.objects.filter(item__project=project, annotator__kind="agent")
    assert agent_labels.count() == 12
    assert all(lb.prompt and lb.reply and lb.completion_tokens for lb in agent_labels)
    item = Item.objects.get(project=project, external_id=item_id)
    people = set(
        item.escalation.participants.filter(role="debater").values_list("user__username", flat=True)
    )
    assert people == {"alice", "bob"}
