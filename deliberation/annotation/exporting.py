"""Streamed exports of a project: labels in the long format, consensus labels, everything.

- ``labels.csv``: ``task,worker,label``, one row per label, the long format Crowd-Kit (and
  ``manage.py aggregate``) reads. ``task`` is the item id of the import, ``worker`` the
  annotator's stable key (``user:NAME``, ``crowd:WORKER_ID``, ``agent:PROFILE``), ``label`` as
  :func:`.aggregation.label_text` writes it.
- ``aggregated.csv``: ``task,label,confidence,source`` per item, from
  :func:`.aggregation.aggregate_project` (an adjudicated label has ``source=adjudicated`` and no
  confidence).
- ``items.jsonl``: one JSON object per item: its data, gold, check flag, final label with who
  decided and the escalated session, and every label with its annotator, confidence, rationale,
  time spent and, for agents, model, parameters, prompt, reply, tokens, latency and cost.

Rows are generated lazily, items are read in chunks with their labels prefetched per chunk, so
memory stays flat and the number of queries grows with the number of chunks, not of items.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Prefetch

from deliberation import csvsafe

from .aggregation import aggregate_project, label_text
from .models import Annotator, Item, Label, Project

CHUNK = 500


class _Echo:
    """A file-like object whose write returns the text, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _csv(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csvsafe.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


def _items(project: Project) -> Iterator[Item]:
    labels = Label.objects.select_related("annotator__user", "annotator__agent").order_by("id")
    yield from (
        Item.objects.filter(project=project)
        .select_related("final_by")
        .prefetch_related(Prefetch("labels", queryset=labels))
        .order_by("position", "id")
        .iterator(chunk_size=CHUNK)
    )


def labels_csv(project: Project) -> Iterator[str]:
    fmt = project.label_format

    def rows():
        yield ("task", "worker", "label")
        for item in _items(project):
            for label in item.labels.all():
                yield (item.external_id, label.annotator.label_key, label_text(label.value, fmt))

    return _csv(rows())


def aggregated_csv(project: Project, method: str | None = None) -> Iterator[str]:
    """Raises ValueError for a method that does not apply (before anything is streamed)."""
    result = aggregate_project(project, method)
    fmt = project.label_format

    def rows():
        yield ("task", "label", "confidence", "source")
        for r in result.items:
            confidence = "" if r.confidence is None else f"{r.confidence:.6f}"
            yield (r.external_id, label_text(r.label, fmt), confidence, r.source)

    return _csv(rows())


def _annotator(a: Annotator) -> dict[str, Any]:
    return {"key": a.label_key, "kind": a.kind, "name": a.name}


def _label(label: Label) -> dict[str, Any]:
    data = {
        "annotator": _annotator(label.annotator),
        "value": label.value,
        "confidence": label.confidence,
        "rationale": label.rationale,
        "seconds_spent": label.seconds_spent,
        "created_at": label.created_at,
    }
    if label.annotator.kind == Annotator.Kind.AGENT:
        data["agent"] = {
            "model": label.model,
            "parameters": label.parameters,
            "prompt": label.prompt,
            "reply": label.reply,
            "prompt_tokens": label.prompt_tokens,
            "completion_tokens": label.completion_tokens,
            "latency_ms": label.latency_ms,
            "cost_usd": label.cost_usd,
        }
    return data


def items_jsonl(project: Project) -> Iterator[str]:
    header = {
        "format": "deliberation.annotation.project",
        "version": 1,
        "project": {
            "name": project.name,
            "instructions": project.instructions,
            "label_format": project.label_format,
            "options": project.options,
            "tolerance": project.tolerance,
            "labels_per_item": project.labels_per_item,
        },
    }
    yield json.dumps(header, cls=DjangoJSONEncoder, sort_keys=True) + "\n"
    for item in _items(project):
        record = {
            "task": item.external_id,
            "position": item.position,
            "data": item.data,
            "gold": item.gold,
            "is_check": item.is_check,
            "final": None,
            "labels": [_label(label) for label in item.labels.all()],
        }
        if item.final_label is not None:
            record["final"] = {
                "label": item.final_label,
                "rationale": item.final_rationale,
                "decided_by": item.final_by.get_username() if item.final_by else None,
                "decided_at": item.final_at,
                "session": item.escalation_id,
            }
        yield json.dumps(record, cls=DjangoJSONEncoder, sort_keys=True) + "\n"


EXPORTS = {
    "labels_csv": ("text/csv", "labels.csv"),
    "aggregated_csv": ("text/csv", "aggregated.csv"),
    "jsonl": ("application/x-ndjson", "items.jsonl"),
}
