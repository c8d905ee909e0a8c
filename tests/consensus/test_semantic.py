import math

import numpy as np
import pytest

from deliberation.consensus.semantic import (
    CONTRADICTION,
    ENTAILMENT,
    NEUTRAL,
    bidirectional_equivalent,
    cluster_answers,
    cluster_assignment_entropy,
    content_words,
    cosine_similarity_matrix,
    discrete_semantic_entropy,
    lexical_cluster_entropy,
    negation_polarity,
    normalise_text,
    parse_entailment_label,
    semantic_ids,
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
def test_lexical_clusters(method, expected):
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


def test_lexical_cluster_entropy_counts_clusters():
    r = lexical_cluster_entropy(ANSWERS)
    assert r.clusters == ((0, 1, 2, 3), (4, 6), (5,))
    p = np.array([4, 2, 1]) / 7
    assert r.probabilities == pytest.approx(tuple(p))
    assert r.entropy == pytest.approx(float(-(p * np.log2(p)).sum()))
    assert r.normalised == pytest.approx(float(-(p * np.log(p)).sum() / math.log(7)))


def test_lexical_cluster_entropy_is_zero_for_respellings_and_max_for_distinct():
    same = lexical_cluster_entropy(["Paris", "paris!", "The Paris"])
    assert same.entropy == 0.0 and same.normalised == 0.0
    distinct = lexical_cluster_entropy(["Paris", "London", "Berlin", "Madrid"])
    assert distinct.entropy == pytest.approx(2.0)
    assert distinct.normalised == pytest.approx(1.0)


def test_lexical_cluster_entropy_weights_and_missing():
    r = lexical_cluster_entropy(
        ["Paris", None, "London", "paris"], weights=[0.2, 0.9, 0.6, 0.2], base=math.e
    )
    assert r.labels == (0, None, 1, 0)
    assert r.probabilities == pytest.approx((0.4, 0.6))
    assert r.entropy == pytest.approx(-(0.4 * math.log(0.4) + 0.6 * math.log(0.6)))


def test_lexical_cluster_entropy_empty():
    r = lexical_cluster_entropy([])
    assert r.entropy == 0.0 and r.clusters == () and r.labels == ()
    assert r.kind == "lexical"


# --- the lexical measure never merges an answer with its negation --------------------------------
GUILTY_SPLIT = ["guilty", "not guilty", "Guilty.", "Not guilty!"]


def test_negation_polarity_and_content_words():
    assert negation_polarity("guilty") == 0
    assert negation_polarity("Not guilty") == 1
    assert negation_polarity("He isn't guilty") == 1  # "isn't" -> "isn t"
    assert negation_polarity("not not guilty") == 0
    assert negation_polarity("a t-shirt") == 0  # a lone "t" counts only after "...n"
    assert content_words("He isn't guilty") == {"he", "isn", "guilty"}


def test_lexical_clusters_keep_guilty_and_not_guilty_apart():
    # TF-IDF alone puts them together (cosine 0.70 >= 0.45): 0 bits, a false consensus.
    sim = cosine_similarity_matrix(tfidf_matrix(["guilty", "not guilty"]))
    assert sim[0, 1] >= 0.45
    r = lexical_cluster_entropy(GUILTY_SPLIT)
    assert r.kind == "lexical"
    assert r.labels == (0, 1, 0, 1)
    assert r.entropy == pytest.approx(1.0)
    assert cluster_answers(["the defendant is guilty", "the defendant is not guilty"]) == [0, 1]


# --- semantic ids: the authors' get_semantic_ids, exactly ----------------------------------------
def table(labels: dict[tuple[str, str], int], default: int = NEUTRAL, calls=None):
    """A judge from a table of (text1, text2) -> label; records its calls."""

    def implication(question, text1, text2):
        if calls is not None:
            calls.append((question, text1, text2))
        if text1 == text2:
            return ENTAILMENT
        return labels.get((text1, text2), default)

    return implication


def both(a: str, b: str, label: int = ENTAILMENT) -> dict[tuple[str, str], int]:
    return {(a, b): label, (b, a): label}


def test_parse_entailment_label_as_the_authors():
    assert parse_entailment_label("Entailment.") == ENTAILMENT
    assert parse_entailment_label("  NEUTRAL") == NEUTRAL
    assert parse_entailment_label("Contradiction: they differ") == CONTRADICTION
    assert parse_entailment_label("I cannot tell") == NEUTRAL  # their "MANUAL NEUTRAL"
    # Their order of checks: "entailment" first, so a negated label still reads as entailment.
    assert parse_entailment_label("not entailment") == ENTAILMENT
    assert parse_entailment_label("neutral, not a contradiction") == NEUTRAL
    # Only the first 30 characters are read.
    assert parse_entailment_label("x" * 30 + "entailment") == NEUTRAL
    assert parse_entailment_label("x" * 20 + "entailment") == ENTAILMENT


def test_bidirectional_equivalence_strict_and_not():
    e, n, c = ENTAILMENT, NEUTRAL, CONTRADICTION
    assert bidirectional_equivalent(e, e, strict=True)
    assert not bidirectional_equivalent(e, n, strict=True)
    assert bidirectional_equivalent(e, n, strict=False)  # one way is enough when not strict
    assert bidirectional_equivalent(n, e, strict=False)
    assert not bidirectional_equivalent(n, n, strict=False)
    assert not bidirectional_equivalent(e, c, strict=False)
    assert not bidirectional_equivalent(c, c, strict=False)
    # A bool judge: True is entailment, False contradiction (True is not read as 1 = neutral).
    assert bidirectional_equivalent(True, True, strict=True)
    assert not bidirectional_equivalent(True, False, strict=False)
    with pytest.raises(ValueError):
        bidirectional_equivalent(3, 2, strict=True)


def test_semantic_ids_strict_and_non_strict():
    answers = ["guilty", "he is guilty", "not guilty"]
    labels = {
        ("he is guilty", "guilty"): ENTAILMENT,  # one way only
        **both("guilty", "not guilty", CONTRADICTION),
        **both("he is guilty", "not guilty", CONTRADICTION),
    }
    assert semantic_ids(answers, table(labels), strict_entailment=True) == [0, 1, 2]
    assert semantic_ids(answers, table(labels), strict_entailment=False) == [0, 0, 1]


def test_semantic_ids_calls_in_the_authors_order():
    calls: list = []
    answers = ["a", "b", "a2", "c"]
    semantic_ids(answers, table(both("a", "a2"), calls=calls), question="Q?")
    # a is a representative: compared with every later answer, both directions; b likewise
    # (a2 is already in a's cluster but b is still compared with it); a2 is skipped; c is last.
    assert [(t1, t2) for _, t1, t2 in calls] == [
        ("a", "b"), ("b", "a"), ("a", "a2"), ("a2", "a"), ("a", "c"), ("c", "a"),
        ("b", "a2"), ("a2", "b"), ("b", "c"), ("c", "b"),
    ]  # fmt: skip
    assert {q for q, _, _ in calls} == {"Q?"}


def test_semantic_ids_a_later_cluster_takes_members_and_order_matters():
    # x ~ z and y ~ z, but x !~ y. The authors' loop compares y (a new representative) with
    # every later answer, including z already in x's cluster, and moves z: [0, 1, 1]. The
    # paper's Algorithm 1 (join the first matching cluster) would give [0, 1, 0].
    labels = {**both("x", "z"), **both("y", "z")}
    assert semantic_ids(["x", "y", "z"], table(labels)) == [0, 1, 1]
    # Another order, another clustering: z first takes both.
    assert semantic_ids(["z", "x", "y"], table(labels)) == [0, 0, 0]
    assert semantic_ids(["x", "z", "y"], table(labels)) == [0, 0, 1]


def test_cluster_assignment_entropy_is_the_authors_in_nats():
    # Their docstring's example: ids [0, 1, 2, 1], p = [1/4, 2/4, 1/4].
    p = np.array([0.25, 0.5, 0.25])
    assert cluster_assignment_entropy([0, 1, 2, 1]) == pytest.approx(float(-(p * np.log(p)).sum()))
    assert cluster_assignment_entropy([0, 1, 2, 1], base=2) == pytest.approx(1.5)
    assert cluster_assignment_entropy([0, 0, 0]) == 0.0
    assert cluster_assignment_entropy([]) == 0.0


def test_discrete_semantic_entropy_of_a_guilty_split_is_one_bit():
    labels = both("guilty", "not guilty", CONTRADICTION)
    r = discrete_semantic_entropy(
        ["guilty", "not guilty", None, "guilty", "not guilty"], table(labels), question="Verdict?"
    )
    assert r.kind == "semantic"
    assert r.labels == (0, 1, None, 0, 1)
    assert r.clusters == ((0, 3), (1, 4))
    assert r.entropy == pytest.approx(1.0)
    assert r.normalised == pytest.approx(math.log(2) / math.log(4))


def test_discrete_semantic_entropy_merges_paraphrases_the_judge_accepts():
    labels = both("Paris", "the capital of France")
    r = discrete_semantic_entropy(["Paris", "the capital of France", "Lyon"], table(labels))
    assert r.labels == (0, 0, 1)
    p = np.array([2, 1]) / 3
    assert r.entropy == pytest.approx(float(-(p * np.log2(p)).sum()))
    assert discrete_semantic_entropy([], table({})).entropy == 0.0
