"""GLAD: worker ability and item difficulty (Whitehill et al. 2009), fitted by EM."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np

from .dawid_skene import one_coin_log_posterior
from .encoding import LabelMatrix
from .result import (
    AggregationResult,
    Ties,
    check_matrix,
    check_params,
    check_ties,
    choose,
    normalize_log,
    pin_log,
    task_sum,
    worker_sum,
)


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    """``log sigma(x) = min(x, 0) - log(1 + exp(-|x|))``, stable and cheaper than SciPy's."""
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def glad(
    matrix: LabelMatrix,
    *,
    tol: float = 1e-5,
    max_iter: int = 100,
    alpha_prior_mean: float = 1.0,
    beta_prior_mean: float = 1.0,
    m_step_max_iter: int = 25,
    m_step_tol: float = 1e-4,
    gold: Mapping[Hashable, Hashable] | None = None,
    ties: Ties = "first",
    seed: int | None = 0,
) -> AggregationResult:
    """GLAD, Generative model of Labels, Abilities and Difficulties.

    Whitehill, Ruvolo, Wu, Bergsma & Movellan (2009), "Whose vote should count more: optimal
    integration of labels from labelers of unknown expertise", NeurIPS 22. Worker w has ability
    ``alpha_w`` (real; negative means adversarial), task j has inverse difficulty
    ``beta_j = exp(b_j) > 0``. A label is correct with probability
    ``sigma(alpha_w beta_j)`` (logistic sigma); a wrong label is uniform over the other K - 1
    classes (the multi-class form used by Crowd-Kit). True labels have a uniform prior; the
    parameters have Gaussian priors ``alpha_w ~ N(alpha_prior_mean, 1)``,
    ``b_j ~ N(beta_prior_mean, 1)``. EM (initial ``alpha = 1``, ``b = 1``):

    - E-step: ``log T[j, t] = sum_{n: task j} [label(n) = t] log sigma(x_n)
      + [label(n) != t] (log sigma(-x_n) - log(K - 1))`` with ``x_n = alpha_w exp(b_j)``,
      normalised per task (gold tasks pinned).
    - M-step: maximise ``Q = sum_n pi_n log sigma(x_n) + (1 - pi_n)(log sigma(-x_n) - log(K-1))
      - sum_w (alpha_w - mu_a)^2 / 2 - sum_j (b_j - mu_b)^2 / 2``, ``pi_n = T[task(n), label(n)]``,
      by block-coordinate Newton steps, warm-started, vectorised with ``bincount``: for all
      workers at once ``alpha_w += g_w / h_w`` with ``g_w = sum_n (pi_n - sigma(x_n)) beta_j -
      (alpha_w - mu_a)`` and ``h_w = sum_n sigma(x_n) sigma(-x_n) beta_j^2 + 1`` (exact Newton:
      the alpha block is concave), then for all tasks ``b_j += g_j / h_j`` with
      ``g_j = sum_n (pi_n - sigma(x_n)) x_n - (b_j - mu_b)`` and the Fisher curvature
      ``h_j = sum_n sigma(x_n) sigma(-x_n) x_n^2 + 1``; steps are clipped to +-1, at most
      ``m_step_max_iter`` rounds, until every step is below ``m_step_tol``. (Whitehill et al. and
      Crowd-Kit use conjugate gradient on the joint gradient; the fixed point is the same.)

    Stops when the log posterior (marginal log-likelihood plus parameter log-priors) per label
    rises by less than ``tol``, or after ``max_iter`` EM iterations. Note: gold pinning fixes the
    gold tasks' posteriors, but GLAD can explain a gold task that the majority gets wrong as a
    very hard item (small beta) rather than lowering the majority's abilities, so a few gold
    items do not undo an adversarial majority the way they do for Dawid-Skene or MACE.
    ``skill`` is ``alpha``; ``difficulty`` is ``1 / beta``; ``extra["beta"]`` holds ``beta``.
    """
    check_matrix(matrix)
    check_params(tol, max_iter)
    check_ties(ties)
    if m_step_max_iter < 1:
        raise ValueError("m_step_max_iter must be >= 1")
    gold_idx = matrix.encode_gold(gold)
    n_w, n_t, k = matrix.n_workers, matrix.n_tasks, matrix.n_labels
    w_idx, t_idx = matrix.worker_idx, matrix.task_idx
    log_k1 = np.log(k - 1) if k > 1 else 0.0
    log_prior = np.full(k, -np.log(k))
    alpha = np.ones(n_w)
    max_step = 1.0
    b = np.ones(n_t)

    def e_step(alpha: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
        x = alpha[w_idx] * np.exp(b[t_idx])
        log_right = _log_sigmoid(x)
        log_wrong = log_right - x - log_k1 if k > 1 else np.zeros_like(x)
        log_p = pin_log(one_coin_log_posterior(matrix, log_right, log_wrong, log_prior), gold_idx)
        probas, log_norm = normalize_log(log_p)
        da, db = alpha - alpha_prior_mean, b - beta_prior_mean
        penalty = 0.5 * (da @ da + db @ db)
        return probas, float(log_norm.sum()) - penalty

    def m_step(alpha: np.ndarray, b: np.ndarray, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for _ in range(m_step_max_iter):
            beta_n = np.exp(b)[t_idx]
            # alpha block: exact Newton (Q is concave in alpha for fixed b).
            x = alpha[w_idx] * beta_n
            s = np.exp(_log_sigmoid(x))
            grad = worker_sum(matrix, (pi - s) * beta_n) - (alpha - alpha_prior_mean)
            hess = worker_sum(matrix, s * (1.0 - s) * beta_n * beta_n) + 1.0
            step_a = np.clip(grad / hess, -max_step, max_step)
            alpha = alpha + step_a
            # b block: Fisher scoring (expected curvature, always negative).
            x = alpha[w_idx] * beta_n
            s = np.exp(_log_sigmoid(x))
            grad = task_sum(matrix, (pi - s) * x) - (b - beta_prior_mean)
            hess = task_sum(matrix, s * (1.0 - s) * x * x) + 1.0
            step_b = np.clip(grad / hess, -max_step, max_step)
            b = b + step_b
            if max(np.abs(step_a).max(), np.abs(step_b).max()) < m_step_tol:
                break
        return alpha, b

    probas, objective = e_step(alpha, b)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        pi = probas[t_idx, matrix.label_idx]
        alpha, b = m_step(alpha, b, pi)
        probas, new_objective = e_step(alpha, b)
        gain = (new_objective - objective) / matrix.n_obs
        objective = new_objective
        if gain < tol:
            converged = True
            break
    beta = np.exp(b)
    return AggregationResult(
        method="glad",
        matrix=matrix,
        probas=probas,
        label_idx=choose(probas, ties, seed),
        skill=alpha,
        difficulty=1.0 / beta,
        priors=np.exp(log_prior),
        log_likelihood=objective,
        iterations=it,
        converged=converged,
        extra={"beta": beta},
    )
