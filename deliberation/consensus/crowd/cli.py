"""Plain-function entry point behind ``manage.py aggregate`` (no Django here)."""

from __future__ import annotations

import os
from collections.abc import Callable

from .dawid_skene import dawid_skene, one_coin_dawid_skene
from .glad import glad
from .io import read_gold, read_labels, write_results
from .mace import mace
from .majority import majority_vote, wawa
from .result import AggregationResult

METHODS: dict[str, Callable[..., AggregationResult]] = {
    "mv": majority_vote,
    "wawa": wawa,
    "ds": dawid_skene,
    "onecoin": one_coin_dawid_skene,
    "glad": glad,
    "mace": mace,
}


def run_aggregation(
    labels_path: str | os.PathLike,
    method: str,
    gold_path: str | os.PathLike | None = None,
    out_path: str | os.PathLike | None = None,
    *,
    pin_gold: bool = False,
    **params,
) -> tuple[AggregationResult, float | None]:
    """Read ``task,worker,label`` rows, aggregate with ``method`` (one of :data:`METHODS`), write
    ``task,label,confidence`` to ``out_path`` if given, and return ``(result, accuracy)`` where
    accuracy is against the gold file (``None`` without one). ``params`` go to the method
    (``tol``, ``max_iter``, ``seed``, ...). Gold is used only for scoring unless ``pin_gold`` is
    true, in which case it also pins those tasks during fitting (the accuracy then measures the
    pinned tasks too, so it is no longer an honest estimate)."""
    try:
        fit = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}") from None
    matrix = read_labels(labels_path)
    gold = read_gold(gold_path) if gold_path is not None else None
    if pin_gold and gold:
        params["gold"] = gold
    try:
        result = fit(matrix, **params)
    except TypeError as exc:
        raise ValueError(f"bad parameter for {method}: {exc}") from None
    if out_path is not None:
        write_results(result, out_path)
    accuracy = result.accuracy(gold) if gold else None
    return result, accuracy
