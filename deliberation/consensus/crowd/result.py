"""The result every aggregation method returns, and helpers shared by the methods."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from .encoding import LabelMatrix

Ties = Literal["first", "random"]


@dataclass(frozen=True, eq=False)
class AggregationResult:
    """Posterior label distributions and annotator / item parameters of one aggregation run.

    Arrays are indexed like the :class:`LabelMatrix` (``matrix.tasks``, ``matrix.workers``,
    ``matrix.labels``); the ``dict`` properties decode them to task / worker ids.

    - ``probas``: ``(n_tasks, n_labels)``, each row a distribution over labels.
    - ``label_idx``: chosen label of each task (argmax of ``probas``; ties as ``ties`` says).
    - ``skill``: per worker, the method's scalar quality (agreement with the aggregate for MV and
      Wawa, accuracy for one-coin DS, expected accuracy for DS, ability alpha for GLAD, competence
      theta for MACE), or ``None``.
    - ``confusion``: ``(n_workers, n_labels, n_labels)``, ``confusion[w, t, l]`` = P(worker w
      answers l | true label t), for the models that have one (DS, one-coin DS, MACE).
    - ``difficulty``: per task, the model's item difficulty where it has one (GLAD: 1 / beta).
    - ``priors``: class priors, where estimated.
    - ``log_likelihood``: marginal log-likelihood of the labels (or the model's objective) at the
      end; ``iterations`` and ``converged`` describe the iterative fit (1 and True for MV).
    """

    method: str
    matrix: LabelMatrix
    probas: np.ndarray
    label_idx: np.ndarray
    skill: np.ndarray | None = None
    confusion: np.ndarray | None = None
    difficulty: np.ndarray | None = None
    priors: np.ndarray | None = None
    log_likelihood: float | None = None
    iterations: int = 1
    converged: bool = True
    extra: dict = field(default_factory=dict)

    @cached_property
    def labels(self) -> dict[Hashable, Hashable]:
        """task -> chosen label."""
        names = self.matrix.labels
        return {
            t: names[i] for t, i in zip(self.matrix.tasks, self.label_idx.tolist(), strict=True)
        }

    @cached_property
    def confidence(self) -> dict[Hashable, float]:
        """task -> posterior probability of the chosen label."""
        conf = self.probas[np.arange(self.matrix.n_tasks), self.label_idx]
        return dict(zip(self.matrix.tasks, conf.tolist(), strict=True))

    @cached_property
    def worker_skill(self) -> dict[Hashable, float] | None:
        """worker -> scalar quality (see ``skill``)."""
        if self.skill is None:
            return None
        return dict(zip(self.matrix.workers, self.skill.tolist(), strict=True))

    @cached_property
    def task_difficulty(self) -> dict[Hashable, float] | None:
        """task -> difficulty (see ``difficulty``)."""
        if self.difficulty is None:
            return None
        return dict(zip(self.matrix.tasks, self.difficulty.tolist(), strict=True))

    def worker_confusion(self, worker: Hashable) -> np.ndarray | None:
        """The ``(n_labels, n_labels)`` confusion matrix (rows: true label, columns: answer)."""
        if self.confusion is None:
            return None
        return self.confusion[self.matrix.workers.index(worker)]

    def accuracy(self, gold: Mapping[Hashable, Hashable]) -> float:
        """Share of gold tasks (that have crowd labels) whose chosen label equals the gold label.
        Gold labels are compared by value and by string form, so ``1`` matches ``"1"``."""
        labels = self.labels
        hits = total = 0
        for task, truth in gold.items():
            if task not in labels:
                continue
            total += 1
            got = labels[task]
            hits += got == truth or str(got) == str(truth)
        if total == 0:
            raise ValueError("no gold task has a crowd label")
        return hits / total


# -- shared helpers ---------------------------------------------------------------------------


def check_params(tol: float, max_iter: int) -> None:
    if not (isinstance(max_iter, int | np.integer) and max_iter >= 1):
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not (tol >= 0):
        raise ValueError(f"tol must be >= 0, got {tol!r}")


def check_matrix(matrix: LabelMatrix) -> None:
    if not isinstance(matrix, LabelMatrix):
        raise TypeError("expected a LabelMatrix (use LabelMatrix.from_rows)")
    if matrix.n_obs == 0:
        raise ValueError("no labels to aggregate")


def choose(
    probas: np.ndarray,
    ties: str = "first",
    seed: int | None = 0,
    key: np.ndarray | None = None,
) -> np.ndarray:
    """Argmax of each row, with a deterministic rule for exact ties (within 1e-12):

    - ``"first"``: the first tied label in label order;
    - ``"random"``: a tied label drawn uniformly with ``numpy.random.default_rng(seed)``;
    - any other name (used by majority vote): the tied label with the larger ``key[j, k]``, then
      the first in label order.
    """
    if ties == "first":
        return np.argmax(probas, axis=1)
    top = probas >= probas.max(axis=1, keepdims=True) - 1e-12
    if ties == "random":
        noise = np.random.default_rng(seed).random(probas.shape)
        return np.argmax(np.where(top, noise + 1.0, 0.0), axis=1)
    if key is None:
        raise ValueError(f"ties must be 'first' or 'random', got {ties!r}")
    # Larger key wins; np.argmax keeps the first of equal keys (label order).
    shifted = key - key.min() + 1.0
    return np.argmax(np.where(top, shifted, 0.0), axis=1)


def check_ties(ties: str, allowed: tuple[str, ...] = ("first", "random")) -> None:
    if ties not in allowed:
        raise ValueError(f"ties must be one of {', '.join(allowed)}; got {ties!r}")


def normalize_log(log_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise softmax of log-scores; also returns each row's log normaliser (log-sum-exp)."""
    mx = log_p.max(axis=1, keepdims=True)
    p = np.exp(log_p - mx)
    s = p.sum(axis=1, keepdims=True)
    p /= s
    return p, (np.log(s) + mx)[:, 0]


def pin(probas: np.ndarray, gold: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Set the rows of gold tasks to the one-hot gold label (in place; returns ``probas``)."""
    t_idx, l_idx = gold
    if t_idx.size:
        probas[t_idx] = 0.0
        probas[t_idx, l_idx] = 1.0
    return probas


def pin_log(log_p: np.ndarray, gold: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Log-space pinning: gold rows become 0 at the gold label and -inf elsewhere, except that the
    gold label's own log-score is kept so the log-likelihood still counts those tasks."""
    t_idx, l_idx = gold
    if t_idx.size:
        keep = log_p[t_idx, l_idx]
        log_p[t_idx] = -np.inf
        log_p[t_idx, l_idx] = keep
    return log_p


def task_sum(matrix: LabelMatrix, per_obs: np.ndarray) -> np.ndarray:
    """Sum a per-observation quantity over the observations of each task."""
    return np.bincount(matrix.task_idx, weights=per_obs, minlength=matrix.n_tasks)


def task_label_sum(matrix: LabelMatrix, per_obs: np.ndarray) -> np.ndarray:
    """Sum a per-observation quantity into the ``(task, observed label)`` cells."""
    k = matrix.n_labels
    flat = np.bincount(matrix.task_label_flat, weights=per_obs, minlength=matrix.n_tasks * k)
    return flat.reshape(matrix.n_tasks, k)


def worker_sum(matrix: LabelMatrix, per_obs: np.ndarray) -> np.ndarray:
    """Sum a per-observation quantity over the labels of each worker."""
    return np.bincount(matrix.worker_idx, weights=per_obs, minlength=matrix.n_workers)
