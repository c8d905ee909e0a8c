"""The two most likely answers of each item and the probability of confusion between them.

Source followed: Hyeonsu Jeong and Hye Won Chung, "Recovering Top-Two Answers and Confusion
Probability in Multi-Choice Crowdsourcing", ICML 2023 (arXiv:2301.00006).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from .encoding import LabelMatrix
from .majority import agreement, majority_vote
from .result import check_matrix, check_params, worker_sum


@dataclass(frozen=True, eq=False)
class TopTwoResult:
    """Per task: ``first`` / ``second`` label indices and ``p`` = P(first | a reliable worker
    chooses among the top two), so ``1 - p`` is the confusion probability. Per worker:
    ``reliability`` q (probability of answering from the top two rather than guessing)."""

    matrix: LabelMatrix
    first: np.ndarray
    second: np.ndarray
    p: np.ndarray
    reliability: np.ndarray
    log_likelihood: float
    iterations: int
    converged: bool

    @cached_property
    def top_two(self) -> dict[Hashable, tuple[Hashable, Hashable, float]]:
        """task -> (most likely answer, most confusing answer, confusion probability 1 - p)."""
        names = self.matrix.labels
        return {
            t: (names[a], names[b], 1.0 - p)
            for t, a, b, p in zip(
                self.matrix.tasks,
                self.first.tolist(),
                self.second.tolist(),
                self.p.tolist(),
                strict=True,
            )
        }

    @cached_property
    def worker_reliability(self) -> dict[Hashable, float]:
        return dict(zip(self.matrix.workers, self.reliability.tolist(), strict=True))


def top_two(
    matrix: LabelMatrix,
    *,
    tol: float = 1e-6,
    max_iter: int = 20,
    grid: int = 101,
    q_bounds: tuple[float, float] = (1e-3, 1.0 - 1e-3),
) -> TopTwoResult:
    """Top-two answers and confusion probability (Jeong & Chung, ICML 2023).

    Model of the paper: task j has a ground truth ``g_j``, a most confusing answer ``h_j`` and
    ``p_j`` in [1/2, 1]; worker i has reliability ``q_i`` in [0, 1] and answers

    - ``g_j`` with probability ``q_i p_j + (1 - q_i) / K``,
    - ``h_j`` with probability ``q_i (1 - p_j) + (1 - q_i) / K``,
    - any other label with probability ``(1 - q_i) / K``.

    The paper's algorithm has two stages: a spectral estimate of the top two and of ``q``, then a
    plug-in maximum-likelihood refinement of ``(g_j, h_j, p_j)`` given ``q``. We keep stage two
    exactly and replace the spectral stage by a simpler start: ``q_i`` from worker i's agreement
    ``a_i`` with the majority vote, ``q_i = (K a_i - 1) / (K - 1)`` (clipped), and then alternate
    (a few rounds, until the pairs stop changing and ``q`` moves less than ``tol``):

    1. tasks: ``(g_j, h_j, p_j) = argmax`` of the log-likelihood above over all ordered label
       pairs and ``p`` on a ``grid``-point grid of [1/2, 1] (all tasks and pairs at once, with
       sparse sums of per-label log-probabilities);
    2. workers: ``q_i`` maximises ``sum_n log(q_i c_n + (1 - q_i) / K)`` (``c_n`` = ``p_j``,
       ``1 - p_j`` or 0 as answer n is ``g_j``, ``h_j`` or other), a concave 1-D problem solved by
       vectorised Newton steps, clipped to ``q_bounds``.

    With K = 2 the second answer is simply the other label.
    """
    check_matrix(matrix)
    check_params(tol, max_iter)
    if grid < 2:
        raise ValueError("grid must be >= 2")
    k, n_t = matrix.n_labels, matrix.n_tasks
    if k < 2:
        raise ValueError("top-two needs at least two labels")
    t_idx, l_idx, w_idx = matrix.task_idx, matrix.label_idx, matrix.worker_idx
    lo, hi = q_bounds
    ps = np.linspace(0.5, 1.0, grid)
    tl = sparse.csr_matrix(
        (np.ones(matrix.n_obs), (matrix.task_label_flat, np.arange(matrix.n_obs))),
        shape=(n_t * k, matrix.n_obs),
    )
    mv = majority_vote(matrix)
    q = np.clip((k * agreement(matrix, mv.label_idx) - 1.0) / (k - 1.0), lo, hi)
    first = second = None
    p = np.ones(n_t)
    off = ~np.eye(k, dtype=bool)
    converged = False
    ll = -np.inf
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        qn = q[w_idx][:, None]
        r = (1.0 - qn) / k
        log_r = np.log(r)
        a = (tl @ (np.log(qn * ps + r) - log_r)).reshape(n_t, k, grid)
        b = (tl @ (np.log(qn * (1.0 - ps) + r) - log_r)).reshape(n_t, k, grid)
        score = a[:, :, None, :] + b[:, None, :, :]  # [task, first, second, grid]
        score[:, ~off] = -np.inf
        flat = score.reshape(n_t, -1)
        best = np.argmax(flat, axis=1)
        pair, g_best = np.divmod(best, grid)
        new_first, new_second = np.divmod(pair, k)
        p_new = ps[g_best]
        ll = float(flat[np.arange(n_t), best].sum() + log_r.sum())
        # Workers: Newton on sum_n log(q c_n + (1 - q) / K), concave in q.
        c = np.where(
            l_idx == new_first[t_idx],
            p_new[t_idx],
            np.where(l_idx == new_second[t_idx], 1.0 - p_new[t_idx], 0.0),
        )
        slope = c - 1.0 / k
        q_old = q
        for _ in range(20):
            den = q[w_idx] * slope + 1.0 / k
            grad = worker_sum(matrix, slope / den)
            hess = worker_sum(matrix, (slope / den) ** 2)
            step = np.where(hess > 0, grad / np.maximum(hess, 1e-12), 0.0)
            q = np.clip(q + step, lo, hi)
            if np.abs(step).max() < 1e-9:
                break
        same = (
            first is not None
            and np.array_equal(new_first, first)
            and np.array_equal(new_second, second)
        )
        first, second, p = new_first, new_second, p_new
        if same and np.abs(q - q_old).max() < tol:
            converged = True
            break
    return TopTwoResult(
        matrix=matrix,
        first=first,
        second=second,
        p=p,
        reliability=q,
        log_likelihood=ll,
        iterations=it,
        converged=converged,
    )
