"""Dawid-Skene (full confusion matrices) and one-coin Dawid-Skene, fitted by EM."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from scipy import sparse

from .encoding import LabelMatrix
from .majority import majority_vote
from .result import (
    AggregationResult,
    Ties,
    check_matrix,
    check_params,
    check_ties,
    choose,
    normalize_log,
    pin,
    pin_log,
    task_label_sum,
    task_sum,
    worker_sum,
)

_EPS = 1e-10


def _single_label(matrix: LabelMatrix, method: str) -> AggregationResult:
    """Everything is the one label there is."""
    probas = np.ones((matrix.n_tasks, 1))
    return AggregationResult(
        method=method,
        matrix=matrix,
        probas=probas,
        label_idx=np.zeros(matrix.n_tasks, np.int64),
        skill=np.ones(matrix.n_workers),
        confusion=np.ones((matrix.n_workers, 1, 1)),
        priors=np.ones(1),
        log_likelihood=0.0,
        iterations=0,
        converged=True,
    )


def _worker_label_by_task(matrix: LabelMatrix) -> sparse.csr_matrix:
    """Sparse ``(n_workers * n_labels, n_tasks)`` count matrix: entry ((w, l), j) is how many times
    worker w gave label l to task j. ``A @ probas`` are the DS expected confusion counts and
    ``A.T @ log_conf`` the E-step sums."""
    shape = (matrix.n_workers * matrix.n_labels, matrix.n_tasks)
    data = np.ones(matrix.n_obs)
    return sparse.csr_matrix((data, (matrix.worker_label_flat, matrix.task_idx)), shape=shape)


def dawid_skene(
    matrix: LabelMatrix,
    *,
    tol: float = 1e-5,
    max_iter: int = 100,
    smoothing: float = 0.0,
    prior_correct: float = 0.0,
    gold: Mapping[Hashable, Hashable] | None = None,
    ties: Ties = "first",
    seed: int | None = 0,
) -> AggregationResult:
    """Dawid-Skene: one confusion matrix per worker, fitted by EM.

    Dawid & Skene (1979), "Maximum likelihood estimation of observer error-rates using the EM
    algorithm", JRSS C 28(1):20-28. Model: true label ``z_j ~ Cat(rho)``; worker w answers ``l``
    with probability ``pi_w[z_j, l]``, independently across labels. EM, started from the
    majority-vote shares ``T[j, t]``:

    - M-step: ``rho_t = mean_j T[j, t]``;
      ``pi_w[t, l] = (s + d [l = t] + sum_{n: worker w, label l} T[task(n), t]) / sum_l (...)``,
      with ``s = smoothing`` pseudo-answers on every cell and ``d = prior_correct`` extra
      pseudo-answers on the diagonal. The default ``s = d = 0`` is the plain maximum-likelihood
      estimate of the paper (the reference; expected counts are clipped at 1e-10 before
      normalising, as Crowd-Kit clips its probabilities, so a class a worker never answered, a
      worker with one label or a class nobody used gives tiny probabilities, never 0, NaN or
      inf). ``s > 0`` or ``d > 0`` is the MAP variant, the posterior mode under a Dirichlet
      prior on each row of ``pi_w`` (``d > 0``: a worker is a priori better than chance); it is
      an explicit option only, since the earlier default ``d = 2`` was picked after looking at
      the benchmark data (``bench/README.md``).
    - E-step: ``log T[j, t] = log rho_t + sum_{n: task j} log pi_{worker(n)}[t, label(n)]``,
      normalised per task (log-sum-exp).

    Both steps are sparse matrix products with a fixed ``(worker, label) x task`` count matrix.
    Stops when the marginal log-likelihood per label rises by less than ``tol`` or after
    ``max_iter`` iterations. Gold tasks have ``T`` pinned to their gold label throughout.
    ``skill`` is the expected accuracy ``sum_t rho_t pi_w[t, t]``; ``confusion[w, t, l] =
    pi_w[t, l]``.
    """
    check_matrix(matrix)
    check_params(tol, max_iter)
    check_ties(ties)
    if smoothing < 0 or prior_correct < 0:
        raise ValueError("smoothing and prior_correct must be >= 0")
    if matrix.n_labels == 1:
        return _single_label(matrix, "ds")
    gold_idx = matrix.encode_gold(gold)
    n_w, k = matrix.n_workers, matrix.n_labels
    a = _worker_label_by_task(matrix)
    at = a.T.tocsr()
    probas = pin(majority_vote(matrix).probas.copy(), gold_idx)
    pseudo = smoothing + prior_correct * np.eye(k)  # [l, t]
    ll_prev = -np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        # M-step.
        priors = np.clip(probas.mean(axis=0), _EPS, None)
        priors /= priors.sum()
        counts = np.clip((a @ probas).reshape(n_w, k, k) + pseudo, _EPS, None)  # [w, l, t]
        conf = counts / counts.sum(axis=1, keepdims=True)
        log_conf = np.log(conf)
        # E-step.
        log_p = np.log(priors) + at @ log_conf.reshape(n_w * k, k)
        log_p = pin_log(log_p, gold_idx)
        probas, log_norm = normalize_log(log_p)
        ll = float(log_norm.sum())
        if (ll - ll_prev) / matrix.n_obs < tol:
            converged = True
            break
        ll_prev = ll
    confusion = np.transpose(conf, (0, 2, 1))  # [w, t, l]
    skill = np.einsum("t,wtt->w", priors, confusion)
    return AggregationResult(
        method="ds",
        matrix=matrix,
        probas=probas,
        label_idx=choose(probas, ties, seed),
        skill=skill,
        confusion=confusion,
        priors=priors,
        log_likelihood=ll,
        iterations=it,
        converged=converged,
    )


def one_coin_log_posterior(
    matrix: LabelMatrix, log_right: np.ndarray, log_wrong: np.ndarray, log_priors: np.ndarray
) -> np.ndarray:
    """Unnormalised log posterior of the one-coin family, from per-observation log-probabilities:
    ``log_right[n]`` = log P(label(n) | truth = label(n)), ``log_wrong[n]`` = log P(label(n) |
    truth = t) for any other t. ``log T[j, t] = log prior_t + sum_{n: task j} log_wrong[n] +
    sum_{n: task j, label t} (log_right[n] - log_wrong[n])``: O(labels), not O(labels x classes).
    """
    base = task_sum(matrix, log_wrong)
    diag = task_label_sum(matrix, log_right - log_wrong)
    return log_priors + base[:, None] + diag


def one_coin_dawid_skene(
    matrix: LabelMatrix,
    *,
    tol: float = 1e-5,
    max_iter: int = 100,
    prior_correct: float = 0.0,
    prior_wrong: float = 0.0,
    gold: Mapping[Hashable, Hashable] | None = None,
    ties: Ties = "first",
    seed: int | None = 0,
) -> AggregationResult:
    """One-coin Dawid-Skene: each worker has a single accuracy ``s_w``.

    The Dawid & Skene (1979) model with the confusion matrix restricted to
    ``pi_w[t, l] = s_w`` if ``l = t`` else ``(1 - s_w) / (K - 1)`` (the "one-coin" model of
    Zhang, Chen, Zhou & Jordan, "Spectral methods meet EM", JMLR 17, 2016, as in Crowd-Kit's
    ``OneCoinDawidSkene``). EM from the majority-vote shares ``T``:

    - M-step: ``rho_t = mean_j T[j, t]``;
      ``s_w = (a + sum_{n: worker w} T[task(n), label(n)]) / (a + b + n_w)`` (clipped to
      [1e-10, 1 - 1e-10]). The default ``a = b = 0`` is the maximum-likelihood estimate (the
      reference, as in Crowd-Kit); ``a = prior_correct > 0`` correct and ``b = prior_wrong``
      wrong pseudo-answers give the MAP variant, the posterior mode under a Beta prior (an
      explicit option; the earlier default ``a = 2`` was picked after looking at the benchmark
      data).
    - E-step: ``log T[j, t] = log rho_t + sum_{n: task j} log pi_{worker(n)}[t, label(n)]``.

    Stops when the marginal log-likelihood per label rises by less than ``tol`` or after
    ``max_iter`` iterations; gold tasks are pinned. ``skill`` is ``s_w``.
    """
    check_matrix(matrix)
    check_params(tol, max_iter)
    check_ties(ties)
    if prior_correct < 0 or prior_wrong < 0:
        raise ValueError("prior_correct and prior_wrong must be >= 0")
    if matrix.n_labels == 1:
        return _single_label(matrix, "onecoin")
    gold_idx = matrix.encode_gold(gold)
    k = matrix.n_labels
    probas = pin(majority_vote(matrix).probas.copy(), gold_idx)
    ll_prev = -np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        priors = np.clip(probas.mean(axis=0), _EPS, None)
        priors /= priors.sum()
        hit = probas[matrix.task_idx, matrix.label_idx]
        skill = (worker_sum(matrix, hit) + prior_correct) / (
            matrix.worker_counts + prior_correct + prior_wrong
        )
        skill = np.clip(skill, _EPS, 1 - _EPS)
        s = skill[matrix.worker_idx]
        log_p = one_coin_log_posterior(matrix, np.log(s), np.log((1 - s) / (k - 1)), np.log(priors))
        log_p = pin_log(log_p, gold_idx)
        probas, log_norm = normalize_log(log_p)
        ll = float(log_norm.sum())
        if (ll - ll_prev) / matrix.n_obs < tol:
            converged = True
            break
        ll_prev = ll
    off = (1 - skill) / (k - 1)
    confusion = np.repeat(off[:, None, None], k, axis=1).repeat(k, axis=2)
    confusion[:, np.arange(k), np.arange(k)] = skill[:, None]
    return AggregationResult(
        method="onecoin",
        matrix=matrix,
        probas=probas,
        label_idx=choose(probas, ties, seed),
        skill=skill,
        confusion=confusion,
        priors=priors,
        log_likelihood=ll,
        iterations=it,
        converged=converged,
    )
