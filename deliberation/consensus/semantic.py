"""Semantic entropy of free-text answers (meaning judged by a model), and a lexical stand-in.

Kuhn, Gal & Farquhar 2023 (ICLR, "Semantic Uncertainty") and Farquhar et al. 2024 (Nature 630,
"Detecting hallucinations in large language models using semantic entropy") cluster answers into
meaning classes with **bidirectional entailment** decided by a model, and take the entropy over
the classes. Two families of functions live here:

* **Semantic** (meaning needs a judge): :func:`semantic_ids` and
  :func:`discrete_semantic_entropy` take an ``implication(question, text1, text2)`` callable that
  says whether ``text1`` entails ``text2`` (the authors' 3-way labels, or a bool) and cluster
  exactly as the authors' code does: ``jlko/semantic_uncertainty``,
  ``semantic_uncertainty/uncertainty/uncertainty_measures/semantic_entropy.py``,
  ``get_semantic_ids`` and ``cluster_assignment_entropy``. The callable is where a model comes
  in (``deliberation.agents.equivalence``); this module stays pure.
* **Lexical** (no model): :func:`cluster_answers` and :func:`lexical_cluster_entropy` group
  answers by normalised text and TF-IDF (or embedding) cosine similarity. That is *lexical
  similarity*, not meaning: "guilty" and "not guilty" share most of their characters. A
  negation guard (:func:`negation_polarity`) keeps answers of opposite polarity apart, so that
  pair is never merged, but the measure must be labelled "lexical clusters" wherever it is
  shown, never "semantic entropy".
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


# Words that negate what follows, after :func:`normalise_text` ("isn't" becomes "isn t": the
# "t" counts when the word before it ends in "n").
NEGATIONS = frozenset(
    {"not", "no", "never", "neither", "nor", "none", "nobody", "nothing", "nowhere", "cannot"}
)


def _negating(words: list[str]) -> set[int]:
    return {
        i
        for i, w in enumerate(words)
        if w in NEGATIONS or (w == "t" and i > 0 and words[i - 1].endswith("n"))
    }


def negation_polarity(text: str) -> int:
    """1 when ``text`` contains an odd number of negating words (:data:`NEGATIONS`, and the
    "n't" of contractions), else 0: "guilty" -> 0, "not guilty" -> 1, "isn't untrue" -> 1.

    A small lexical rule, not an understanding of negation ("innocent" is 0; "not not guilty"
    is 0). It keeps the lexical clusters from merging an answer with its negation, and it is the
    negation rule of the simulated judge of meaning."""
    return len(_negating(normalise_text(text).split())) % 2


def content_words(text: str) -> frozenset[str]:
    """The words of normalised ``text`` other than its negating words."""
    words = normalise_text(text).split()
    negating = _negating(words)
    return frozenset(w for i, w in enumerate(words) if i not in negating)


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
    """Lexical cluster label (0, 1, ... in order of first appearance) of each answer.

    Answers with equal :func:`normalise_text` always share a cluster. Distinct normalised texts are
    compared by cosine similarity of TF-IDF vectors (:func:`tfidf_matrix`) or, when ``embed`` is
    given, of ``embed(texts)`` (one row per text; it receives the first raw answer of each
    normalised group). Two texts of opposite :func:`negation_polarity` ("guilty", "not guilty")
    have similarity 0 whatever their vectors, so they are never merged (the negation guard).
    ``method="greedy"`` compares each text with each cluster's first member and joins the first
    that matches (Kuhn et al. 2023, Algorithm 1, with similarity in place of entailment);
    ``"single"``, ``"average"``, ``"complete"`` are agglomerative linkages (SciPy) cut at cosine
    distance 1 - threshold. This is lexical similarity, not meaning: see the module docstring.
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
    polarity = np.array([negation_polarity(g) for g in groups])
    sim[polarity[:, None] != polarity[None, :]] = 0.0
    np.fill_diagonal(sim, 1.0)
    if method == "greedy":
        group_labels = _greedy(sim, threshold)
    else:
        group_labels = _hierarchical(sim, threshold, method)
    return [group_labels[group_of[t]] for t in norm]


@dataclass(frozen=True)
class ClusterEntropy:
    """``labels``: cluster of each answer (``None`` for a missing answer); ``clusters``: indices of
    the answers in each cluster; ``probabilities``: p(C) per cluster; ``entropy``: -sum p log p in
    ``base``; ``normalised``: entropy / log(number of answers counted), 0.0 for fewer than two.
    ``kind`` says what the clusters are: ``"semantic"`` (meaning, judged by bidirectional
    entailment) or ``"lexical"`` (similar wording; not meaning)."""

    labels: tuple[int | None, ...]
    clusters: tuple[tuple[int, ...], ...]
    probabilities: tuple[float, ...]
    entropy: float
    normalised: float
    kind: Literal["semantic", "lexical"] = "lexical"


def _cluster_entropy(
    n_answers: int,
    present: list[int],
    labels: list[int],
    weights: Sequence[float] | None,
    base: float,
    kind: Literal["semantic", "lexical"],
) -> ClusterEntropy:
    n_clusters = max(labels, default=-1) + 1
    w = np.ones(len(present)) if weights is None else np.asarray(weights, float)[present]
    if (w < 0).any():
        raise ValueError("weights must be non-negative")
    mass = np.bincount(np.asarray(labels, dtype=int), weights=w, minlength=n_clusters)
    total = mass.sum()
    probs = mass / total if total > 0 else np.zeros(n_clusters)
    nz = probs[probs > 0]
    h = float(max(0.0, -(nz * np.log(nz)).sum()))
    all_labels: list[int | None] = [None] * n_answers
    for i, lab in zip(present, labels, strict=True):
        all_labels[i] = lab
    clusters = tuple(
        tuple(i for i, lab in enumerate(all_labels) if lab == c) for c in range(n_clusters)
    )
    n = len(present)
    return ClusterEntropy(
        labels=tuple(all_labels),
        clusters=clusters,
        probabilities=tuple(float(p) for p in probs),
        entropy=h / math.log(base),
        normalised=h / math.log(n) if n > 1 else 0.0,
        kind=kind,
    )


def lexical_cluster_entropy(
    answers: Sequence[str | None],
    weights: Sequence[float] | None = None,
    base: float = 2,
    threshold: float = 0.45,
    method: Method = "greedy",
    embed: Callable[[list[str]], np.ndarray] | None = None,
    analyzer: Analyzer = "both",
    ngram_range: tuple[int, int] = (2, 4),
) -> ClusterEntropy:
    """Entropy -sum_C p(C) log p(C) over **lexical** clusters (:func:`cluster_answers`).

    The formula of semantic entropy applied to clusters of similar wording: a model-free
    stand-in, to be shown as "lexical clusters", never as semantic entropy. Without ``weights``
    p(C) = |C| / N; with ``weights`` p(C) = sum_{i in C} w_i / sum_i w_i. ``None`` answers are
    skipped.
    """
    if weights is not None and len(weights) != len(answers):
        raise ValueError("weights must pair up with answers")
    present = [i for i, a in enumerate(answers) if a is not None]
    labels = cluster_answers(
        [answers[i] for i in present], threshold, method, embed, analyzer, ngram_range
    )
    return _cluster_entropy(len(answers), present, labels, weights, base, "lexical")


# --- semantic entropy: bidirectional entailment, as the authors' code ---------------------------
# The authors' 3-way labels (DeBERTa-MNLI's class indices; their LLM judges return the same).
CONTRADICTION, NEUTRAL, ENTAILMENT = 0, 1, 2
LABEL_NAMES = {CONTRADICTION: "contradiction", NEUTRAL: "neutral", ENTAILMENT: "entailment"}

# implication(question, text1, text2): does text1 entail text2, in the context of question?
Implication = Callable[[str, str, str], "int | bool"]


def parse_entailment_label(response: str) -> int:
    """A judge's reply read exactly as ``EntailmentLLM.check_implication`` reads it: the first
    30 characters, lower-cased; "entailment" in them -> 2, else "neutral" -> 1, else
    "contradiction" -> 0, else 1 (the authors log "MANUAL NEUTRAL!"). The checks run in that
    order, so "not entailment" reads as entailment, as in the authors' code."""
    head = response.lower()[:30]
    if "entailment" in head:
        return ENTAILMENT
    if "neutral" in head:
        return NEUTRAL
    if "contradiction" in head:
        return CONTRADICTION
    return NEUTRAL


def _label(value: int | bool) -> int:
    # bool first: True == 1 would otherwise read as NEUTRAL.
    if isinstance(value, bool):
        return ENTAILMENT if value else CONTRADICTION
    if value not in (CONTRADICTION, NEUTRAL, ENTAILMENT):
        raise ValueError(f"an implication label is 0, 1 or 2 (or a bool), not {value!r}")
    return int(value)


def bidirectional_equivalent(forward: int | bool, backward: int | bool, strict: bool) -> bool:
    """The authors' ``are_equivalent`` from the two implication labels (text1 -> text2 and
    text2 -> text1). Strict: both are entailment. Not strict: neither is a contradiction and
    they are not both neutral (one entailment and one neutral is enough). A bool judge means
    entailment (True) or contradiction (False), so then strict and non-strict agree."""
    pair = [_label(forward), _label(backward)]
    if strict:
        return pair == [ENTAILMENT, ENTAILMENT]
    return CONTRADICTION not in pair and pair != [NEUTRAL, NEUTRAL]


def semantic_ids(
    answers: Sequence[str],
    implication: Implication,
    question: str = "",
    strict_entailment: bool = True,
) -> list[int]:
    """Meaning cluster of each answer, exactly as the authors' ``get_semantic_ids``.

    For i = 0, 1, ...: an answer without a cluster yet gets a new id (0, 1, ... in order), and
    then **every** later answer j > i equivalent to it (:func:`bidirectional_equivalent` of
    ``implication(question, a_i, a_j)`` and ``implication(question, a_j, a_i)``, that order) is
    given that id, *including* answers that already had an earlier id: a later cluster can take
    a member from an earlier one. So the result depends on the order of the answers, and it is
    not quite the paper's Algorithm 1 (join the first cluster whose first member is equivalent);
    it is the code the published numbers came from. Identical strings are judged like any other
    pair (the authors never shortcut them); the caller may memoise ``implication``.

    ``strict_entailment``: True (both directions must be entailment) is the default of the
    authors' experiments (``--strict_entailment`` defaults to True in ``utils.get_parser``);
    their function's own default is False.
    """
    ids = [-1] * len(answers)
    next_id = 0
    for i, first in enumerate(answers):
        if ids[i] != -1:
            continue
        ids[i] = next_id
        for j in range(i + 1, len(answers)):
            forward = implication(question, first, answers[j])
            backward = implication(question, answers[j], first)
            if bidirectional_equivalent(forward, backward, strict_entailment):
                ids[j] = next_id
        next_id += 1
    return ids


def cluster_assignment_entropy(ids: Sequence[int], base: float = math.e) -> float:
    """The authors' ``cluster_assignment_entropy``: -sum_C p(C) log p(C) with p(C) = |C| / N,
    the plug-in estimate from how often each cluster was assigned; the "discrete semantic
    entropy" of Farquhar et al. 2024. The authors use the natural log (nats); pass ``base=2``
    for bits. 0.0 for no answers."""
    if not ids:
        return 0.0
    counts = np.bincount(np.asarray(ids, dtype=int))
    p = counts[counts > 0] / len(ids)
    return float(max(0.0, -(p * np.log(p)).sum())) / math.log(base)


def discrete_semantic_entropy(
    answers: Sequence[str | None],
    implication: Implication,
    question: str = "",
    strict_entailment: bool = True,
    base: float = 2,
) -> ClusterEntropy:
    """Discrete semantic entropy (Farquhar et al. 2024) of ``answers``: :func:`semantic_ids`
    with the given judge, then :func:`cluster_assignment_entropy`.

    Deviations from the authors' code, all in presentation: the entropy is in ``base`` (default
    2, bits; theirs is nats, ``base=math.e``); ``normalised`` = H / log N is added; ``None``
    answers (missing) are skipped before clustering. A 2-2 split of two answers that contradict
    each other is 1 bit.
    """
    present = [i for i, a in enumerate(answers) if a is not None]
    texts = [answers[i] for i in present]
    labels = semantic_ids(texts, implication, question, strict_entailment)  # type: ignore[arg-type]
    return _cluster_entropy(len(answers), present, labels, None, base, "semantic")
