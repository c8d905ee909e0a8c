"""MACE: multi-annotator competence estimation (Hovy et al. 2013), EM or variational Bayes."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Literal

import numpy as np
from scipy.special import digamma

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
    task_label_sum,
    task_sum,
    worker_sum,
)


def mace(
    matrix: LabelMatrix,
    *,
    tol: float | None = None,
    max_iter: int = 50,
    n_restarts: int = 10,
    method: Literal["vb", "em"] = "vb",
    alpha: float = 0.5,
    beta: float = 0.5,
    strategy_prior: float = 10.0,
    smoothing: float | None = None,
    default_noise: float = 0.5,
    gold: Mapping[Hashable, Hashable] | None = None,
    ties: Ties = "first",
    seed: int | None = 0,
) -> AggregationResult:
    """MACE, Multi-Annotator Competence Estimation.

    Hovy, Berg-Kirkpatrick, Vaswani & Hovy (2013), "Learning whom to trust with MACE",
    NAACL-HLT, 1120-1130; the reference is the authors' program (``dirkhovy/MACE``,
    ``src/edu/isi/MACE.java``, version 0.3), whose defaults these are. The true label ``T_j`` is
    uniform over K classes. On each item, worker w is "spamming" with probability
    ``1 - theta_w``: if not, they give the true label; if so, they draw a label from their own
    strategy ``xi_w`` (a distribution over labels). Hence
    ``P(answer l | T = t) = theta_w [l = t] + (1 - theta_w) xi_w[l]``.

    E-step (vectorised over all labels): ``log T[j, t] = -log K + sum_{n: task j}
    log((1 - theta_w) xi_w[l_n]) + sum_{n: task j, l_n = t} log(1 + theta_w / ((1 - theta_w)
    xi_w[l_n]))``; the expected "knowing" count of label n is ``T[j, l_n] theta_w / (theta_w +
    (1 - theta_w) xi_w[l_n])`` and its "spamming" count the rest, which also counts towards
    ``xi_w[l_n]``. M-step: ``method="vb"`` (default, as in the authors' program) is variational
    Bayes with a ``Beta(alpha, beta)`` prior on (spamming, knowing) (``alpha = beta = 0.5``) and a
    symmetric ``Dirichlet(strategy_prior = 10)`` prior on ``xi_w``: each parameter becomes
    ``exp(digamma(count + prior)) / exp(digamma(sum_counts + sum_priors))`` (not renormalised,
    as in the authors' code). ``method="em"`` normalises the counts plus ``smoothing`` (default
    ``0.01 / K``, the authors' default).

    Schedule, as in the authors' program: ``n_restarts = 10`` random initialisations (each
    parameter ``1 + default_noise * U[0, 1)``, ``default_noise = 0.5``, rows normalised); each
    restart runs one E-step and then exactly ``max_iter = 50`` (M-step, E-step) iterations; the
    restart whose final marginal log-likelihood (computed with the final, VB-unnormalised
    parameters) is highest is kept. ``tol=None`` (default) follows that fixed schedule; a number
    stops a restart early once the log-likelihood per label changes by less than ``tol`` (an
    option, not the authors' rule: stopping restarts at different points made the answer depend
    on the seed). With ``tol=None``, ``converged`` reports whether the last iteration changed the
    log-likelihood by less than 1e-5 per label (a diagnostic; it does not stop the run).

    Kept deviations from the authors' program: (1) the posteriors are computed in log space (the
    authors multiply probabilities, which underflows to 0 on items with a few hundred labels);
    (2) restarts draw from ``numpy.random.default_rng(seed)``, so a run is reproducible (the
    authors use an unseeded ``java.util.Random``); (3) labels are coded in this package's sorted
    order rather than by first appearance in the file, so an exact tie goes to the first label in
    sorted order (authors: the first label seen in the file); (4) gold tasks are pinned during
    EM, which is the authors' ``--controls`` option. ``skill`` is the authors' competence, the
    knowing parameter ``spamming[w][1]`` as their program writes it (under VB it is
    ``exp(digamma(.))``-based and the pair does not sum to 1); ``confusion[w, t, l]`` is
    ``P(answer l | T = t)`` from the renormalised parameters; ``extra["strategy"]`` holds ``xi``.
    """
    check_matrix(matrix)
    check_params(0.0 if tol is None else tol, max_iter)
    check_ties(ties)
    if n_restarts < 1:
        raise ValueError("n_restarts must be >= 1")
    if method not in ("vb", "em"):
        raise ValueError(f"method must be 'vb' or 'em', got {method!r}")
    if min(alpha, beta, strategy_prior) <= 0 or default_noise < 0:
        raise ValueError("alpha, beta and strategy_prior must be > 0, default_noise >= 0")
    gold_idx = matrix.encode_gold(gold)
    n_w, k = matrix.n_workers, matrix.n_labels
    w_idx, l_idx, t_idx = matrix.worker_idx, matrix.label_idx, matrix.task_idx
    eps_smooth = 0.01 / k if smoothing is None else smoothing
    log_uniform = np.full(k, -np.log(k))
    know_prior = np.array([alpha, beta])  # columns: spamming, knowing (Crowd-Kit's layout)

    def e_step(spam: np.ndarray, strategy: np.ndarray):
        """spam: (W, 2) [P(spamming), P(knowing)]; strategy: (W, K)."""
        base = spam[w_idx, 0] * strategy[w_idx, l_idx]
        know = spam[w_idx, 1]
        log_base = np.log(base)
        log_p = log_uniform + task_sum(matrix, log_base)[:, None]
        log_p = log_p + task_label_sum(matrix, np.log1p(know / base))
        log_p = pin_log(log_p, gold_idx)
        probas, log_norm = normalize_log(log_p)
        knowing = probas[t_idx, l_idx] * know / (know + base)
        return probas, float(log_norm.sum()), knowing

    def m_step(knowing: np.ndarray):
        n_know = worker_sum(matrix, knowing)
        n_spam = matrix.worker_counts - n_know
        counts = np.stack([n_spam, n_know], axis=1)
        strat = np.bincount(
            matrix.worker_label_flat, weights=1.0 - knowing, minlength=n_w * k
        ).reshape(n_w, k)
        if method == "em":
            counts = counts + eps_smooth
            strat = strat + eps_smooth
            return counts / counts.sum(1, keepdims=True), strat / strat.sum(1, keepdims=True)
        counts = counts + know_prior
        strat = strat + strategy_prior
        spam = np.exp(digamma(counts) - digamma(counts.sum(1, keepdims=True)))
        strategy = np.exp(digamma(strat) - digamma(strat.sum(1, keepdims=True)))
        return spam, strategy

    rng = np.random.default_rng(seed)
    best = None
    for _restart in range(n_restarts):
        spam = rng.uniform(1.0, 1.0 + default_noise, size=(n_w, 2))
        strategy = rng.uniform(1.0, 1.0 + default_noise, size=(n_w, k))
        spam /= spam.sum(1, keepdims=True)
        strategy /= strategy.sum(1, keepdims=True)
        probas, ll, knowing = e_step(spam, strategy)
        converged = False
        it = 0
        for it in range(1, max_iter + 1):  # noqa: B007
            spam, strategy = m_step(knowing)
            probas, new_ll, knowing = e_step(spam, strategy)
            change = abs(new_ll - ll) / matrix.n_obs
            ll = new_ll
            if tol is None:
                converged = change < 1e-5
            elif change < tol:
                converged = True
                break
        if best is None or ll > best[0]:
            best = (ll, probas, spam, strategy, it, converged)
    ll, probas, spam, strategy, it, converged = best
    knowing_share = spam[:, 1] / spam.sum(1)
    confusion = (1.0 - knowing_share)[:, None, None] * (strategy / strategy.sum(1, keepdims=True))[
        :, None, :
    ]
    confusion = np.repeat(confusion, k, axis=1)
    confusion[:, np.arange(k), np.arange(k)] += knowing_share[:, None]
    return AggregationResult(
        method="mace",
        matrix=matrix,
        probas=probas,
        label_idx=choose(probas, ties, seed),
        skill=spam[:, 1].copy(),
        confusion=confusion,
        priors=np.exp(log_uniform),
        log_likelihood=ll,
        iterations=it,
        converged=converged,
        extra={"strategy": strategy, "restarts": n_restarts},
    )
