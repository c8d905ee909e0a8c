import math

import numpy as np
import pytest

from deliberation.consensus.semantic import (
    cluster_answers,
    cosine_similarity_matrix,
    normalise_text,
    semantic_entropy,
    tfidf_matrix,
)


def test_normalise_text():
    assert normalise_text("  The  Eiffel-Tower!! ") == "eiffel tower"
    assert normalise_text("An apple, a day") == "apple day"
    assert normalise_text("\uff30\uff21\uff32\uff29\uff33") == "paris"  # NFKC full-width letters
    assert normalise_text("Straße") == normalise_text("STRASSE")  # casefold, not lower
    assert normalise_text("“Quoted” — text") == "quoted text"


def test_tfidf_matches_hand_computation_for_words():
    texts = ["red apple", "green apple", "red red"]
    m = tfidf_matrix(texts, analyzer="word")
    # vocabulary in first-appearance order: red, apple, green
    n = 3
    idf = {
        t: math.log((1 + n) / (1 + df)) + 1 for t, df in {"red": 2, "apple": 2, "green": 1}.items()
    }
    expected = np.array(
        [
            [idf["red"], idf["apple"], 0.0],
            [0.0, idf["apple"], idf["green"]],
            [2 * idf["red"], 0.0, 0.0],
        ]
    )
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(m, expected)


def test_tfidf_char_ngrams_stay_inside_words_and_empty_text_is_zero():
    m = tfidf_matrix(["ab", ""], analyzer="char", ngram_range=(2, 2))
    # " ab " has the 2-grams " a", "ab", "b " and nothing spans a word boundary.
    assert m.shape == (2, 3)
    assert np.count_nonzero(m[0]) == 3 and not m[1].any()


def test_cosine_similarity():
    s = cosine_similarity_matrix(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
    assert s[0, 1] == pytest.approx(1 / math.sqrt(2))
    assert s[0, 0] == pytest.approx(1.0)
    assert s[2, 0] == 0.0


ANSWERS = ["Paris", "paris.", "The city of Paris", "Paris, France", "London", "Lyon", "london!"]


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("greedy", [0, 0, 0, 0, 1, 2, 1]),
        ("single", [0, 0, 0, 0, 1, 2, 1]),
        # "city of paris" and "paris france" are each close to "paris" but not to each other.
        ("average", [0, 0, 1, 0, 2, 3, 2]),
        ("complete", [0, 0, 1, 0, 2, 3, 2]),
    ],
)
def test_clusters_by_meaning_proxy(method, expected):
    assert cluster_answers(ANSWERS, method=method) == expected


def test_threshold_controls_merging():
    assert cluster_answers(ANSWERS, threshold=1.0) == [0, 0, 1, 2, 3, 4, 3]  # exact only
    assert cluster_answers(ANSWERS, threshold=0.0) == [0] * len(ANSWERS)


def test_greedy_compares_with_the_first_member_only():
    # b is similar to a and to c, but c is not similar to a: greedy puts c in its own cluster,
    # single linkage chains all three together.
    vectors = {"a": [1.0, 0.0], "b": [1.0, 1.0], "c": [0.0, 1.0]}

    def embed(texts):
        return np.array([vectors[t] for t in texts])

    assert cluster_answers(["a", "b", "c"], threshold=0.7, embed=embed) == [0, 0, 1]
    assert cluster_answers(["a", "b", "c"], threshold=0.7, embed=embed, method="single") == [
        0,
        0,
        0,
    ]


def test_embed_is_pluggable_and_gets_raw_text():
    seen = []

    def embed(texts):
        seen.extend(texts)
        # "yes"-like answers point one way, everything else the other way.
        return np.array(
            [[1.0, 0.0] if t.lower().startswith(("yes", "sure")) else [0, 1] for t in texts]
        )

    labels = cluster_answers(["Yes.", "yes", "Sure!", "No"], embed=embed)
    assert labels == [0, 0, 0, 1]
    assert seen == ["Yes.", "Sure!", "No"]  # one call per normalised group, raw first spelling


def test_semantic_entropy_counts_clusters():
    r = semantic_entropy(ANSWERS)
    assert r.clusters == ((0, 1, 2, 3), (4, 6), (5,))
    p = np.array([4, 2, 1]) / 7
    assert r.probabilities == pytest.approx(tuple(p))
    assert r.entropy == pytest.approx(float(-(p * np.log2(p)).sum()))
    assert r.normalised == pytest.approx(float(-(p * np.log(p)).sum() / math.log(7)))


def test_semantic_entropy_is_zero_for_paraphrases_and_max_for_distinct():
    same = semantic_entropy(["Paris", "paris!", "The Paris"])
    assert same.entropy == 0.0 and same.normalised == 0.0
    distinct = semantic_entropy(["Paris", "London", "Berlin", "Madrid"])
    assert distinct.entropy == pytest.approx(2.0)
    assert distinct.normalised == pytest.approx(1.0)


def test_semantic_entropy_weights_and_missing():
    r = semantic_entropy(
        ["Paris", None, "London", "paris"], weights=[0.2, 0.9, 0.6, 0.2], base=math.e
    )
    assert r.labels == (0, None, 1, 0)
    assert r.probabilities == pytest.approx((0.4, 0.6))
    assert r.entropy == pytest.approx(-(0.4 * math.log(0.4) + 0.6 * math.log(0.6)))


def test_semantic_entropy_empty():
    r = semantic_entropy([])
    assert r.entropy == 0.0 and r.clusters == () and r.labels == ()
