"""Project aggregation: the real rte crowd labels stored as a project give the same consensus
as the pure library run on the file; adjudicated labels override; agreement and quality."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.utils import timezone

from deliberation.annotation import aggregation
from deliberation.annotation.models import Annotator, Item, Label
from deliberation.consensus.crowd import run_aggregation

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parents[1] / "data" / "crowd"


def _rows(name):
    with open(DATA / name, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def rte_project(make_project):
    """The rte dataset (800 items, 164 workers, 8,000 labels) stored as a project."""
    project = make_project(labels_per_item=10)
    gold = {r["task"]: r["label"] for r in _rows("rte.gold.csv")}
    items = Item.objects.bulk_create(
        Item(
            project=project,
            external_id=r["task"],
            position=n,
            data={"text": r["text"], "hypothesis": r["hypothesis"]},
            gold=gold.get(r["task"]),
        )
        for n, r in enumerate(_rows("rte.items.csv"))
    )
    by_task = {i.external_id: i for i in items}
    labels = _rows("rte.labels.csv")
    workers = Annotator.objects.bulk_create(
        Annotator(project=project, kind="crowd", worker_id=w, name=w)
        for w in dict.fromkeys(r["worker"] for r in labels)
    )
    by_worker = {a.worker_id: a for a in workers}
    Label.objects.bulk_create(
        Label(item=by_task[r["task"]], annotator=by_worker[r["worker"]], value=r["label"])
        for r in labels
    )
    return project


@pytest.mark.parametrize("method", ["mv", "ds", "glad"])
def test_project_consensus_equals_the_library_on_the_same_labels(rte_project, method):
    expected, accuracy = run_aggregation(DATA / "rte.labels.csv", method, DATA / "rte.gold.csv")
    result = aggregation.aggregate_project(rte_project, method)
    got = {r.external_id: r.label for r in result.items}
    assert got == {str(t): str(v) for t, v in expected.labels.items()}
    assert result.accuracy == pytest.approx(accuracy)
    assert result.accuracy > 0.9  # rte's known result for these methods
    assert result.alpha is not None and 0 < result.alpha < 1
    first = result.items[0]
    assert first.labels == 10 and first.source == "aggregate"
    assert 0.5 <= first.confidence <= 1
    # Annotators ranked by the method's quality estimate, best first.
    skills = [a.skill for a in result.annotators]
    assert skills == sorted(skills, reverse=True)


def test_adjudicated_label_overrides_the_aggregate_and_the_cache_follows(rte_project, manager):
    before = aggregation.aggregate_project(rte_project, "mv")
    item = rte_project.items.get(external_id=before.items[0].external_id)
    flipped = "1" if before.items[0].label == "0" else "0"
    Item.objects.filter(pk=item.pk).update(
        final_label=flipped, final_by=manager, final_at=timezone.now()
    )
    after = aggregation.aggregate_project(rte_project, "mv")
    row = after.by_item[item.pk]
    assert (row.label, row.source, row.confidence) == (flipped, "adjudicated", None)


def test_new_label_invalidates_the_cached_aggregate(project, make_items):
    items = make_items(project, 1)
    a, b, c = (
        Annotator.objects.create(project=project, kind="crowd", worker_id=w, name=w) for w in "abc"
    )
    Label.objects.create(item=items[0], annotator=a, value="1")
    Label.objects.create(item=items[0], annotator=b, value="0")
    first = aggregation.aggregate_project(project, "mv")
    assert first.items[0].agreement == 0.5
    Label.objects.create(item=items[0], annotator=c, value="0")
    second = aggregation.aggregate_project(project, "mv")
    assert second.items[0].label == "0" and second.items[0].agreement == pytest.approx(2 / 3)


def test_numeric_projects_offer_vote_methods_within_tolerance(make_project, make_items):
    project = make_project(label_format="numeric", options=[], tolerance=1.0)
    items = make_items(project, 1)
    for n, v in enumerate([10.2, 9.9, 30.0]):
        a = Annotator.objects.create(project=project, kind="crowd", worker_id=f"w{n}", name="w")
        Label.objects.create(item=items[0], annotator=a, value=v)
    assert aggregation.methods_for(project) == ["mv", "wawa"]
    with pytest.raises(ValueError, match="does not apply"):
        aggregation.aggregate_project(project, "ds")
    row = aggregation.aggregate_project(project).items[0]
    assert row.label in (10.2, 9.9) and row.agreement == pytest.approx(2 / 3)


def test_pinning_check_items_scores_only_the_others(make_project, make_items):
    project = make_project()
    items = make_items(project, 4, gold="1", checks=2)
    for n, values in enumerate(["1100", "0011", "1111"]):
        a = Annotator.objects.create(project=project, kind="crowd", worker_id=f"w{n}", name="w")
        for item, v in zip(items, values, strict=True):
            Label.objects.create(item=item, annotator=a, value=v)
    pinned = aggregation.aggregate_project(project, "ds", pin_gold=True)
    assert pinned.by_item[items[0].pk].label == "1"
    assert pinned.accuracy is not None
    workers = {a.name: a for a in pinned.annotators}
    assert workers["w"].gold_answered == 2


def test_label_text_for_csv():
    assert aggregation.label_text(["a", "b"], "multiple_choice") == "a | b"
    assert aggregation.label_text(12.0, "numeric") == "12"
    assert aggregation.label_text(None, "single_choice") == ""


def test_aggregate_command_map_option(tmp_path, capsys):
    """Dawid-Skene is maximum likelihood by default; --prior-correct gives the MAP variant."""
    from django.core.management import CommandError, call_command

    labels, gold = DATA / "rte.labels.csv", DATA / "rte.gold.csv"
    out = tmp_path / "out.csv"
    call_command("aggregate", str(labels), "--method", "ds", "--gold", str(gold), "--out", str(out))
    _, ml = run_aggregation(labels, "ds", gold)
    _, ml_explicit = run_aggregation(labels, "ds", gold, prior_correct=0.0, smoothing=0.0)
    assert ml == ml_explicit
    assert f"accuracy against gold: {ml:.4f}" in capsys.readouterr().out
    call_command(
        "aggregate",
        str(labels),
        "--method",
        "ds",
        "--gold",
        str(gold),
        "--out",
        str(out),
        "--prior-correct",
        "2",
    )
    _, map_accuracy = run_aggregation(labels, "ds", gold, prior_correct=2.0)
    assert f"accuracy against gold: {map_accuracy:.4f}" in capsys.readouterr().out
    with pytest.raises(CommandError, match="ds and onecoin"):
        call_command("aggregate", str(labels), "--method", "mace", "--prior-correct", "2")
