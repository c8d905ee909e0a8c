"""Assignment, labels, gold checks and crowd workers: the services behind the labelling page."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from deliberation.annotation import labelling
from deliberation.annotation.models import Assignment, Label
from deliberation.annotation.permissions import NotAllowed

pytestmark = pytest.mark.django_db


def _label(annotator, value="1", **kw):
    """Ask for the next item and label it; returns the labelled item."""
    nxt = labelling.next_assignment(annotator)
    assert nxt.assignment is not None, nxt.reason
    labelling.submit_label(annotator, nxt.assignment.item_id, value, **kw)
    return nxt.assignment.item


def test_least_labelled_item_first_and_never_the_same_item_twice(project, make_items, make_user):
    make_items(project, 3)
    people = [labelling.person_annotator(project, make_user(f"p{i}")) for i in range(3)]
    # p0 labels t0; p1 must get t1 (fewer labels), p2 t2; then p0's next is t1 (0 < 1 ... )
    assert _label(people[0]).external_id == "t0"
    assert _label(people[1]).external_id == "t1"
    assert _label(people[2]).external_id == "t2"
    seen = {"t0"}
    for _ in range(2):
        item = _label(people[0])
        assert item.external_id not in seen
        seen.add(item.external_id)
    assert labelling.next_assignment(people[0]).reason == "done"


def test_items_stop_at_k_labels(make_project, make_items, make_user):
    project = make_project(labels_per_item=2)
    make_items(project, 2)
    people = [labelling.person_annotator(project, make_user(f"p{i}")) for i in range(5)]
    for p in people[:4]:
        _label(p)
    assert Counter(Label.objects.values_list("item__external_id", flat=True)) == {
        "t0": 2,
        "t1": 2,
    }
    assert labelling.next_assignment(people[4]).reason == "done"


def test_open_assignment_is_resumed_and_holds_the_slot(make_project, make_items, make_user):
    project = make_project(labels_per_item=1)
    make_items(project, 1)
    alice = labelling.person_annotator(project, make_user("a"))
    bob = labelling.person_annotator(project, make_user("b"))
    first = labelling.next_assignment(alice).assignment
    assert labelling.next_assignment(alice).assignment == first  # a reload gets the same item
    assert labelling.next_assignment(bob).reason == "done"  # the only slot is held


def test_expired_hold_frees_the_slot_and_a_late_label_is_kept(make_project, make_items, make_user):
    project = make_project(labels_per_item=1)
    make_items(project, 1)
    alice = labelling.person_annotator(project, make_user("a"))
    bob = labelling.person_annotator(project, make_user("b"))
    held = labelling.next_assignment(alice).assignment
    Assignment.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    taken = labelling.next_assignment(bob).assignment
    assert taken is not None and taken.item_id == held.item_id
    # Alice comes back after her hold expired: her work is not thrown away.
    label = labelling.submit_label(alice, held.item_id, "0")
    assert label.value == "0"
    assert Assignment.objects.get(pk=held.pk).status == "done"


def test_skip_gives_the_item_back_for_good(make_project, make_items, make_user):
    project = make_project(labels_per_item=1)
    make_items(project, 2)
    alice = labelling.person_annotator(project, make_user("a"))
    bob = labelling.person_annotator(project, make_user("b"))
    first = labelling.next_assignment(alice).assignment
    labelling.skip(alice, first.item_id)
    assert labelling.next_assignment(alice).assignment.item_id != first.item_id
    assert labelling.next_assignment(bob).assignment.item_id == first.item_id
    with pytest.raises(NotAllowed):
        labelling.submit_label(alice, first.item_id, "1")


def test_label_must_fit_the_schema(project, make_items, make_user):
    make_items(project, 1)
    alice = labelling.person_annotator(project, make_user("a"))
    item = labelling.next_assignment(alice).assignment.item
    with pytest.raises(labelling.InvalidLabel, match="not one of the options"):
        labelling.submit_label(alice, item.pk, "maybe")
    with pytest.raises(labelling.InvalidLabel, match="Confidence"):
        labelling.submit_label(alice, item.pk, "1", confidence="lots")
    assert not Label.objects.exists()
    label = labelling.submit_label(alice, item.pk, " 1 ", confidence="80", seconds_spent="4.5")
    assert (label.value, label.confidence) == ("1", 0.8)
    assert label.seconds_spent <= 4.5  # the client's figure, capped by the time since assignment
    # Submitting twice returns the first label.
    assert labelling.submit_label(alice, item.pk, "0").pk == label.pk


def test_time_spent_is_capped_by_the_time_since_assignment(project, make_items, make_user):
    make_items(project, 1)
    alice = labelling.person_annotator(project, make_user("a"))
    item = labelling.next_assignment(alice).assignment.item
    label = labelling.submit_label(alice, item.pk, "1", seconds_spent="99999")
    assert label.seconds_spent < 60


def test_unassigned_item_cannot_be_labelled(project, make_items, make_user):
    items = make_items(project, 2)
    alice = labelling.person_annotator(project, make_user("a"))
    with pytest.raises(NotAllowed, match="not assigned"):
        labelling.submit_label(alice, items[1].pk, "1")


def test_multiple_choice_and_numeric_labels(make_project, make_items, make_user):
    multi = make_project(label_format="multiple_choice", options=["red", "green", "blue"])
    make_items(multi, 1)
    a = labelling.person_annotator(multi, make_user("a"))
    item = labelling.next_assignment(a).assignment.item
    assert labelling.submit_label(a, item.pk, ["blue", "red"]).value == ["red", "blue"]
    num = make_project(label_format="numeric", options=[], tolerance=0.5)
    make_items(num, 1)
    b = labelling.person_annotator(num, make_user("b"))
    item = labelling.next_assignment(b).assignment.item
    with pytest.raises(labelling.InvalidLabel, match="number"):
        labelling.submit_label(b, item.pk, "twelve")
    assert labelling.submit_label(b, item.pk, "1,200.5").value == 1200.5


# --- gold checks ------------------------------------------------------------------------------
def test_check_items_come_first_and_a_poor_worker_is_stopped(make_project, make_items, make_user):
    project = make_project(labels_per_item=5, gold_threshold=0.7, gold_min_answered=3)
    make_items(project, 10, gold="1", checks=3)
    poor = labelling.person_annotator(project, make_user("poor"))
    good = labelling.person_annotator(project, make_user("good"))
    got = [_label(poor, "0").external_id for _ in range(3)]
    assert got == ["t0", "t1", "t2"]  # the three check items first
    assert labelling.gold_score(poor) == labelling.GoldScore(3, 0)
    assert labelling.next_assignment(poor).reason == "gold"
    for _ in range(3):
        _label(good, "1")
    assert labelling.next_assignment(good).assignment is not None


def test_below_threshold_is_judged_only_after_enough_checks(make_project, make_items, make_user):
    project = make_project(gold_threshold=0.9, gold_min_answered=2)
    make_items(project, 4, gold="1", checks=2)
    worker = labelling.person_annotator(project, make_user("w"))
    _label(worker, "0")
    assert labelling.next_assignment(worker).assignment is not None  # 1 answered: too early


# --- disputed first ---------------------------------------------------------------------------
def test_disputed_items_first_once_every_item_has_its_labels(make_project, make_items, make_user):
    project = make_project(labels_per_item=2, disputed_first=True)
    make_items(project, 2)
    a, b, c = (labelling.person_annotator(project, make_user(n)) for n in "abc")
    # t0: 1 and 0 (disputed); t1: 1 and 1 (agreed)
    assert _label(a, "1").external_id == "t0"
    assert _label(b, "1").external_id == "t1"
    assert _label(a, "1").external_id == "t1"
    assert _label(b, "0").external_id == "t0"
    assert labelling.disputed_item_ids(project) == [project.items.get(external_id="t0").pk]
    assert labelling.next_assignment(c).assignment.item.external_id == "t0"
    _label(c, "1")
    assert labelling.next_assignment(c).reason == "done"


# --- crowd workers ----------------------------------------------------------------------------
def test_crowd_worker_gets_a_completion_code_after_the_quota(make_project, make_items):
    project = make_project(crowd_enabled=True, items_per_worker=2)
    make_items(project, 5)
    worker = labelling.crowd_annotator(project, "A1B2C3")
    assert labelling.crowd_annotator(project, "A1B2C3") == worker  # the same id, the same row
    _label(worker)
    _label(worker)
    assert labelling.next_assignment(worker).reason == "quota"
    code = labelling.finish_crowd_work(worker)
    assert code == labelling.completion_code(worker) and len(code) == 10
    other = labelling.crowd_annotator(project, "ZZZ")
    assert labelling.completion_code(other) != code


def test_crowd_link_refuses_missing_ids_and_closed_projects(make_project):
    closed = make_project(crowd_enabled=False)
    with pytest.raises(NotAllowed, match="not open"):
        labelling.crowd_annotator(closed, "W1")
    open_ = make_project(crowd_enabled=True)
    with pytest.raises(NotAllowed, match="worker id"):
        labelling.crowd_annotator(open_, "  ")
    with pytest.raises(NotAllowed, match="too long"):
        labelling.crowd_annotator(open_, "x" * 500)


# --- the race for the last slot ---------------------------------------------------------------
def _race(annotators, fn):
    barrier = threading.Barrier(len(annotators))
    results, errors = [None] * len(annotators), []

    def run(i, annotator):
        try:
            barrier.wait()
            results[i] = fn(annotator)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(annotators)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_two_people_never_get_the_same_last_slot(make_project, make_items, make_user):
    for attempt in range(5):
        project = make_project(name=f"race {attempt}", labels_per_item=1)
        make_items(project, 1)
        people = [
            labelling.person_annotator(project, make_user(f"r{attempt}-{i}")) for i in range(6)
        ]
        results = _race(people, labelling.next_assignment)
        assert sum(r.assignment is not None for r in results) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_fill_items_exactly_to_k(make_project, make_items, make_user):
    project = make_project(labels_per_item=2)
    make_items(project, 3)
    people = [labelling.person_annotator(project, make_user(f"c{i}")) for i in range(8)]
    results = _race(people, labelling.next_assignment)
    given = Counter(r.assignment.item_id for r in results if r.assignment is not None)
    assert sum(given.values()) == 6  # 3 items x 2 slots, the other two people get nothing
    assert set(given.values()) == {2}
