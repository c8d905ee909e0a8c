"""Synthetic crowd labels drawn from known models, with a fixed seed."""

from __future__ import annotations

import numpy as np


def dawid_skene_data(seed: int = 7, n_tasks: int = 400, k: int = 3, per_task: int = 5):
    """Labels from the Dawid-Skene model: 5 decent workers (accuracy 0.7), 3 adversarial
    workers who answer ``(t + 1) % k`` with probability 0.8, 2 uniform spammers. Each task gets
    ``per_task`` distinct random workers. Returns (rows, truth dict, worker kinds)."""
    rng = np.random.default_rng(seed)
    kinds = ["good"] * 5 + ["adversarial"] * 3 + ["spammer"] * 2
    conf = []
    for kind in kinds:
        if kind == "good":
            m = np.full((k, k), 0.3 / (k - 1))
            np.fill_diagonal(m, 0.7)
        elif kind == "adversarial":
            m = np.full((k, k), 0.2 / (k - 1))
            for t in range(k):
                m[t, (t + 1) % k] = 0.8
        else:
            m = np.full((k, k), 1.0 / k)
        conf.append(m)
    truth = rng.integers(0, k, n_tasks)
    rows = []
    for j in range(n_tasks):
        for w in rng.choice(len(kinds), per_task, replace=False):
            rows.append((f"t{j}", f"w{w}", int(rng.choice(k, p=conf[w][truth[j]]))))
    return rows, {f"t{j}": int(truth[j]) for j in range(n_tasks)}, kinds


def glad_data(seed: int = 3, n_tasks: int = 300, n_workers: int = 12, per_task: int = 7):
    """Binary labels from the GLAD model: abilities in [0.5, 3] for workers 0..9, -2 for
    workers 10 and 11 (adversarial); half the tasks easy (beta = 3), half hard (beta = 0.25)."""
    rng = np.random.default_rng(seed)
    alpha = np.concatenate([np.linspace(0.5, 3.0, n_workers - 2), [-2.0, -2.0]])
    beta = np.where(np.arange(n_tasks) % 2 == 0, 3.0, 0.25)
    truth = rng.integers(0, 2, n_tasks)
    rows = []
    for j in range(n_tasks):
        for w in rng.choice(n_workers, per_task, replace=False):
            right = rng.random() < 1.0 / (1.0 + np.exp(-alpha[w] * beta[j]))
            rows.append((f"t{j}", f"w{w}", int(truth[j] if right else 1 - truth[j])))
    return rows, {f"t{j}": int(truth[j]) for j in range(n_tasks)}, alpha, beta


def top_two_data(seed: int = 5, n_tasks: int = 300, k: int = 4, n_workers: int = 30):
    """Labels from the top-two model (Jeong & Chung 2023): each task has first ``g``, second
    ``h = (g + 1) % k`` and ``p`` in {0.55, 0.95}; worker reliability q in [0.5, 0.95]; each task
    labelled by 15 workers."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.5, 0.95, n_workers)
    g = rng.integers(0, k, n_tasks)
    h = (g + 1) % k
    p = np.where(np.arange(n_tasks) % 2 == 0, 0.95, 0.55)
    rows = []
    for j in range(n_tasks):
        for w in rng.choice(n_workers, 15, replace=False):
            probs = np.full(k, (1 - q[w]) / k)
            probs[g[j]] += q[w] * p[j]
            probs[h[j]] += q[w] * (1 - p[j])
            rows.append((f"t{j}", f"w{w}", int(rng.choice(k, p=probs))))
    return rows, g, h, p
