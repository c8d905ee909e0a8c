"""Semantic entropy of free-text answers: cluster answers by meaning, entropy over clusters.

Kuhn, Gal & Farquhar 2023 (ICLR, "Semantic Uncertainty") and Farquhar et al. 2024 (Nature 630,
"Detecting hallucinations in large language models using semantic entropy") cluster sampled
answers into meaning classes with bidirectional entailment and take the entropy over classes. The
default here is an offline, model-free proxy: answers whose normalised text is equal are the same
class; the remaining classes are merged when their TF-IDF cosine similarity reaches a threshold.
Pass ``embed`` to use an embedding model's cosine similarity instead.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

Analyzer = Literal["char", "word", "both"]
Method = Literal["greedy", "single", "average", "complete"]

_ARTICLES = frozenset({"a", "an", "the"})
_PUNCT = re.compile(rf"[{re.escape(string.punctuation)}\u2018\u2019\u201c\u201d\u2013\u2014]")


def normalise_text(text: str) -> str:
    """Normalise an answer as in SQuAD's answer matching (Rajpurkar et al. 2016): Unicode NFKC,
    casefold, punctuation to spaces, drop the articles a/an/the, collapse whitespace."""
    t = unicodedata.normalize("NFKC", text).casefold()
    t = _PUNCT.sub(" ", t)
    return " ".join(w for w in t.split() if w not in _ARTICLES)


def _features(text: str, analyzer: Analyzer, ngram_range: tuple[int, int]) -> list[str]:
    feats: list[str] = []
    words = text.split()
    if analyzer in ("word", "both"):
        feats.extend(f"w:{w}" for w in words)
    if analyzer in ("char", "both"):
        lo, hi = ngram_range
        for w in words:
            padded = f" {w} "
            for n in range(lo, hi + 1):
                feats.extend(f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1))
    return feats


def tfidf_matrix(
    texts: Sequence[str],
    analyzer: Analyzer = "both",
    ngram_range: tuple[int, int] = (2, 4),
) -> np.ndarray:
    """L2-normalised TF-IDF rows for ``texts`` (Salton & Buckley 1988; smoothed IDF as sklearn).

    Features are words and/or character n-grams inside word boundaries (each word padded with a
    space). tf = raw count, idf_t = ln((1 + N) / (1 + df_t)) + 1, row = tf * idf / ||tf * idf||.
    A text with no features gives a zero row.
    """
    docs = [_features(t, analyzer, ngram_range) for t in texts]
    vocab: dict[str, int] = {}
    for feats in docs:
        for f in feats:
            vocab.setdefault(f, len(vocab))
    tf = np.zeros((len(docs), len(vocab)))
    for i, feats in enumerate(docs):
        if feats:
            np.add.at(tf[i], [vocab[f] for f in feats], 1.0)
    df = (tf > 0).sum(axis=0)
    idf = np.log((1.0 + len(docs)) / (1.0 + df)) + 1.0
    return _unit_rows(tf * idf)


def _unit_rows(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, norms, out=np.zeros_like(m, dtype=float), where=norms > 0)


def cosine_similarity_matrix(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity u.v / (|u| |v|); zero vectors have similarity 0 to everything."""
    u = _unit_rows(np.asarray(vectors, dtype=float))
    return np.clip(u @ u.T, -1.0, 1.0)


def _greedy(sim: np.ndarray, threshold: float) -> list[int]:
    """Kuhn et al. 2023, Algorithm 1: each item joins the first cluster whose first member it
    matches (similarity >= threshold), else starts a new cluster."""
    labels: list[int] = []
    reps: list[int] = []
    for i in range(sim.shape[0]):
        for c, r in enumerate(reps):
            if sim[i, r] >= threshold:
                labels.append(c)
                break
        else:
            labels.append(len(reps))
            reps.append(i)
    return labels


def _hierarchical(sim: np.ndarray, threshold: float, method: str) -> list[int]:
    if sim.shape[0] == 1:
        return [0]
    dist = np.clip(1.0 - sim, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    z = linkage(squareform(dist, checks=False), method=method)
    raw = fcluster(z, t=1.0 - threshold, criterion="distance")
    # Relabel in order of first appearance so the output is deterministic and readable.
    order: dict[int, int] = {}
    return [order.setdefault(int(r), len(order)) for r in raw]


def cluster_answers(
    answers: Sequence[str],
    threshold: float = 0.45,
    method: Method = "greedy",
    embed: Callable[[list[str]], np.ndarray] | None = None,
    analyzer: Analyzer = "both",
    ngram_range: tuple[int, int] = (2, 4),
) -> list[int]:
    """Cluster label (0, 1, ... in order of first appearance) of each answer.

    Answers with equal :func:`normalise_text` always share a cluster. Distinct normalised texts are
    compared by cosine similarity of TF-IDF vectors (:func:`tfidf_matrix`) or, when ``embed`` is
    given, of ``embed(texts)`` (one row per text; it receives the first raw answer of each
    normalised group). ``method="greedy"`` is Kuhn et al.'s sequential algorithm (compare with each
    cluster's first member); ``"single"``, ``"average"``, ``"complete"`` are agglomerative linkages
    (SciPy) cut at cosine distance 1 - threshold.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must be in [0, 1]")
    if method not in ("greedy", "single", "average", "complete"):
        raise ValueError(f"unknown method {method!r}")
    if not answers:
        return []
    norm = [normalise_text(a) for a in answers]
    group_of: dict[str, int] = {}
    first_raw: list[str] = []
    for raw, t in zip(answers, norm, strict=True):
        if t not in group_of:
            group_of[t] = len(group_of)
            first_raw.append(raw)
    groups = list(group_of)
    if embed is not None:
        vectors = np.asarray(embed(list(first_raw)), dtype=float)
        if vectors.ndim != 2 or vectors.shape[0] != len(groups):
            raise ValueError("embed must return one row per text")
    else:
        vectors = tfidf_matrix(groups, analyzer, ngram_range)
    sim = cosine_similarity_matrix(vectors)
    np.fill_diagonal(sim, 1.0)
    if method == "greedy":
        group_labels = _greedy(sim, threshold)
    else:
        group_labels = _hierarchical(sim, threshold, method)
    return [group_labels[group_of[t]] for t in norm]


@dataclass(frozen=True)
class SemanticEntropyResult:
    """``labels``: cluster of each answer (``None`` for a missing answer); ``clusters``: indices of
    the answers in each cluster; ``probabilities``: p(C) per cluster; ``entropy``: -sum p log p in
    ``base``; ``normalised``: entropy / log(number of answers counted), 0.0 for fewer than two."""

    labels: tuple[int | None, ...]
    clusters: tuple[tuple[int, ...], ...]
    probabilities: tuple[float, ...]
    entropy: float
    normalised: float


def semantic_entropy(
    answers: Sequence[str | None],
    weights: Sequence[float] | None = None,
    base: float = 2,
    threshold: float = 0.45,
    method: Method = "greedy",
    embed: Callable[[list[str]], np.ndarray] | None = None,
    analyzer: Analyzer = "both",
    ngram_range: tuple[int, int] = (2, 4),
) -> SemanticEntropyResult:
    """Semantic entropy SE = -sum_C p(C) log p(C) over meaning clusters C (Kuhn et al. 2023).

    Without ``weights`` p(C) = |C| / N, the "discrete semantic entropy" of Farquhar et al. 2024;
    with ``weights`` (e.g. sequence probabilities, Kuhn et al.) p(C) = sum_{i in C} w_i / sum_i w_i.
    ``None`` answers are skipped. Clustering options are those of :func:`cluster_answers`.
    """
    if weights is not None and len(weights) != len(answers):
        raise ValueError("weights must pair up with answers")
    present = [i for i, a in enumerate(answers) if a is not None]
    labels = cluster_answers(
        [answers[i] for i in present], threshold, method, embed, analyzer, ngram_range
    )
    n_clusters = max(labels, default=-1) + 1
    w = np.ones(len(present)) if weights is None else np.asarray(weights, float)[present]
    if (w < 0).any():
        raise ValueError("weights must be non-negative")
    mass = np.bincount(np.asarray(labels, dtype=int), weights=w, minlength=n_clusters)
    total = mass.sum()
    probs = mass / total if total > 0 else np.zeros(n_clusters)
    nz = probs[probs > 0]
    h = float(max(0.0, -(nz * np.log(nz)).sum()))
    all_labels: list[int | None] = [None] * len(answers)
    for i, lab in zip(present, labels, strict=True):
        all_labels[i] = lab
    clusters = tuple(
        tuple(i for i, lab in enumerate(all_labels) if lab == c) for c in range(n_clusters)
    )
    n = len(present)
    return SemanticEntropyResult(
        labels=tuple(all_labels),
        clusters=clusters,
        probabilities=tuple(float(p) for p in probs),
        entropy=h / math.log(base),
        normalised=h / math.log(n) if n > 1 else 0.0,
    )
