"""Accuracy on real crowdsourcing datasets with gold labels (tests/data/crowd, copied from
../shared/data/crowd): every method gets at least what majority vote gets on rte (textual
entailment) and ms (music genre), except maximum-likelihood Dawid-Skene on ms (below)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deliberation.consensus.crowd import METHODS, majority_vote, read_gold, read_labels

DATA = Path(__file__).resolve().parents[2] / "data" / "crowd"


@pytest.fixture(scope="module", params=["rte", "ms"])
def dataset(request):
    name = request.param
    return name, read_labels(DATA / f"{name}.labels.csv"), read_gold(DATA / f"{name}.gold.csv")


@pytest.mark.parametrize("method", [m for m in METHODS if m != "mv"])
def test_at_least_majority_vote(dataset, method):
    name, matrix, gold = dataset
    baseline = majority_vote(matrix).accuracy(gold)
    result = METHODS[method](matrix)
    if (name, method) == ("ms", "ds"):
        # Full confusion matrices (10 x 10 per worker) fitted by maximum likelihood, the default
        # since the MAP prior was found to be tuned on these files: 538 of 700 tasks (.7686,
        # the same as Crowd-Kit's DawidSkene) against majority vote's 553 (.7900). The MAP
        # variant (prior_correct=2) scored .7914. Recorded, not hidden: see bench/README.md.
        assert result.accuracy(gold) == pytest.approx(538 / 700)
        assert result.accuracy(gold) < baseline
        return
    assert result.accuracy(gold) >= baseline, (name, method)


def test_majority_vote_is_sane(dataset):
    _name, matrix, gold = dataset
    # Far above chance (1/K), and the random tie-break is no better than the default.
    mv = majority_vote(matrix)
    assert mv.accuracy(gold) > 1.5 / matrix.n_labels
    assert mv.accuracy(gold) >= majority_vote(matrix, ties="random", seed=0).accuracy(gold)


def test_gold_pinning_on_real_data(dataset):
    _name, matrix, gold = dataset
    half = dict(list(gold.items())[::2])  # every other gold task (the files are sorted by class)
    rest = {t: v for t, v in gold.items() if t not in half}
    pinned = METHODS["ds"](matrix, gold=half)
    assert pinned.accuracy(half) == 1.0
    assert pinned.accuracy(rest) >= majority_vote(matrix).accuracy(rest) - 0.02
