"""Handing out items and storing labels: the services behind the labelling page and agents.

Assignment (:func:`next_assignment`): an annotator resumes their open assignment if they have
one; otherwise gets the least-labelled item they have never been given, among items whose
labels plus open (unexpired) assignments are still fewer than the project's ``labels_per_item``.
The candidate row is locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` and its filled slots are
counted again under the lock, so two annotators racing for an item's last slot never both get
it: one takes the slot, the other moves on to the next item.

Gold / attention checks come first: until an annotator has labelled ``gold_min_answered`` check
items, their next item is a check item (when one is left for them), so their accuracy on gold is
known early; below ``gold_threshold`` they get no more items. With ``disputed_first``, once every
item has its labels, annotators are handed the most disputed items (lowest agreement) first.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from deliberation.debates.answers import AnswerError, clean_answer, is_correct

from .disputes import item_agreement
from .models import Annotator, Assignment, Item, Label, Project
from .permissions import NotAllowed

MAX_RATIONALE = 10_000
MAX_SECONDS = 24 * 3600
_LOCK_ATTEMPTS = 20


class InvalidLabel(ValueError):
    """A label that does not fit the project's schema; the message is user-facing."""


# --- annotators -------------------------------------------------------------------------------
def person_annotator(project: Project, user) -> Annotator:
    """The signed-in user's annotator row in ``project`` (created on first use)."""
    annotator = Annotator.objects.filter(project=project, kind="person", user=user).first()
    if annotator is not None:
        return annotator
    try:
        with transaction.atomic():
            return Annotator.objects.create(
                project=project, kind="person", user=user, name=user.get_username()
            )
    except IntegrityError:  # created concurrently
        return Annotator.objects.get(project=project, kind="person", user=user)


MAX_WORKER_ID = 200


def crowd_annotator(project: Project, worker_id: str) -> Annotator:
    """The crowd worker's annotator row, keyed by the marketplace's worker id."""
    worker_id = (worker_id or "").strip()
    if not worker_id:
        raise NotAllowed("This link needs a worker id (?worker_id=...).")
    if len(worker_id) > MAX_WORKER_ID:
        raise NotAllowed(f"The worker id is too long (at most {MAX_WORKER_ID} characters).")
    if not project.crowd_enabled:
        raise NotAllowed("This project is not open to crowd workers.")
    annotator = Annotator.objects.filter(project=project, kind="crowd", worker_id=worker_id).first()
    if annotator is not None:
        return annotator
    try:
        with transaction.atomic():
            return Annotator.objects.create(
                project=project, kind="crowd", worker_id=worker_id, name=f"worker {worker_id}"
            )
    except IntegrityError:
        return Annotator.objects.get(project=project, kind="crowd", worker_id=worker_id)


def agent_annotator(project: Project, profile) -> Annotator:
    """The agent profile's annotator row in ``project``."""
    annotator, _ = Annotator.objects.get_or_create(
        project=project, kind="agent", agent=profile, defaults={"name": profile.name}
    )
    return annotator


def completion_code(annotator: Annotator) -> str:
    """A code the marketplace can check: an HMAC of the project's token and the worker id."""
    key = settings.SECRET_KEY.encode()
    msg = f"{annotator.project.crowd_token}:{annotator.worker_id}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:10].upper()


# --- gold -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GoldScore:
    answered: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.answered if self.answered else None


def gold_score(annotator: Annotator) -> GoldScore:
    """The annotator's accuracy on the project's check items (from their stored labels)."""
    project = annotator.project
    rows = Label.objects.filter(annotator=annotator, item__is_check=True).values_list(
        "value", "item__gold"
    )
    answered = correct = 0
    for value, gold in rows:
        answered += 1
        correct += bool(is_correct(value, gold, project.label_format, project.tolerance))
    return GoldScore(answered, correct)


def below_gold_threshold(annotator: Annotator, score: GoldScore | None = None) -> bool:
    project = annotator.project
    if project.gold_threshold is None or annotator.kind == Annotator.Kind.AGENT:
        return False
    score = score or gold_score(annotator)
    return (
        score.answered >= project.gold_min_answered
        and score.accuracy is not None
        and score.accuracy < project.gold_threshold
    )


# --- assignment -------------------------------------------------------------------------------
@dataclass(frozen=True)
class NextItem:
    """The outcome of asking for work: an assignment, or why there is none."""

    assignment: Assignment | None
    reason: str = ""  # "", "done" (nothing left), "quota" (crowd quota reached), "gold"


def _open(now) -> Q:
    return Q(status=Assignment.Status.ACTIVE, expires_at__gt=now)


def _filled(now):
    """Subquery: labels of the item plus open assignments (the slots taken)."""
    labels = (
        Label.objects.filter(item=OuterRef("pk"))
        .order_by()
        .values("item")
        .annotate(n=Count("id"))
        .values("n")
    )
    holds = (
        Assignment.objects.filter(_open(now), item=OuterRef("pk"))
        .order_by()
        .values("item")
        .annotate(n=Count("id"))
        .values("n")
    )
    zero = Value(0)
    return Coalesce(Subquery(labels, output_field=IntegerField()), zero) + Coalesce(
        Subquery(holds, output_field=IntegerField()), zero
    )


def _slots_taken(item_id: int, now) -> int:
    return (
        Label.objects.filter(item_id=item_id).count()
        + Assignment.objects.filter(_open(now), item_id=item_id).count()
    )


def open_assignment(annotator: Annotator) -> Assignment | None:
    now = timezone.now()
    return (
        Assignment.objects.filter(_open(now), annotator=annotator)
        .select_related("item")
        .order_by("assigned_at")
        .first()
    )


def next_assignment(annotator: Annotator) -> NextItem:
    """Resume the annotator's open assignment, or assign them the next item (see module doc)."""
    project = annotator.project
    existing = open_assignment(annotator)
    if existing is not None:
        return NextItem(existing)
    if annotator.kind == Annotator.Kind.CROWD and crowd_quota_reached(annotator):
        return NextItem(None, "quota")
    score = gold_score(annotator)
    if below_gold_threshold(annotator, score):
        return NextItem(None, "gold")
    now = timezone.now()
    fresh = Item.objects.filter(project=project).exclude(
        Q(assignments__annotator=annotator) | Q(labels__annotator=annotator)
    )
    k = project.labels_per_item
    pools = []
    if score.answered < project.gold_min_answered:
        pools.append(fresh.filter(is_check=True))
    pools.append(fresh)
    for pool in pools:
        assignment = _take(
            pool.annotate(filled=_filled(now)).filter(filled__lt=k).order_by("filled", "position"),
            annotator,
            k,
            now,
        )
        if assignment is not None:
            return NextItem(assignment)
    if project.disputed_first and not _items_short_of_labels(project, now):
        for item_id in disputed_item_ids(project):
            assignment = _take(fresh.filter(pk=item_id), annotator, None, now)
            if assignment is not None:
                return NextItem(assignment)
    return NextItem(None, "done")


def _items_short_of_labels(project: Project, now) -> bool:
    return (
        Item.objects.filter(project=project)
        .annotate(filled=_filled(now))
        .filter(filled__lt=project.labels_per_item)
        .exists()
    )


def _take(candidates, annotator: Annotator, k: int | None, now) -> Assignment | None:
    """Lock the first free candidate and assign it, re-counting its slots under the lock."""
    expires = now + timedelta(minutes=annotator.project.assignment_minutes)
    for _ in range(_LOCK_ATTEMPTS):
        with transaction.atomic():
            item = candidates.select_for_update(skip_locked=True, of=("self",)).first()
            if item is None:
                # Every candidate is locked by someone else's assignment in progress (a few
                # milliseconds): wait for one instead of wrongly reporting "nothing left".
                item = candidates.select_for_update(of=("self",)).first()
            if item is None:
                return None
            # Read committed: this statement sees every assignment committed before the lock.
            if k is not None and _slots_taken(item.pk, now) >= k:
                candidates = candidates.exclude(pk=item.pk)
                continue
            try:
                with transaction.atomic():
                    return Assignment.objects.create(
                        item=item, annotator=annotator, expires_at=expires
                    )
            except IntegrityError:  # this annotator was given it concurrently
                candidates = candidates.exclude(pk=item.pk)
    return None


def disputed_item_ids(project: Project) -> list[int]:
    """Items whose labels are disputed (see :mod:`.disputes`), lowest agreement first."""
    by_item: dict[int, list[Any]] = {}
    for item_id, value in Label.objects.filter(item__project=project).values_list(
        "item_id", "value"
    ):
        by_item.setdefault(item_id, []).append(value)
    scored = []
    for item_id, values in by_item.items():
        agreement = item_agreement(values, project.label_format, project.tolerance)
        if agreement.disputed(project.dispute_threshold):
            scored.append((agreement.top_share, item_id))
    return [item_id for _, item_id in sorted(scored)]


def crowd_quota_reached(annotator: Annotator) -> bool:
    return annotator.labels.count() >= annotator.project.items_per_worker


def finish_crowd_work(annotator: Annotator) -> str:
    """The worker's completion code (stored the first time, so it can be looked up later)."""
    if not annotator.completion_code:
        annotator.completion_code = completion_code(annotator)
        annotator.save(update_fields=["completion_code"])
    return annotator.completion_code


def skip(annotator: Annotator, item_id: int) -> None:
    """Give an assigned item back; the annotator is never given it again."""
    updated = Assignment.objects.filter(
        annotator=annotator, item_id=item_id, status=Assignment.Status.ACTIVE
    ).update(status=Assignment.Status.SKIPPED, finished_at=timezone.now())
    if not updated:
        raise NotAllowed("This item is not assigned to you.")


@dataclass(frozen=True)
class Progress:
    done: int
    assigned: int  # items given to this annotator (labelled, skipped or open)
    target: int | None  # a crowd worker's quota; None for others


def progress(annotator: Annotator) -> Progress:
    counts = annotator.assignments.aggregate(
        assigned=Count("id"), done=Count("id", filter=Q(status=Assignment.Status.DONE))
    )
    target = annotator.project.items_per_worker if annotator.kind == Annotator.Kind.CROWD else None
    return Progress(counts["done"], counts["assigned"], target)


# --- labels -----------------------------------------------------------------------------------
def clean_label(project: Project, value: Any) -> Any:
    """The canonical form of a label value in the project's schema (raises InvalidLabel)."""
    try:
        return clean_answer(value, project.label_format, project.options)
    except AnswerError as exc:
        raise InvalidLabel(str(exc)) from None


def clean_confidence(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidLabel("Confidence must be a number between 0 and 1.") from None
    if number > 1 and number <= 100:
        number /= 100  # a percentage slider
    if not 0 <= number <= 1:
        raise InvalidLabel("Confidence must be between 0 and 1 (or 0 and 100 %).")
    return number


def submit_label(
    annotator: Annotator,
    item_id: int,
    value: Any,
    *,
    confidence: Any = None,
    seconds_spent: Any = None,
) -> Label:
    """A person's or crowd worker's label for an item they were assigned.

    A late label (the hold expired) is still kept: nobody's work is thrown away, the item just
    ends up with one label more than needed. Submitting twice returns the first label.
    """
    project = annotator.project
    assignment = (
        Assignment.objects.filter(annotator=annotator, item_id=item_id)
        .select_related("item")
        .first()
    )
    if assignment is None:
        raise NotAllowed("This item is not assigned to you.")
    existing = Label.objects.filter(item_id=item_id, annotator=annotator).first()
    if existing is not None:
        return existing
    if assignment.status == Assignment.Status.SKIPPED:
        raise NotAllowed("You skipped this item.")
    value = clean_label(project, value)
    confidence = clean_confidence(confidence) if project.ask_confidence else None
    elapsed = (timezone.now() - assignment.assigned_at).total_seconds()
    try:
        seconds = float(seconds_spent) if seconds_spent not in (None, "") else elapsed
    except (TypeError, ValueError):
        seconds = elapsed
    seconds = max(0.0, min(seconds, elapsed, MAX_SECONDS))
    return store_label(
        assignment.item, annotator, value, confidence=confidence, seconds_spent=round(seconds, 3)
    )


def store_label(item: Item, annotator: Annotator, value: Any, **fields: Any) -> Label:
    """Store a cleaned label (idempotent per item and annotator) and close the assignment.

    ``fields`` are Label columns (confidence, rationale, seconds_spent, and an agent's model,
    parameters, prompt, reply, token counts, latency, cost). After commit, a project with
    ``auto_escalate`` checks whether the item became disputed.
    """
    if "rationale" in fields:
        fields["rationale"] = (fields["rationale"] or "")[:MAX_RATIONALE]
    with transaction.atomic():
        label, created = Label.objects.get_or_create(
            item=item, annotator=annotator, defaults={"value": value, **fields}
        )
        if created:
            Assignment.objects.filter(item=item, annotator=annotator).exclude(
                status=Assignment.Status.DONE
            ).update(status=Assignment.Status.DONE, finished_at=timezone.now())
            if item.project.auto_escalate:
                from . import tasks

                transaction.on_commit(lambda: tasks.auto_escalate.delay(item.pk))
    return label
