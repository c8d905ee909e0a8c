"""Importing a project's items from CSV or JSONL, all-or-nothing with a report of every bad row.

Any columns are kept in ``Item.data``; the options of an import (``ImportJob.options``) say
which column is the item id (``id_column``, default ``id``; without it the line number), which
holds a gold label (``gold_column``) and which marks gold / attention-check items
(``check_column``: ``1``, ``true``, ``yes``, ``x`` or ``y`` mark a check item, which then needs a
gold label). The gold and check columns are not shown to annotators (they are kept out of
``data``).

The whole file is validated first and every bad row reported with its line, column and reason.
In ``all_or_nothing`` mode (the default) one bad row imports nothing; in ``skip_bad_rows`` mode
the good rows are imported and the bad ones reported. Rows are inserted in one transaction, so
an import never leaves half a file behind. Small files import in the request; larger ones in a
Celery task whose progress (rows validated, then rows inserted) is committed as it goes, so the
page's progress bar moves.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from deliberation.storable import unstorable

from .labelling import InvalidLabel, clean_label
from .models import ImportJob, Item, Project


def max_import_bytes() -> int:
    return getattr(settings, "ANNOTATION_MAX_IMPORT_BYTES", 50 * 1024 * 1024)


def sync_import_bytes() -> int:
    """Files up to this size import in the request; larger ones in a Celery task."""
    return getattr(settings, "ANNOTATION_SYNC_IMPORT_BYTES", 2 * 1024 * 1024)


MAX_ID_CHARS = 200
MAX_REPORTED = 1000  # errors listed in full; beyond that they are counted
BATCH = 1000
PROGRESS_EVERY = 2000
TRUTHY = {"1", "true", "yes", "x", "y"}
MODES = ("all_or_nothing", "skip_bad_rows")


class ImportProblem(ValueError):
    """The import cannot start (bad options, empty or oversized file); user-facing."""


@dataclass
class RowError:
    line: int
    column: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "reason": self.reason}


@dataclass
class Parsed:
    items: list[Item] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


def clean_options(options: dict[str, Any] | None) -> dict[str, Any]:
    options = dict(options or {})
    out = {
        "id_column": (options.get("id_column") or "id").strip(),
        "gold_column": (options.get("gold_column") or "").strip(),
        "check_column": (options.get("check_column") or "").strip(),
        "mode": options.get("mode") or "all_or_nothing",
    }
    if out["mode"] not in MODES:
        raise ImportProblem(f"Unknown mode {out['mode']!r}; choose {' or '.join(MODES)}.")
    return out


# --- reading ----------------------------------------------------------------------------------
def _text_lines(data: bytes) -> Iterator[tuple[int, str | None]]:
    """(line number, text) per line; text None for a line that is not UTF-8."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for n, raw in enumerate(data.splitlines(), start=1):
        try:
            yield n, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield n, None


def _jsonl_rows(data: bytes, errors: list[RowError]) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, text in _text_lines(data):
        if text is None:
            errors.append(RowError(n, "", "not valid UTF-8 text"))
            continue
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.append(RowError(n, "", f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(row, dict):
            errors.append(RowError(n, "", "each line must be a JSON object"))
            continue
        yield n, row


def _csv_rows(data: bytes, errors: list[RowError]) -> Iterator[tuple[int, dict[str, Any]]]:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        errors.append(RowError(line, "", "not valid UTF-8 text; save the file as UTF-8"))
        return
    sample = text[:65536]
    try:
        dialect = csv.Sniffer().sniff(sample.splitlines()[0] if sample else "", ",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    if len(set(header)) != len(header) or not all(header):
        errors.append(RowError(1, "", "the header row has empty or repeated column names"))
        return
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(RowError(line, "", f"unreadable CSV ({exc})"))
            return
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            errors.append(
                RowError(line, "", f"{len(values)} fields, but the header has {len(header)}")
            )
            continue
        yield line, dict(zip(header, values, strict=True))


def is_jsonl(filename: str, data: bytes) -> bool:
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return True
    if name.endswith((".csv", ".tsv", ".txt")):
        return False
    return data.lstrip(codecs.BOM_UTF8).lstrip()[:1] == b"{"


# --- validating -------------------------------------------------------------------------------
def parse_items(
    project: Project,
    data: bytes,
    filename: str,
    options: dict[str, Any],
    *,
    on_progress=None,
) -> Parsed:
    """Validate every row; return the Item objects to insert and every problem found."""
    options = clean_options(options)
    result = Parsed()
    reader = _jsonl_rows if is_jsonl(filename, data) else _csv_rows
    existing = set(Item.objects.filter(project=project).values_list("external_id", flat=True))
    seen: dict[str, int] = {}
    id_col, gold_col, check_col = (
        options["id_column"],
        options["gold_column"],
        options["check_column"],
    )
    for line, row in reader(data, result.errors):
        result.rows += 1
        if on_progress and result.rows % PROGRESS_EVERY == 0:
            on_progress(result.rows)
        problem = unstorable(row)
        if problem:
            result.errors.append(RowError(line, "", problem))
            continue
        problems = len(result.errors)
        raw_id = row.get(id_col)
        if id_col in row:
            external_id = "" if raw_id is None else str(raw_id).strip()
            if not external_id:
                result.errors.append(RowError(line, id_col, "empty id"))
        else:
            external_id = str(line)
        if len(external_id) > MAX_ID_CHARS:
            result.errors.append(RowError(line, id_col, f"id longer than {MAX_ID_CHARS}"))
        elif external_id in seen:
            result.errors.append(
                RowError(line, id_col, f"id {external_id!r} repeats line {seen[external_id]}")
            )
        elif external_id in existing:
            result.errors.append(
                RowError(line, id_col, f"id {external_id!r} is already in the project")
            )
        elif external_id:
            seen[external_id] = line
        gold = None
        if gold_col:
            value = row.get(gold_col)
            if isinstance(value, str):
                value = value.strip()
            if value not in (None, "", []):
                try:
                    gold = clean_label(project, value)
                except InvalidLabel as exc:
                    result.errors.append(RowError(line, gold_col, f"gold label: {exc}"))
        is_check = False
        if check_col:
            is_check = str(row.get(check_col, "")).strip().casefold() in TRUTHY
            if is_check and gold is None and len(result.errors) == problems:
                result.errors.append(
                    RowError(line, gold_col or check_col, "a check item needs a gold label")
                )
        if len(result.errors) > problems:
            continue
        shown = {k: v for k, v in row.items() if k not in (gold_col, check_col)}
        result.items.append(
            Item(
                project=project,
                external_id=external_id,
                data=shown,
                gold=gold,
                is_check=is_check,
                position=0,  # set at insert time
            )
        )
    if result.rows == 0 and not result.errors:
        result.errors.append(RowError(0, "", "the file has no rows"))
    return result


# --- jobs -------------------------------------------------------------------------------------
def create_import(
    project: Project,
    data: bytes,
    filename: str,
    options: dict[str, Any] | None,
    user,
    *,
    synchronous: bool | None = None,
) -> ImportJob:
    """Store the upload as a job; import it now if it is small (or ``synchronous``), else in a
    Celery task."""
    options = clean_options(options)
    if not data.strip():
        raise ImportProblem("The file is empty.")
    if len(data) > max_import_bytes():
        raise ImportProblem(f"The file is larger than {max_import_bytes() // (1024 * 1024)} MB.")
    job = ImportJob.objects.create(
        project=project,
        filename=filename[:255],
        content=data,
        options=options,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    if synchronous or (synchronous is None and len(data) <= sync_import_bytes()):
        run_import(job.pk)
        job.refresh_from_db()
    else:
        from . import tasks

        transaction.on_commit(lambda: tasks.run_import.delay(job.pk))
    return job


def _claim(job_id: int) -> ImportJob | None:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
            return None  # already imported (a redelivered task): never twice
        job.status = ImportJob.Status.RUNNING
        job.processed_rows = 0
        job.total_rows = _estimate_rows(bytes(job.content), job.filename)
        job.save(update_fields=["status", "processed_rows", "total_rows"])
        return job


def _estimate_rows(data: bytes, filename: str) -> int:
    """Non-empty lines (less the CSV header): the progress bar's total until the file is read."""
    lines = sum(1 for line in data.splitlines() if line.strip())
    return lines if is_jsonl(filename, data) else max(lines - 1, 0)


def _progress(job_id: int, rows: int) -> None:
    # Outside the insert transaction (autocommit), so the page sees it move.
    ImportJob.objects.filter(pk=job_id).update(processed_rows=rows)


def run_import(job_id: int) -> ImportJob | None:
    """Validate and insert an import job's rows (idempotent: a finished job is left alone)."""
    job = _claim(job_id)
    if job is None:
        return None
    project = job.project
    data = bytes(job.content)
    parsed = parse_items(
        project, data, job.filename, job.options, on_progress=lambda n: _progress(job.pk, n)
    )
    errors = [e.as_dict() for e in parsed.errors[:MAX_REPORTED]]
    if len(parsed.errors) > MAX_REPORTED:
        errors.append(
            {"line": 0, "column": "", "reason": f"... and {len(parsed.errors) - MAX_REPORTED} more"}
        )
    mode = job.options.get("mode", "all_or_nothing")
    fields = {"total_rows": parsed.rows, "errors": errors, "finished_at": timezone.now()}
    if parsed.errors and (mode == "all_or_nothing" or not parsed.items):
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            processed_rows=parsed.rows,
            created_items=0,
            content=b"",  # the report says what to fix; the file is not kept
            **fields,
        )
        return ImportJob.objects.get(pk=job.pk)
    with transaction.atomic():
        # Lock the project so two imports into it cannot interleave positions or ids.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        start = (Item.objects.filter(project=project).aggregate(m=Max("position"))["m"] or -1) + 1
        taken = set(
            Item.objects.filter(
                project=project, external_id__in=[i.external_id for i in parsed.items]
            ).values_list("external_id", flat=True)
        )
        if taken:
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportJob.Status.FAILED,
                processed_rows=parsed.rows,
                total_rows=parsed.rows,
                errors=[
                    {"line": 0, "column": "", "reason": f"id {t!r} was imported meanwhile"}
                    for t in sorted(taken)[:MAX_REPORTED]
                ],
                finished_at=timezone.now(),
                content=b"",
            )
            return ImportJob.objects.get(pk=job.pk)
        for n, item in enumerate(parsed.items):
            item.position = start + n
        for i in range(0, len(parsed.items), BATCH):
            Item.objects.bulk_create(parsed.items[i : i + BATCH])
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.DONE,
            processed_rows=parsed.rows,
            created_items=len(parsed.items),
            content=b"",  # imported: the rows live in the items now
            **fields,
        )
    return ImportJob.objects.get(pk=job.pk)


def progress(job: ImportJob) -> dict[str, int]:
    total = job.total_rows or 0
    done = job.processed_rows or 0
    percent = 100 if job.status == ImportJob.Status.DONE else (done * 100 // total if total else 0)
    return {"done": done, "total": total, "percent": min(percent, 100)}
