import numpy as np
import pytest
from scipy.optimize import minimize

from deliberation.consensus.pairwise import bradley_terry, win_matrix


def _neg_log_likelihood(theta, w):
    # log L = sum_ij w_ij (theta_i - log(exp theta_i + exp theta_j)), pi = exp(theta)
    diff = theta[:, None] - theta[None, :]
    return float((w * np.logaddexp(0.0, -diff)).sum())


def _scipy_strengths(w):
    m = w.shape[0]
    res = minimize(_neg_log_likelihood, np.zeros(m), args=(w,), method="BFGS", tol=1e-12)
    pi = np.exp(res.x - res.x.max())
    return pi / pi.sum()


def test_two_options_closed_form():
    # A beats B 3 times out of 4: pi_A / pi_B = 3.
    r = bradley_terry([("A", "B")] * 3 + [("B", "A")])
    assert r.strengths == pytest.approx({"A": 0.75, "B": 0.25})
    assert r.probability("A", "B") == pytest.approx(0.75)
    assert r.ranking == ("A", "B")
    assert r.converged


def test_symmetric_cycle_gives_equal_strengths():
    r = bradley_terry([("A", "B"), ("B", "C"), ("C", "A")])
    assert r.strengths == pytest.approx({"A": 1 / 3, "B": 1 / 3, "C": 1 / 3})


@pytest.mark.parametrize("seed", range(4))
def test_matches_scipy_maximum_likelihood(seed):
    rng = np.random.default_rng(seed)
    m = 6
    true = rng.gamma(2.0, size=m)
    comparisons = []
    for _ in range(300):
        i, j = rng.choice(m, size=2, replace=False)
        win = rng.random() < true[i] / (true[i] + true[j])
        comparisons.append((int(i), int(j)) if win else (int(j), int(i)))
    r = bradley_terry(comparisons, options=list(range(m)))
    assert r.converged
    w, _ = win_matrix(comparisons, options=list(range(m)))
    expected = _scipy_strengths(w)
    got = np.array([r.strengths[k] for k in range(m)])
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert got.sum() == pytest.approx(1.0)


def test_counts_weight_comparisons():
    a = bradley_terry([("A", "B"), ("B", "A")], counts=[3, 1])
    b = bradley_terry([("A", "B")] * 3 + [("B", "A")])
    assert a.strengths == pytest.approx(b.strengths)


def test_missing_mle_raises_unless_pseudocount():
    never_loses = [("A", "B"), ("A", "C"), ("B", "C"), ("C", "B")]
    with pytest.raises(ValueError, match="strongly connected"):
        bradley_terry(never_loses)
    r = bradley_terry(never_loses, pseudocount=0.5)
    assert r.ranking[0] == "A"
    assert r.strengths["B"] == pytest.approx(r.strengths["C"])


def test_max_iter_reports_non_convergence():
    r = bradley_terry([("A", "B")] * 9 + [("B", "A")] + [("B", "C"), ("C", "A")], max_iter=2)
    assert r.iterations == 2 and not r.converged


def test_self_comparison_rejected():
    with pytest.raises(ValueError, match="itself"):
        bradley_terry([("A", "A")])
