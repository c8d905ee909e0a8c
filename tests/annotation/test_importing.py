"""Importing items: every bad row reported (line, column, reason), all or nothing by default,
skip mode, the real rte items, a large file through a real Celery worker, the command."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from deliberation import celery_app
from deliberation.annotation import importing
from deliberation.annotation.models import ImportJob, Item

DATA = Path(__file__).resolve().parents[1] / "data" / "crowd"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rte_sample.csv"
GOLD = {"gold_column": "gold", "check_column": "check"}


def _import(project, text: str | bytes, name="items.csv", **options):
    data = text.encode() if isinstance(text, str) else text
    return importing.create_import(project, data, name, options, None)


def _errors(job):
    return [(e["line"], e["column"], e["reason"]) for e in job.errors]


@pytest.mark.django_db
def test_csv_with_any_columns_gold_and_checks(project):
    job = _import(
        project,
        "id,text,source,gold,check\na1,first,web,1,yes\na2,second,news,0,\na3,third,web,,\n",
        **GOLD,
    )
    assert (job.status, job.created_items, job.total_rows, job.errors) == ("done", 3, 3, [])
    items = list(project.items.order_by("position"))
    assert [i.external_id for i in items] == ["a1", "a2", "a3"]
    assert items[0].data == {"id": "a1", "text": "first", "source": "web"}  # gold/check hidden
    assert [(i.gold, i.is_check) for i in items] == [("1", True), ("0", False), (None, False)]
    # A second file continues the positions.
    _import(project, "id,text\nb1,fourth\n")
    assert project.items.get(external_id="b1").position == 3


@pytest.mark.django_db
def test_every_bad_row_is_reported_and_nothing_is_imported(project):
    Item.objects.create(project=project, external_id="old", position=0, data={})
    text = (
        "id,text,gold,check\n"
        "ok1,fine,1,\n"
        ",no id,1,\n"  # line 3
        "ok1,again,0,\n"  # line 4: repeats line 2
        "old,exists,0,\n"  # line 5
        "g1,bad gold,maybe,\n"  # line 6
        "c1,check without gold,,yes\n"  # line 7
        "short,row\n"  # line 8
        "ok2,fine,0,\n"
    )
    job = _import(project, text, **GOLD)
    assert job.status == "failed" and job.created_items == 0
    assert _errors(job) == [
        (3, "id", "empty id"),
        (4, "id", "id 'ok1' repeats line 2"),
        (5, "id", "id 'old' is already in the project"),
        (6, "gold", "gold label: \u201cmaybe\u201d is not one of the options (0, 1)."),
        (7, "gold", "a check item needs a gold label"),
        (8, "", "2 fields, but the header has 4"),
    ]
    assert project.items.count() == 1  # all or nothing


@pytest.mark.django_db
def test_skip_mode_imports_the_good_rows_and_reports_the_bad(project):
    job = _import(project, "id,text\n1,a\n,b\n3,c\n", mode="skip_bad_rows")
    assert (job.status, job.created_items) == ("done", 2)
    assert _errors(job) == [(3, "id", "empty id")]
    assert sorted(project.items.values_list("external_id", flat=True)) == ["1", "3"]


@pytest.mark.django_db
def test_jsonl_errors_and_line_numbers_without_an_id_column(project):
    text = '{"text": "a"}\nnot json\n[1, 2]\n\n{"text": "d"}\n'
    job = _import(project, text, name="items.jsonl")
    assert _errors(job) == [
        (2, "", "not valid JSON (Expecting value at column 1)"),
        (3, "", "each line must be a JSON object"),
    ]
    good = _import(project, '{"text": "a", "n": 1}\n\n{"text": "d"}\n', name="x.jsonl")
    assert good.status == "done"
    assert list(project.items.values_list("external_id", "data")) == [
        ("1", {"text": "a", "n": 1}),
        ("3", {"text": "d"}),
    ]


@pytest.mark.django_db
def test_unreadable_files_are_refused_clearly(project, settings):
    job = _import(project, b"id,text\n1,caf\xe9\n")
    assert _errors(job) == [(2, "", "not valid UTF-8 text; save the file as UTF-8")]
    with pytest.raises(importing.ImportProblem, match="empty"):
        _import(project, "  \n")
    assert _errors(_import(project, "id,text\n")) == [(0, "", "the file has no rows")]
    assert "repeated" in _errors(_import(project, "id,id\n1,2\n"))[0][2]
    settings.ANNOTATION_MAX_IMPORT_BYTES = 10
    with pytest.raises(importing.ImportProblem, match="larger than"):
        _import(project, "id,text\n1,long enough\n")
    with pytest.raises(importing.ImportProblem, match="Unknown mode"):
        _import(project, "id\n1\n", mode="sometimes")


@pytest.mark.django_db
def test_semicolon_csv_with_bom_and_quoted_newlines(project):
    text = '\ufeffid;text\n1;"two\nlines"\n2;plain\n'
    job = _import(project, text)
    assert (job.status, job.created_items) == ("done", 2)
    assert project.items.get(external_id="1").data["text"] == "two\nlines"


@pytest.mark.django_db
def test_the_rte_sample_imports_with_its_checks(project):
    job = _import(project, EXAMPLE.read_bytes(), name="rte_sample.csv", **GOLD)
    assert (job.status, job.created_items) == ("done", 40)
    assert project.items.filter(is_check=True).count() == 4
    assert project.items.filter(gold__isnull=False).count() == 40


@pytest.mark.django_db
def test_a_redelivered_import_task_does_not_import_twice(project):
    job = _import(project, "id\n1\n2\n")
    assert importing.run_import(job.pk) is None
    assert project.items.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_large_file_imports_in_a_celery_worker_with_progress(project, settings, task_queue):
    settings.ANNOTATION_SYNC_IMPORT_BYTES = 1000
    rows = "".join(f"{n},item number {n},{n % 2}\n" for n in range(20_000))
    job = _import(project, "id,text,gold\n" + rows, gold_column="gold")
    assert job.status == "pending" and project.items.count() == 0
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[task_queue], shutdown_timeout=30
    ):
        seen = set()
        for _ in range(600):
            job.refresh_from_db()
            seen.add(job.processed_rows)
            if job.status in ("done", "failed"):
                break
            time.sleep(0.05)
    assert (job.status, job.created_items, job.total_rows) == ("done", 20_000, 20_000)
    assert len(seen) > 2  # the progress moved while it ran
    assert project.items.count() == 20_000
    assert bytes(ImportJob.objects.get(pk=job.pk).content) == b""


@pytest.mark.django_db
def test_import_page_shows_the_report(project, manager, make_user):
    client = Client()
    client.force_login(manager)
    upload = SimpleUploadedFile("bad.csv", b"id,text\n,x\n")
    response = client.post(
        reverse("annotation:import_create", args=[project.pk]),
        {"file": upload, "id_column": "id", "mode": "all_or_nothing"},
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "failed" in page and "empty id" in page and "Nothing was imported" in page
    stranger = Client()
    stranger.force_login(make_user("stranger"))
    assert stranger.get(reverse("annotation:import_create", args=[project.pk])).status_code == 404


@pytest.mark.django_db
def test_import_items_command(project, tmp_path):
    good = tmp_path / "items.jsonl"
    good.write_text("\n".join(json.dumps({"id": f"x{n}", "text": "t"}) for n in range(3)))
    call_command("import_items", str(project.pk), str(good))
    assert project.items.count() == 3
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("import_items", str(project.pk), str(good))  # the ids exist now
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_items", str(project.pk), str(tmp_path / "missing.csv"))
