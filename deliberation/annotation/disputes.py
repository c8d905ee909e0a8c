"""How much an item's labels agree, from its stored labels (the one source of that fact).

An item's *agreement* is the share of its labels that give its most common answer, with answers
compared by :func:`deliberation.debates.answers.answer_key` (numeric labels within the project's
tolerance count as the same, free text ignores case and punctuation). An item with at least two
labels is *disputed* when that share is at most the project's ``dispute_threshold`` (with the
default 0.5, a 2-2 or 1-1-1 split is disputed, 2-1 is not).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from deliberation.debates.answers import answer_key


@dataclass(frozen=True)
class ItemAgreement:
    labels: int
    top_answer: Any  # a stored label value giving the most common answer (None without labels)
    top_share: float | None  # share of labels giving it; None without labels
    counts: dict[Hashable, int]

    def disputed(self, threshold: float) -> bool:
        return self.labels >= 2 and self.top_share is not None and self.top_share <= threshold


def item_agreement(values: Iterable[Any], fmt: str, tolerance: float = 0.0) -> ItemAgreement:
    """Agreement of one item's label values (ties: the answer first given wins)."""
    counts: Counter = Counter()
    first: dict[Hashable, Any] = {}
    n = 0
    for value in values:
        key = answer_key(value, fmt, tolerance)
        if key is None:
            continue
        n += 1
        counts[key] += 1
        first.setdefault(key, value)
    if not n:
        return ItemAgreement(0, None, None, {})
    best = max(counts.values())
    top = next(k for k in first if counts[k] == best)
    return ItemAgreement(n, first[top], best / n, dict(counts))
