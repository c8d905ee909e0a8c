"""What a project page shows besides the aggregate: progress figures, the items that most need
another label, and the items that most need a decision (all from stored rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from .aggregation import ProjectAggregate
from .models import Annotator, Assignment, Item, Project

LIST_LIMIT = 20


@dataclass(frozen=True)
class ProjectStats:
    items: int
    complete: int  # items with at least labels_per_item labels
    labels: int
    needed: int  # labels still needed to give every item its labels_per_item
    open_assignments: int
    annotators: dict[str, int]  # kind -> number who labelled at least once
    adjudicated: int
    escalated: int
    checks: int
    gold: int  # items with a known answer

    @property
    def percent(self) -> int:
        target = self.items and (self.complete * 100) // self.items
        return int(target or 0)


def project_stats(project: Project, result: ProjectAggregate) -> ProjectStats:
    k = project.labels_per_item
    counts = [r.labels for r in result.items]
    items = Item.objects.filter(project=project).aggregate(
        adjudicated=Count("id", filter=Q(final_label__isnull=False)),
        escalated=Count("id", filter=Q(escalation__isnull=False)),
        checks=Count("id", filter=Q(is_check=True)),
        gold=Count("id", filter=Q(gold__isnull=False)),
    )
    kinds = dict(
        Annotator.objects.filter(project=project, labels__isnull=False)
        .values_list("kind")
        .annotate(n=Count("id", distinct=True))
    )
    return ProjectStats(
        items=len(counts),
        complete=sum(1 for n in counts if n >= k),
        labels=sum(counts),
        needed=sum(max(0, k - n) for n in counts),
        open_assignments=Assignment.objects.filter(
            item__project=project, status="active", expires_at__gt=timezone.now()
        ).count(),
        annotators=kinds,
        adjudicated=items["adjudicated"],
        escalated=items["escalated"],
        checks=items["checks"],
        gold=items["gold"],
    )


def items_needing_labels(project: Project, limit: int = LIST_LIMIT) -> list[Item]:
    """Items short of their labels, fewest labels first."""
    return list(
        Item.objects.filter(project=project)
        .annotate(n=Count("labels"))
        .filter(n__lt=project.labels_per_item)
        .order_by("n", "position")[:limit]
    )


def items_needing_decision(project: Project, result: ProjectAggregate, limit: int = LIST_LIMIT):
    """Labelled, undecided items whose labels are disputed or whose consensus is least sure:
    lowest agreement first, then lowest posterior confidence."""
    rows = [
        r
        for r in result.items
        if r.labels >= 2
        and r.source == "aggregate"
        and (
            (r.agreement is not None and r.agreement <= project.dispute_threshold)
            or (r.confidence is not None and r.confidence < 0.75)
        )
    ]
    rows.sort(key=lambda r: (r.agreement or 0, r.confidence or 0, r.item_id))
    return rows[:limit]


def shown_fields(project: Project, item: Item) -> list[tuple[str, Any]]:
    """The item's columns to show annotators, in the project's order (default: all)."""
    data = item.data if isinstance(item.data, dict) else {"value": item.data}
    names = project.shown_fields or list(data)
    return [(name, data.get(name, "")) for name in names if name in data]
