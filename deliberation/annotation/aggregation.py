"""A project's consensus labels, annotator quality, item difficulty and agreement.

The stored labels are coded with :func:`deliberation.debates.answers.answer_key` (so numeric
labels within the tolerance, or free text differing in case and punctuation, count as the same
answer) and handed to the pure library :mod:`deliberation.consensus.crowd`; nothing here
re-implements a method. An item's adjudicated final label, where one was decided, overrides the
aggregate (``source="adjudicated"``). Results are cached in Redis under a key that changes with
every new label or decision, so a page view never re-fits an unchanged project.

Dawid-Skene, GLAD and MACE model a fixed set of classes; numeric and free-text projects can
have an unbounded number of distinct answers, so they offer majority vote and Wawa only.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max

from deliberation.consensus.crowd import METHODS, LabelMatrix, project_alpha, top_two
from deliberation.debates.answers import answer_key, format_answer, format_number, is_correct

from .models import Annotator, Item, Label, Project

METHOD_NAMES = {
    "mv": "Majority vote",
    "wawa": "Wawa (worker agreement with aggregate)",
    "ds": "Dawid-Skene",
    "onecoin": "One-coin Dawid-Skene",
    "glad": "GLAD",
    "mace": "MACE",
}
CATEGORICAL = ("single_choice", "multiple_choice")
CACHE_SECONDS = 3600


def methods_for(project: Project) -> list[str]:
    """The aggregation methods that make sense for the project's label format."""
    if project.label_format in CATEGORICAL:
        return list(METHODS)
    return ["mv", "wawa"]


def default_method(project: Project) -> str:
    return "ds" if project.label_format in CATEGORICAL else "mv"


def label_text(value: Any, fmt: str) -> str:
    """A label as written in CSV files: the option, a number without a needless ``.0``,
    multiple choice as the options joined by `` | `` (in option order), free text as is."""
    if value is None:
        return ""
    if fmt == "multiple_choice" and isinstance(value, list | tuple):
        return " | ".join(str(v) for v in value)
    if fmt == "numeric" and isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(float(value))
    return format_answer(value, fmt)


@dataclass(frozen=True)
class ItemResult:
    item_id: int
    external_id: str
    labels: int
    label: Any  # the consensus (or adjudicated) value, in stored form; None without labels
    confidence: float | None  # posterior probability of ``label``; None when adjudicated
    source: str  # "aggregate", "adjudicated" or "none"
    agreement: float | None  # share of labels giving the most common answer
    runner_up: Any = None  # the most confusing other answer (top-two), for categorical projects
    confusion: float | None = None  # P(confused with runner_up) (Jeong & Chung 2023)
    difficulty: float | None = None  # GLAD's 1 / beta
    gold: Any = None
    correct: bool | None = None


@dataclass(frozen=True)
class AnnotatorResult:
    annotator_id: int
    name: str
    kind: str
    labels: int
    skill: float | None  # the method's quality estimate (see AggregationResult.skill)
    gold_answered: int
    gold_correct: int

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answered if self.gold_answered else None


@dataclass(frozen=True)
class ProjectAggregate:
    method: str
    items: list[ItemResult]
    annotators: list[AnnotatorResult]  # best estimated quality first
    alpha: float | None  # Krippendorff's alpha (nominal) over all labels
    accuracy: float | None  # consensus labels against gold, over items with gold and labels
    iterations: int = 0
    converged: bool = True
    by_item: dict[int, ItemResult] = field(default_factory=dict, repr=False)

    @property
    def labelled(self) -> int:
        return sum(1 for r in self.items if r.labels)


def _version(project: Project) -> str:
    """Changes with every new or deleted label and every decision (the cache key's tail)."""
    labels = Label.objects.filter(item__project=project).aggregate(n=Count("id"), last=Max("id"))
    decided = Item.objects.filter(project=project, final_at__isnull=False).aggregate(
        n=Count("id"), last=Max("final_at")
    )
    last = decided["last"].timestamp() if decided["last"] else 0
    return f"{labels['n']}:{labels['last']}:{decided['n']}:{last}"


def aggregate_project(project: Project, method: str | None = None, *, pin_gold: bool = False):
    """Fit ``method`` (default: Dawid-Skene, or majority vote for numeric / free text) to the
    project's labels, with the library's defaults (Dawid-Skene and one-coin DS: maximum
    likelihood, Dawid & Skene 1979; MACE: the authors' schedule). ``pin_gold`` fixes the check
    items' truth to their gold during fitting (their accuracy is then no longer an honest
    estimate, so it is computed on the others)."""
    method = method or default_method(project)
    if method not in methods_for(project):
        raise ValueError(
            f"{method!r} does not apply to {project.get_label_format_display().lower()} labels; "
            f"choose from {', '.join(methods_for(project))}"
        )
    # The creation time keeps a recreated database (same ids, same counts) from reading an
    # older project's entry.
    born = project.created_at.timestamp()
    key = f"annotation:aggregate:{project.pk}:{born}:{method}:{int(pin_gold)}:{_version(project)}"
    result = cache.get(key)
    if result is None:
        result = _aggregate(project, method, pin_gold)
        cache.set(key, result, CACHE_SECONDS)
    return result


def _aggregate(project: Project, method: str, pin_gold: bool) -> ProjectAggregate:
    fmt, tol = project.label_format, project.tolerance
    rows = Label.objects.filter(item__project=project).values_list(
        "item_id", "annotator_id", "value"
    )
    tasks, workers, keys = [], [], []
    shown: dict[Hashable, Any] = {}  # answer key -> a stored value giving it
    for item_id, annotator_id, value in rows.iterator(chunk_size=5000):
        k = answer_key(value, fmt, tol)
        if k is None:
            continue
        tasks.append(item_id)
        workers.append(annotator_id)
        keys.append(k)
        shown.setdefault(k, value)
    items = list(
        Item.objects.filter(project=project)
        .order_by("position")
        .values("id", "external_id", "gold", "is_check", "final_label")
    )
    annotators = {
        a.pk: a for a in Annotator.objects.filter(project=project).annotate(n=Count("labels"))
    }
    fit = tt = None
    alpha = None
    counts: dict[int, dict[Hashable, int]] = {}
    for t, k in zip(tasks, keys, strict=True):
        counts.setdefault(t, {})
        counts[t][k] = counts[t].get(k, 0) + 1
    if tasks:
        options = [answer_key(o, fmt, tol) for o in project.options] if fmt in CATEGORICAL else None
        label_set = None
        if fmt == "single_choice":
            label_set = list(dict.fromkeys(options + [k for k in shown if k not in options]))
        matrix = LabelMatrix.from_arrays(tasks, workers, keys, labels=label_set)
        params: dict[str, Any] = {}
        if pin_gold:
            gold = {
                i["id"]: answer_key(i["gold"], fmt, tol)
                for i in items
                if i["is_check"] and i["gold"] is not None
            }
            gold = {t: g for t, g in gold.items() if g in matrix.labels}
            if gold:
                params["gold"] = gold
        fit = METHODS[method](matrix, **params)
        if matrix.n_labels >= 2 and fmt in CATEGORICAL:
            tt = top_two(matrix).top_two
        if matrix.n_workers >= 2:
            alpha = _finite(project_alpha(matrix))
    results = []
    hits = scored = 0
    for i in items:
        n = sum(counts.get(i["id"], {}).values())
        agreement = max(counts[i["id"]].values()) / n if n else None
        label = confidence = None
        source = "none"
        if fit is not None and i["id"] in fit.labels:
            label = shown[fit.labels[i["id"]]]
            confidence = fit.confidence[i["id"]]
            source = "aggregate"
        if i["final_label"] is not None:
            label, confidence, source = i["final_label"], None, "adjudicated"
        runner_up = confusion = difficulty = None
        if tt is not None and i["id"] in tt:
            _first, second, confusion = tt[i["id"]]
            runner_up = shown.get(second)
        if fit is not None and fit.task_difficulty is not None:
            difficulty = fit.task_difficulty.get(i["id"])
        correct = None
        if i["gold"] is not None and label is not None:
            correct = bool(is_correct(label, i["gold"], fmt, tol))
            if not (pin_gold and i["is_check"]):
                scored += 1
                hits += correct
        results.append(
            ItemResult(
                i["id"],
                i["external_id"],
                n,
                label,
                confidence,
                source,
                agreement,
                runner_up,
                confusion,
                difficulty,
                i["gold"],
                correct,
            )
        )
    quality = _annotators(project, annotators, fit)
    return ProjectAggregate(
        method=method,
        items=results,
        annotators=quality,
        alpha=alpha,
        accuracy=hits / scored if scored else None,
        iterations=fit.iterations if fit is not None else 0,
        converged=fit.converged if fit is not None else True,
        by_item={r.item_id: r for r in results},
    )


def _annotators(project: Project, annotators: dict[int, Annotator], fit) -> list[AnnotatorResult]:
    skills = fit.worker_skill if fit is not None and fit.worker_skill is not None else {}
    answered: dict[int, int] = {}
    correct: dict[int, int] = {}
    checks = Label.objects.filter(item__project=project, item__is_check=True).values_list(
        "annotator_id", "value", "item__gold"
    )
    for pk, value, gold in checks.iterator(chunk_size=5000):
        answered[pk] = answered.get(pk, 0) + 1
        hit = is_correct(value, gold, project.label_format, project.tolerance)
        correct[pk] = correct.get(pk, 0) + bool(hit)
    out = [
        AnnotatorResult(
            pk,
            a.name,
            a.kind,
            a.n,
            _finite(skills.get(pk)),
            answered.get(pk, 0),
            correct.get(pk, 0),
        )
        for pk, a in annotators.items()
    ]
    out.sort(key=lambda r: (r.skill is None, -(r.skill or 0), -r.labels, r.annotator_id))
    return out


def _finite(x: float | None) -> float | None:
    if x is None or x != x or x in (float("inf"), float("-inf")):
        return None
    return float(x)
