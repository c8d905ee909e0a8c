import math

import pytest

from deliberation.consensus.cost import Price, cost_of_pass, cost_per_correct, session_cost

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
