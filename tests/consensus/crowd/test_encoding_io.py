"""LabelMatrix coding, CSV reading/writing and the plain run_aggregation entry point."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from deliberation.consensus.crowd import (
    CrowdDataError,
    LabelMatrix,
    majority_vote,
    read_gold,
    read_labels,
    run_aggregation,
    write_results,
)


def test_from_rows_codes_and_orders():
    m = LabelMatrix.from_rows(
        [("b", "w2", "10"), ("a", "w1", "2"), ("b", "w1", "2"), ("a", "w2", "x")]
    )
    assert m.tasks == ("b", "a")  # first appearance
    assert m.workers == ("w2", "w1")
    assert m.labels == ("2", "10", "x")  # integers numerically, then the rest
    assert m.task_idx.tolist() == [0, 1, 0, 1]
    assert m.worker_idx.tolist() == [0, 1, 1, 0]
    assert m.label_idx.tolist() == [1, 0, 0, 2]
    assert m.counts.tolist() == [[1, 1, 0], [1, 0, 1]]
    assert (m.n_tasks, m.n_workers, m.n_labels, m.n_obs) == (2, 2, 3, 4)


def test_explicit_label_set_and_unknown_label():
    m = LabelMatrix.from_rows([("a", "w", "no")], labels=["yes", "no", "maybe"])
    assert m.labels == ("yes", "no", "maybe") and m.counts.tolist() == [[0, 1, 0]]
    with pytest.raises(ValueError, match="not in the given label set"):
        LabelMatrix.from_rows([("a", "w", "other")], labels=["yes", "no"])
    with pytest.raises(ValueError, match="expected"):
        LabelMatrix.from_rows([("a", "w")])


def test_encode_gold():
    m = LabelMatrix.from_rows([("a", "w", 0), ("b", "w", 1)])
    t, lab = m.encode_gold({"b": 0, "zzz": 1})  # unknown task skipped
    assert t.tolist() == [1] and lab.tolist() == [0]
    with pytest.raises(ValueError, match="gold label 7"):
        m.encode_gold({"a": 7})


def test_reliability_data_layout():
    m = LabelMatrix.from_rows([("a", "w1", 0), ("b", "w2", 1), ("b", "w1", 0)])
    r = m.reliability_data()
    assert r.shape == (2, 2)
    assert np.isnan(r[1, 0]) and r[0, 0] == 0 and r[0, 1] == 0 and r[1, 1] == 1


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_read_labels_and_gold(tmp_path):
    labels = _write(tmp_path / "l.csv", "worker,task,label,extra\nw1,t1,yes,x\n\nw2,t1,no,y\n")
    m = read_labels(labels)
    assert m.tasks == ("t1",) and m.workers == ("w1", "w2") and m.labels == ("no", "yes")
    gold = _write(tmp_path / "g.csv", "task,label\nt1,yes\nt1,yes\n")
    assert read_gold(gold) == {"t1": "yes"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("task,worker\nt,w\n", r":1: header must have the columns task,worker,label"),
        ("task,worker,label\nt1,w1,a\nt2,w2\n", r":3: expected 3 fields, got 2"),
        ("task,worker,label\nt1,w1,a\nt2, ,b\n", r":3: empty worker"),
        ("task,worker,label\n", "no label rows"),
        ("task,task,worker,label\nt,t,w,l\n", "repeated column"),
    ],
)
def test_bad_label_files(tmp_path, text, message):
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(CrowdDataError, match=message):
        read_labels(path)


def test_bad_gold_file(tmp_path):
    path = _write(tmp_path / "g.csv", "task,label\nt1,a\nt2,b\nt1,c\n")
    with pytest.raises(CrowdDataError, match=r"g.csv:4: task 't1' already has gold label 'a'"):
        read_gold(path)
    with pytest.raises(CrowdDataError, match="cannot open"):
        read_gold(tmp_path / "missing.csv")


def test_write_results(tmp_path):
    m = LabelMatrix.from_rows([("t1", "w1", "a"), ("t1", "w2", "a"), ("t2", "w1", "b")])
    out = tmp_path / "out.csv"
    write_results(majority_vote(m), out)
    with out.open() as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["task", "label", "confidence"],
        ["t1", "a", "1.000000"],
        ["t2", "b", "1.000000"],
    ]


def test_run_aggregation(tmp_path):
    labels = _write(
        tmp_path / "l.csv",
        "task,worker,label\n1,a,x\n1,b,x\n1,c,y\n2,a,y\n2,b,y\n2,c,y\n3,a,x\n3,b,y\n3,c,x\n",
    )
    gold = _write(tmp_path / "g.csv", "task,label\n1,x\n2,y\n3,y\n")
    out = tmp_path / "o.csv"
    result, acc = run_aggregation(labels, "ds", gold_path=gold, out_path=out, max_iter=5)
    assert result.method == "ds" and result.iterations <= 5
    assert acc == pytest.approx(2 / 3)
    assert out.read_text().splitlines()[0] == "task,label,confidence"
    _, acc = run_aggregation(labels, "mv", gold_path=gold, pin_gold=True)
    assert acc == 1.0
    result, acc = run_aggregation(labels, "mace", n_restarts=2, seed=1)
    assert acc is None and set(result.labels) == {"1", "2", "3"}
    with pytest.raises(ValueError, match="unknown method"):
        run_aggregation(labels, "nope")
    with pytest.raises(ValueError, match="bad parameter"):
        run_aggregation(labels, "mv", max_iter=3)
