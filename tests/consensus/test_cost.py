import math

import pytest

from deliberation.consensus.cost import (
    Price,
    cost_of_pass,
    cost_per_correct,
    frontier_cost_of_pass,
    problem_cost_of_pass,
    session_cost,
    task_cost_of_pass,
)

PRICES = {"big": Price(2.5, 10.0), "small": Price(0.15, 0.6)}


def test_session_cost_sums_tokens_and_money_per_model():
    calls = [
        {"model": "big", "prompt_tokens": 1000, "completion_tokens": 200},
        {"model": "small", "prompt_tokens": 2000, "completion_tokens": 500},
        {"model": "big", "prompt_tokens": 400, "completion_tokens": 100},
        {"model": "other", "prompt_tokens": 10, "completion_tokens": 5, "cost": 0.01},
    ]
    s = session_cost(calls, PRICES)
    big = (1400 * 2.5 + 300 * 10.0) / 1e6
    small = (2000 * 0.15 + 500 * 0.6) / 1e6
    assert s.calls == 4
    assert s.prompt_tokens == 3410 and s.completion_tokens == 805 and s.total_tokens == 4215
    assert s.cost == pytest.approx(big + small + 0.01)
    assert s.by_model["big"].cost == pytest.approx(big)
    assert s.by_model["big"].calls == 2


def test_unpriced_call():
    calls = [{"model": "mystery", "prompt_tokens": 5, "completion_tokens": 1}]
    with pytest.raises(ValueError, match="no price"):
        session_cost(calls, PRICES)
    s = session_cost(calls, PRICES, strict=False)
    assert s.total_tokens == 6 and math.isnan(s.cost)


def test_empty_session():
    s = session_cost([])
    assert s.calls == 0 and s.cost == 0.0 and s.by_model == {}


def test_cost_of_pass():
    assert cost_of_pass(3.0, 4) == 0.75
    assert cost_of_pass(3.0, 0) == math.inf
    assert cost_per_correct([(1.0, True), (2.0, False), (0.5, True)]) == pytest.approx(1.75)
    assert cost_per_correct([(1.0, False)]) == math.inf
    with pytest.raises(ValueError):
        cost_of_pass(-1.0, 1)


# --- Cost-of-Pass over a task (Erol et al. 2025; the authors' FrontierCostofPass) -------------
def test_problem_cost_of_pass_is_mean_cost_over_success_rate():
    # Two attempts at one problem: C = (0.2 + 0.4) / 2 = 0.3, R = (1 + 0) / 2 = 0.5, v = 0.6.
    assert problem_cost_of_pass([0.2, 0.4], [True, False]) == pytest.approx(0.6)
    assert problem_cost_of_pass([0.2], [False]) == math.inf  # R = 0
    with pytest.raises(ValueError):
        problem_cost_of_pass([0.2], [True, False])
    with pytest.raises(ValueError):
        problem_cost_of_pass([], [])


def test_a_task_is_the_mean_of_per_problem_ratios_not_a_ratio_of_means():
    """Worked by hand. Model A makes two attempts per problem, B one.

    A: p1 costs 0.2, 0.4, right once -> 0.3 / 0.5 = 0.6; p2 costs 0.1, 0.1, right twice -> 0.1;
       p3 costs 0.3, 0.5, right once -> 0.4 / 0.5 = 0.8. V(A) = (0.6 + 0.1 + 0.8) / 3 = 0.5,
       while the pooled total cost / successes = 1.6 / 4 = 0.4.
    B: 0.05 each, right on p1 and p3 -> 0.05, inf, 0.05: V(B) = inf (pooled 0.15 / 2 = 0.075).
    C: never right -> inf everywhere.
    Frontier {A, B, C}: per problem min(0.6, 0.05, inf) = 0.05 (B), min(0.1, inf, inf) = 0.1 (A),
       0.05 (B): V = 0.2 / 3. Without A, p2 is unsolved and the frontier is inf; with the
       paper's human expert at 1.0 per problem it is (0.05 + 1.0 + 0.05) / 3.
    """
    a = [
        problem_cost_of_pass([0.2, 0.4], [1, 0]),
        problem_cost_of_pass([0.1, 0.1], [1, 1]),
        problem_cost_of_pass([0.3, 0.5], [0, 1]),
    ]
    b = [problem_cost_of_pass([0.05], [ok]) for ok in (1, 0, 1)]
    c = [problem_cost_of_pass([0.01], [0])] * 3
    assert a == pytest.approx([0.6, 0.1, 0.8])
    assert task_cost_of_pass(a) == pytest.approx(0.5)
    assert cost_per_correct(
        [(0.2, 1), (0.4, 0), (0.1, 1), (0.1, 1), (0.3, 0), (0.5, 1)]
    ) == pytest.approx(0.4)
    assert task_cost_of_pass(b) == math.inf and task_cost_of_pass(c) == math.inf
    f = frontier_cost_of_pass({"A": a, "B": b, "C": c})
    assert f.value == pytest.approx(0.2 / 3)
    assert f.per_problem == pytest.approx([0.05, 0.1, 0.05])
    assert f.best == [["B"], ["A"], ["B"]] and f.wins == {"A": 1, "B": 2, "C": 0}
    assert frontier_cost_of_pass({"B": b, "C": c}).value == math.inf
    assert frontier_cost_of_pass({"B": b, "C": c}).best[1] == []
    human = frontier_cost_of_pass({"B": b, "C": c}, baseline=1.0)
    assert human.value == pytest.approx(1.1 / 3)
    with pytest.raises(ValueError):
        frontier_cost_of_pass({"A": a, "B": b[:2]})
    with pytest.raises(ValueError):
        task_cost_of_pass([])


def test_two_priced_models_the_frontier_picks_the_cheaper_per_correct_answer():
    """Worked by hand with per-million-token prices and 1000 prompt + 200 completion tokens per
    attempt: big = (1000 * 2.5 + 200 * 10) / 1e6 = 0.0045, small = (1000 * 0.15 + 200 * 0.6) /
    1e6 = 0.00027 per attempt. Four problems.

    Run 1: big right on all four (v = 0.0045 each), small right on none (inf): V(big) = 0.0045,
    V(small) = inf, the frontier is 0.0045 and big is cheapest on all four.
    Run 2: small right on all four: V(small) = 0.00027 < 0.0045, small wins all four.
    """
    big = PRICES["big"].cost(1000, 200)
    small = PRICES["small"].cost(1000, 200)
    assert big == pytest.approx(0.0045) and small == pytest.approx(0.00027)
    v_big = [problem_cost_of_pass([big], [1]) for _ in range(4)]
    v_small = [problem_cost_of_pass([small], [0]) for _ in range(4)]
    assert task_cost_of_pass(v_big) == pytest.approx(0.0045)
    assert task_cost_of_pass(v_small) == math.inf
    f = frontier_cost_of_pass({"big": v_big, "small": v_small})
    assert f.value == pytest.approx(0.0045) and f.wins == {"big": 4, "small": 0}
    v_small = [problem_cost_of_pass([small], [1]) for _ in range(4)]
    f = frontier_cost_of_pass({"big": v_big, "small": v_small})
    assert f.value == pytest.approx(0.00027) and f.wins == {"big": 0, "small": 4}
