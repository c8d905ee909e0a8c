"""Our maximum-likelihood Dawid-Skene against an independent textbook implementation.

The reference below is written from Dawid & Skene (1979), "Maximum likelihood estimation of
observer error-rates using the EM algorithm", JRSS C 28(1):20-28, section 2, with plain Python
loops and dictionaries (no code shared with the library):

1. start from the majority-vote posteriors ``T[j][t]`` = share of task j's labels that are t;
2. M-step: class priors ``p[t] = sum_j T[j][t] / J``; each worker's confusion matrix
   ``pi[w][t][l] = sum_j T[j][t] n[j][w][l] / sum_l' sum_j T[j][t] n[j][w][l']`` from the
   expected counts (a count of exactly 0 is floored at 1e-10 so that its log exists);
3. E-step: ``T[j][t] proportional to p[t] prod_w prod_l pi[w][t][l] ** n[j][w][l]`` (in logs);
4. repeat until no posterior moves by more than 1e-12 (or 2,000 iterations).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from deliberation.consensus.crowd import LabelMatrix, dawid_skene
from deliberation.consensus.crowd.io import read_label_rows

DATA = Path(__file__).resolve().parents[2] / "data" / "crowd"
FLOOR = 1e-10


def textbook_dawid_skene(rows, classes, max_iter=2000, tol=1e-12):
    """Returns ({task: {class: posterior}}, iterations)."""
    n = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))  # n[task][worker][label]
    for task, worker, label in rows:
        n[task][worker][label] += 1
    tasks = list(n)
    workers = sorted({w for task in tasks for w in n[task]}, key=str)
    # 1. majority-vote initialisation
    post = {}
    for task in tasks:
        total = sum(c for by_label in n[task].values() for c in by_label.values())
        post[task] = {t: sum(n[task][w][t] for w in n[task]) / total for t in classes}
    for it in range(1, max_iter + 1):
        # 2. M-step
        prior = {t: sum(post[task][t] for task in tasks) / len(tasks) for t in classes}
        expected = {w: {t: {lab: 0.0 for lab in classes} for t in classes} for w in workers}
        for task in tasks:
            for w, by_label in n[task].items():
                for label, count in by_label.items():
                    for t in classes:
                        expected[w][t][label] += post[task][t] * count
        pi = {}
        for w in workers:
            pi[w] = {}
            for t in classes:
                cells = {lab: max(expected[w][t][lab], FLOOR) for lab in classes}
                row_total = sum(cells.values())
                pi[w][t] = {lab: cells[lab] / row_total for lab in classes}
        # 3. E-step
        new_post = {}
        for task in tasks:
            log_score = {}
            for t in classes:
                s = math.log(max(prior[t], FLOOR))
                for w, by_label in n[task].items():
                    for label, count in by_label.items():
                        s += count * math.log(pi[w][t][label])
                log_score[t] = s
            top = max(log_score.values())
            z = sum(math.exp(v - top) for v in log_score.values())
            new_post[task] = {t: math.exp(log_score[t] - top) / z for t in classes}
        # 4. convergence
        moved = max(abs(new_post[task][t] - post[task][t]) for task in tasks for t in classes)
        post = new_post
        if moved < tol:
            return post, it
    return post, max_iter


def compare(rows):
    matrix = LabelMatrix.from_rows(rows)
    # The default is maximum likelihood; tol=0 runs until the log-likelihood stops rising.
    ours = dawid_skene(matrix, tol=0.0, max_iter=2000)
    ref, iterations = textbook_dawid_skene(rows, list(matrix.labels))
    assert iterations < 2000, "the reference did not converge"
    ref_probas = np.array([[ref[task][t] for t in matrix.labels] for task in matrix.tasks])
    ref_labels = {
        task: max(matrix.labels, key=lambda t, task=task: ref[task][t]) for task in matrix.tasks
    }
    return ours, ref_probas, ref_labels


def test_hand_made_matrix_matches_textbook_em():
    # 8 tasks, 5 workers, 3 classes: a careful worker, two decent ones, one who swaps b and c,
    # and one who labelled a single item.
    answers = {
        "t1": {"careful": "a", "dec1": "a", "dec2": "b", "swap": "a"},
        "t2": {"careful": "b", "dec1": "b", "dec2": "b", "swap": "c"},
        "t3": {"careful": "c", "dec1": "b", "dec2": "c", "swap": "b"},
        "t4": {"careful": "a", "dec1": "c", "dec2": "a", "swap": "a", "once": "c"},
        "t5": {"careful": "b", "dec1": "b", "dec2": "a", "swap": "c"},
        "t6": {"careful": "c", "dec1": "c", "dec2": "c", "swap": "b"},
        "t7": {"careful": "a", "dec1": "a", "dec2": "a", "swap": "a"},
        "t8": {"careful": "b", "dec1": "c", "dec2": "b", "swap": "c"},
    }
    rows = [(task, w, label) for task, by_w in answers.items() for w, label in by_w.items()]
    ours, ref_probas, ref_labels = compare(rows)
    assert ours.labels == ref_labels
    np.testing.assert_allclose(ours.probas, ref_probas, atol=1e-6)
    assert np.all(np.isfinite(ours.confusion)) and np.isfinite(ours.log_likelihood)


def test_rte_matches_textbook_em():
    rows = read_label_rows(DATA / "rte.labels.csv")
    ours, ref_probas, ref_labels = compare(rows)
    assert ours.labels == ref_labels
    np.testing.assert_allclose(ours.probas, ref_probas, atol=1e-6)


@pytest.mark.parametrize("fixture", ["one_label_worker", "unused_class"])
def test_maximum_likelihood_edge_cases_are_finite(fixture):
    rows = [("t1", "a", "x"), ("t1", "b", "x"), ("t2", "a", "y"), ("t2", "b", "y")]
    rows += [("t3", "a", "x"), ("t3", "c", "y")]  # c labelled one item
    labels = ["x", "y", "z"] if fixture == "unused_class" else None  # nobody answered z
    matrix = LabelMatrix.from_rows(rows, labels=labels)
    with np.errstate(all="raise"):
        result = dawid_skene(matrix)
    for array in (result.probas, result.confusion, result.priors):
        assert np.all(np.isfinite(array))
    assert np.allclose(result.probas.sum(axis=1), 1.0)
    assert np.allclose(result.confusion.sum(axis=2), 1.0)
    assert result.labels["t1"] == "x" and result.labels["t2"] == "y"
