"""Exports (exact content, streaming, fixed query count) and ``manage.py aggregate``."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deliberation.annotation import exporting
from deliberation.annotation.models import Annotator, Item, Label
from deliberation.consensus.crowd import run_aggregation

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parents[1] / "data" / "crowd"


@pytest.fixture
def labelled(project, make_items, make_user, simulated_agent, manager):
    """Two items labelled by a person, a crowd worker and an agent; t1 adjudicated."""
    items = make_items(project, 2, gold="1")
    person = Annotator.objects.create(
        project=project, kind="person", user=make_user("ann"), name="ann"
    )
    crowd = Annotator.objects.create(project=project, kind="crowd", worker_id="W9", name="W9")
    agent = Annotator.objects.create(
        project=project, kind="agent", agent=simulated_agent("Sim"), name="Sim"
    )
    for annotator, values in ((person, "11"), (crowd, "10"), (agent, "10")):
        for item, value in zip(items, values, strict=True):
            Label.objects.create(
                item=item,
                annotator=annotator,
                value=value,
                confidence=0.8,
                model="simulated-1" if annotator is agent else "",
                prompt=[{"role": "user", "content": "label it"}] if annotator is agent else [],
                prompt_tokens=12 if annotator is agent else None,
                cost_usd=Decimal("0.000100") if annotator is agent else None,
            )
    Item.objects.filter(pk=items[1].pk).update(
        final_label="1",
        final_rationale="Checked the text.",
        final_by=manager,
        final_at=timezone.now(),
    )
    return project


def _text(chunks) -> str:
    return "".join(c if isinstance(c, str) else c.decode() for c in chunks)


def test_labels_csv_is_the_long_format(labelled):
    rows = list(csv.reader(io.StringIO(_text(exporting.labels_csv(labelled)))))
    assert rows == [
        ["task", "worker", "label"],
        ["t0", "user:ann", "1"],
        ["t0", "crowd:W9", "1"],
        ["t0", "agent:Sim", "1"],
        ["t1", "user:ann", "1"],
        ["t1", "crowd:W9", "0"],
        ["t1", "agent:Sim", "0"],
    ]


def test_the_long_format_aggregates_like_the_project(labelled, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(_text(exporting.labels_csv(labelled)))
    result, _ = run_aggregation(path, "mv")
    assert result.labels == {"t0": "1", "t1": "0"}  # before adjudication, as in the file


def test_aggregated_csv_marks_adjudicated_labels(labelled):
    rows = list(csv.DictReader(io.StringIO(_text(exporting.aggregated_csv(labelled, "mv")))))
    assert [(r["task"], r["label"], r["source"]) for r in rows] == [
        ("t0", "1", "aggregate"),
        ("t1", "1", "adjudicated"),
    ]
    assert float(rows[0]["confidence"]) == pytest.approx(1.0) and rows[1]["confidence"] == ""


def test_jsonl_has_everything(labelled):
    lines = [json.loads(line) for line in exporting.items_jsonl(labelled)]
    header, first, second = lines
    assert header["format"] == "deliberation.annotation.project"
    assert header["project"]["options"] == ["0", "1"]
    assert first["task"] == "t0" and first["data"] == {"text": "item 0"}
    assert first["gold"] == "1" and first["final"] is None
    agent = next(lb for lb in first["labels"] if lb["annotator"]["kind"] == "agent")
    assert agent["agent"]["model"] == "simulated-1"
    assert agent["agent"]["prompt"] == [{"role": "user", "content": "label it"}]
    assert agent["agent"]["cost_usd"] == "0.000100"
    assert second["final"]["label"] == "1" and second["final"]["decided_by"] == "manager"


def test_query_count_does_not_grow_with_items(project, make_items):
    def queries(n_items):
        Item.objects.filter(project=project).delete()
        items = make_items(project, n_items)
        workers = [
            Annotator.objects.get_or_create(
                project=project, kind="crowd", worker_id=f"w{k}", defaults={"name": "w"}
            )[0]
            for k in range(3)
        ]
        Label.objects.bulk_create(
            Label(item=i, annotator=w, value="1") for i in items for w in workers
        )
        with CaptureQueriesContext(connection) as ctx:
            _text(exporting.labels_csv(project))
            list(exporting.items_jsonl(project))
        return len(ctx)

    assert queries(5) == queries(200)


def test_downloads_stream_and_need_a_manager(labelled, make_user):
    client = Client()
    client.force_login(labelled.owner)
    for kind in ("labels_csv", "aggregated_csv", "jsonl"):
        response = client.get(reverse("annotation:export", args=[labelled.pk, kind]))
        assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
        assert "attachment" in response["Content-Disposition"]
        assert _text(response.streaming_content)
    bad = client.get(
        reverse("annotation:export", args=[labelled.pk, "aggregated_csv"]) + "?method=x"
    )
    assert bad.status_code == 400
    assert client.get(reverse("annotation:export", args=[labelled.pk, "xml"])).status_code == 404
    stranger = Client()
    stranger.force_login(make_user("stranger"))
    url = reverse("annotation:export", args=[labelled.pk, "labels_csv"])
    assert stranger.get(url).status_code == 404


# --- manage.py aggregate --------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["mv", "wawa", "ds", "onecoin", "glad", "mace"])
def test_aggregate_command_prints_the_accuracy(method, tmp_path, capsys):
    out = tmp_path / "out.csv"
    labels, gold = DATA / "rte.labels.csv", DATA / "rte.gold.csv"
    call_command(
        "aggregate", str(labels), "--method", method, "--gold", str(gold), "--out", str(out)
    )
    _, accuracy = run_aggregation(labels, method, gold)
    printed = capsys.readouterr().out
    assert f"accuracy against gold: {accuracy:.4f}" in printed
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 800 and set(rows[0]) == {"task", "label", "confidence"}


def test_aggregate_command_writes_to_stdout_without_out(capsys):
    call_command("aggregate", str(DATA / "ms.labels.csv"), "--method", "mv")
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "task,label,confidence"
    assert len(captured.out.splitlines()) == 701
    assert "mv: 700 tasks" in captured.err


def test_aggregate_command_refuses_bad_files(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("task,annotator,answer\n1,a,x\n")
    with pytest.raises(CommandError):
        call_command("aggregate", str(bad))
    with pytest.raises(CommandError):
        call_command("aggregate", str(tmp_path / "missing.csv"))
