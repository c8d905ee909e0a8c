"""Majority vote and Wawa (worker agreement with aggregate)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Literal

import numpy as np

from .encoding import LabelMatrix
from .result import (
    AggregationResult,
    Ties,
    check_matrix,
    check_ties,
    choose,
    pin,
    task_label_sum,
    worker_sum,
)

MajorityTies = Literal["skill", "first", "random"]


def _worker_weights(matrix: LabelMatrix, weights) -> np.ndarray:
    if weights is None:
        return np.ones(matrix.n_workers)
    if isinstance(weights, Mapping):
        missing = [w for w in matrix.workers if w not in weights]
        if missing:
            raise ValueError(f"no weight for worker(s) {missing[:5]!r}")
        w = np.array([float(weights[w]) for w in matrix.workers])
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (matrix.n_workers,):
            raise ValueError(f"weights must have one entry per worker ({matrix.n_workers})")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    return w


def agreement(matrix: LabelMatrix, truth_idx: np.ndarray) -> np.ndarray:
    """Share of each worker's labels equal to the task's label ``truth_idx[task]``."""
    hit = (matrix.label_idx == truth_idx[matrix.task_idx]).astype(float)
    return worker_sum(matrix, hit) / matrix.worker_counts


def _weighted_vote(matrix: LabelMatrix, w: np.ndarray) -> np.ndarray:
    scores = task_label_sum(matrix, w[matrix.worker_idx])
    total = scores.sum(axis=1, keepdims=True)
    # A task labelled only by zero-weight workers falls back to its plain vote shares.
    empty = total[:, 0] <= 0
    if empty.any():
        scores[empty] = matrix.counts[empty]
        total[empty] = scores[empty].sum(axis=1, keepdims=True)
    return scores / total


def _vote_labels(matrix: LabelMatrix, probas: np.ndarray, ties: str, seed) -> np.ndarray:
    if ties != "skill":
        return choose(probas, ties, seed)
    # Tie-break by the voters' agreement with the untied majority elsewhere.
    provisional = choose(probas, "first")
    skill = agreement(matrix, provisional)
    return choose(probas, "skill", seed, key=task_label_sum(matrix, skill[matrix.worker_idx]))


def majority_vote(
    matrix: LabelMatrix,
    *,
    weights: Mapping[Hashable, float] | np.ndarray | None = None,
    gold: Mapping[Hashable, Hashable] | None = None,
    ties: MajorityTies = "skill",
    seed: int | None = 0,
) -> AggregationResult:
    """(Weighted) majority vote.

    ``probas[j, k] = sum_{n: task j, label k} w_{worker(n)} / sum_{n: task j} w_{worker(n)}``
    (all ``w = 1`` for the plain vote); the chosen label is the argmax. Exact ties are broken
    deterministically:

    - ``ties="skill"`` (default): the tied label whose voters have the larger summed agreement
      with the majority (each worker's share of labels equal to the first-in-order majority
      label; the Wawa weight), then the first in label order. The vote shares are unchanged; only
      the choice among equal shares uses the annotators' track record.
    - ``ties="first"``: the first tied label in label order (numeric labels numerically).
    - ``ties="random"``: uniformly among tied labels with ``default_rng(seed)``.

    ``skill`` is each worker's agreement with the chosen labels (Crowd-Kit's
    ``MajorityVote.skills_``). Gold tasks are pinned to their gold label.
    """
    check_matrix(matrix)
    check_ties(ties, ("skill", "first", "random"))
    gold_idx = matrix.encode_gold(gold)
    probas = pin(_weighted_vote(matrix, _worker_weights(matrix, weights)), gold_idx)
    label_idx = _vote_labels(matrix, probas, ties, seed)
    return AggregationResult(
        method="mv",
        matrix=matrix,
        probas=probas,
        label_idx=label_idx,
        skill=agreement(matrix, label_idx),
    )


def wawa(
    matrix: LabelMatrix,
    *,
    gold: Mapping[Hashable, Hashable] | None = None,
    ties: Ties = "first",
    seed: int | None = 0,
) -> AggregationResult:
    """Wawa, "worker agreement with aggregate", as documented by Crowd-Kit (Ustalov et al.,
    "Learning from Crowds with Crowd-Kit", JOSS 2024; ``crowdkit.aggregation.Wawa``):

    1. ``z = majority_vote(labels)``, the plain vote with ties to the first label in label order
       (gold tasks take their gold label);
    2. ``skill_w = (1 / n_w) sum_{n: worker w} [label_n == z_{task(n)}]``, the worker's agreement
       with the aggregate;
    3. weighted majority vote with weights ``skill_w``:
       ``probas[j, k] proportional to sum_{n: task j, label k} skill_{worker(n)}``; exact ties of
       the weighted vote by ``ties`` (``"first"`` label order, or seeded ``"random"``).

    Gold tasks are pinned in steps 1 and 3.
    """
    check_matrix(matrix)
    check_ties(ties)
    gold_idx = matrix.encode_gold(gold)
    first = majority_vote(matrix, gold=gold, ties="first").label_idx
    skill = agreement(matrix, first)
    probas = pin(_weighted_vote(matrix, skill), gold_idx)
    return AggregationResult(
        method="wawa",
        matrix=matrix,
        probas=probas,
        label_idx=choose(probas, ties, seed),
        skill=skill,
        iterations=2,
    )
