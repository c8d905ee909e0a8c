import math

import krippendorff
import numpy as np
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from deliberation.consensus.agreement import (
    count_matrix,
    fleiss_kappa,
    fleiss_kappa_from_labels,
    krippendorff_alpha,
)

# Fleiss (1971) style worked example as reproduced on Wikipedia: 10 items, 14 raters, 5 categories.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
# 12 units, values 1..5, with missing data.
NAN = np.nan
KRIPP_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def test_fleiss_worked_example():
    assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.20993, abs=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_fleiss_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    n_items, n_raters, n_cat = rng.integers(5, 40), rng.integers(2, 9), rng.integers(2, 6)
    # Skew the category probabilities per item so kappa is not always ~0.
    table = np.stack(
        [rng.multinomial(n_raters, rng.dirichlet(np.full(n_cat, 0.5))) for _ in range(n_items)]
    )
    assert fleiss_kappa(table) == pytest.approx(sm_fleiss_kappa(table, method="fleiss"))


def test_fleiss_perfect_and_undefined():
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)
    assert math.isnan(fleiss_kappa([[3, 0], [3, 0]]))


def test_fleiss_rejects_unequal_rater_counts():
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[2, 1], [1, 1]])


def test_fleiss_from_labels_equals_table():
    labels = [["a", "a", "b"], ["b", "b", "b"], ["a", "c", "c"], ["c", "c", "c"]]
    table, cats = count_matrix(labels)
    assert cats == ("a", "b", "c")
    np.testing.assert_array_equal(table, [[2, 1, 0], [0, 3, 0], [1, 0, 2], [0, 0, 3]])
    assert fleiss_kappa_from_labels(labels) == pytest.approx(sm_fleiss_kappa(table))
    # None labels are skipped; the remaining counts must still be equal per item.
    with_missing = [["a", "a", None], ["b", None, "b"]]
    assert count_matrix(with_missing)[0].tolist() == [[2, 0], [0, 2]]


@pytest.mark.parametrize(
    ("level", "expected"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_paper_example(level, expected):
    assert krippendorff_alpha(KRIPP_2011, level) == pytest.approx(expected, abs=5e-4)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", range(5))
def test_krippendorff_matches_reference_with_missing(level, seed):
    rng = np.random.default_rng(100 + seed)
    raters, units = rng.integers(2, 7), rng.integers(5, 40)
    truth = rng.integers(1, 6, size=units)
    noise = rng.integers(-1, 2, size=(raters, units)) * (rng.random((raters, units)) < 0.4)
    data = np.clip(truth + noise, 1, 5).astype(float)
    data[rng.random(data.shape) < 0.25] = np.nan
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(data, level) == pytest.approx(expected, abs=1e-10)


def test_krippendorff_nominal_accepts_labels_and_none():
    labels = [["x", "y", None, "x"], ["x", "y", "y", None], ["x", "z", "y", "x"]]
    codes = {"x": 0.0, "y": 1.0, "z": 2.0, None: np.nan}
    numeric = [[codes[v] for v in row] for row in labels]
    assert krippendorff_alpha(labels) == pytest.approx(krippendorff_alpha(numeric))
    with pytest.raises(ValueError, match="numeric"):
        krippendorff_alpha(labels, "interval")


def test_krippendorff_edge_cases():
    assert krippendorff_alpha([[1, 2, 3], [1, 2, 3]]) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha([[1, 1], [1, 1]]))  # no variation: undefined
    assert math.isnan(krippendorff_alpha([[1, NAN], [NAN, 2]]))  # no pairable unit
    # Systematic disagreement is worse than chance.
    assert krippendorff_alpha([[1, 2, 1, 2], [2, 1, 2, 1]]) < 0
