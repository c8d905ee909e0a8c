import numpy as np
import pytest

from deliberation.consensus.mutual import (
    consensus_degree,
    largest_disagreement,
    mutual_consensus,
    orness,
    owa,
    rim_quantifier_weights,
)


def test_consensus_degree_worked_example():
    # Pairwise distances of (0.2, 0.4, 0.9) on [0, 1]: 0.2, 0.7, 0.5 -> mean 0.4667.
    assert consensus_degree([0.2, 0.4, 0.9], value_range=(0, 1)) == pytest.approx(1 - 1.4 / 3)
    # Likert 1..7: values (2, 3, 3, 6): distances 1,1,4,0,3,3 -> mean 2, width 6.
    assert consensus_degree([2, 3, 3, 6], value_range=(1, 7)) == pytest.approx(1 - 2 / 6)


def test_mutual_consensus_is_driven_by_the_largest_disagreement():
    close = [0.50, 0.51, 0.49, 0.50, 0.52, 0.48, 0.50, 0.51, 0.49]
    with_outlier = [*close, 0.95]
    # The average barely moves, the mutual consensus drops: non-compensatory.
    assert consensus_degree(with_outlier, (0, 1)) > 0.89
    assert mutual_consensus(with_outlier, (0, 1)) == pytest.approx(1 - (0.95 - 0.48))
    assert mutual_consensus(close, (0, 1)) == pytest.approx(1 - 0.04)


def test_mutual_never_exceeds_average_consensus():
    rng = np.random.default_rng(7)
    for _ in range(50):
        x = rng.random(rng.integers(2, 12))
        assert mutual_consensus(x, (0, 1)) <= consensus_degree(x, (0, 1)) + 1e-12


def test_degenerate_and_invalid_inputs():
    assert consensus_degree([3.0]) == 1.0
    assert mutual_consensus([2, 2, 2]) == 1.0
    assert mutual_consensus([1, 3]) == 0.0  # observed range: any disagreement is maximal
    with pytest.raises(ValueError, match="outside"):
        consensus_degree([0, 2], value_range=(0, 1))
    with pytest.raises(ValueError, match="finite"):
        mutual_consensus([0.1, float("nan")])


def test_largest_disagreement():
    assert largest_disagreement([3, 9, 1, 5]) == (1, 2, 8.0)


def test_owa_worked_example():
    # The standard illustration of Yager's OWA: W = (.4, .3, .2, .1), values (.7, 1, .2, .6)
    # reordered to (1, .7, .6, .2): .4 + .21 + .12 + .02 = .75.
    assert owa([0.7, 1.0, 0.2, 0.6], [0.4, 0.3, 0.2, 0.1]) == pytest.approx(0.75)


def test_owa_special_cases():
    x = [0.3, 0.9, 0.1, 0.5]
    assert owa(x, [1, 0, 0, 0]) == 0.9
    assert owa(x, [0, 0, 0, 1]) == 0.1
    assert owa(x, [0.25] * 4) == pytest.approx(np.mean(x))
    with pytest.raises(ValueError, match="sum to 1"):
        owa(x, [0.5, 0.5, 0.5, 0.0])


def test_rim_quantifier_weights():
    np.testing.assert_allclose(rim_quantifier_weights(4, 1.0), [0.25] * 4)
    # Q(r) = r^2, n = 4: w_i = (i^2 - (i-1)^2) / 16 = (1, 3, 5, 7) / 16
    np.testing.assert_allclose(rim_quantifier_weights(4, 2.0), np.array([1, 3, 5, 7]) / 16)
    w = rim_quantifier_weights(5, 0.5)
    assert w.sum() == pytest.approx(1.0)
    assert orness(w) > 0.5 > orness(rim_quantifier_weights(5, 2.0))


def test_orness():
    assert orness([1, 0, 0]) == 1.0
    assert orness([0, 0, 1]) == 0.0
    assert orness([1 / 3] * 3) == pytest.approx(0.5)
    assert orness([0.4, 0.3, 0.2, 0.1]) == pytest.approx((3 * 0.4 + 2 * 0.3 + 0.2) / 3)
