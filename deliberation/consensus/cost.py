"""Token and money accounting for sessions, and cost of pass (cost per correct answer).

A call is a mapping with ``prompt_tokens`` and ``completion_tokens`` (missing counts as 0), and
either ``cost`` (money already known, e.g. from the provider) or ``model``, priced with
``prices[model]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Price:
    """Price of a model in money per one million prompt (input) and completion (output) tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """prompt_tokens * input / 1e6 + completion_tokens * output / 1e6."""
        return (
            prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million
        ) / 1e6


@dataclass(frozen=True)
class SessionCost:
    """Totals over a session's calls; ``by_model`` holds the same totals per model name."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    by_model: dict[str, SessionCost] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def session_cost(
    calls: Iterable[Mapping[str, Any]],
    prices: Mapping[str, Price] | None = None,
    strict: bool = True,
) -> SessionCost:
    """Sum tokens and money over calls: cost = sum_calls (given ``cost``, else
    prompt * input_price / 1e6 + completion * output_price / 1e6). A call with neither a cost nor a
    priced model raises ``ValueError``, or with ``strict=False`` makes the cost NaN (tokens are
    still counted)."""
    prices = prices or {}
    per: dict[str, list[float]] = {}
    for call in calls:
        pt = int(call.get("prompt_tokens") or 0)
        ct = int(call.get("completion_tokens") or 0)
        if pt < 0 or ct < 0:
            raise ValueError("token counts must be non-negative")
        model = str(call.get("model") or "")
        if call.get("cost") is not None:
            c = float(call["cost"])
        elif model in prices:
            c = prices[model].cost(pt, ct)
        elif strict:
            raise ValueError(f"call has no cost and model {model!r} has no price")
        else:
            c = math.nan
        acc = per.setdefault(model, [0, 0, 0, 0.0])
        acc[0] += 1
        acc[1] += pt
        acc[2] += ct
        acc[3] += c
    by_model = {
        m: SessionCost(int(a[0]), int(a[1]), int(a[2]), float(a[3])) for m, a in per.items()
    }
    return SessionCost(
        calls=sum(s.calls for s in by_model.values()),
        prompt_tokens=sum(s.prompt_tokens for s in by_model.values()),
        completion_tokens=sum(s.completion_tokens for s in by_model.values()),
        cost=math.fsum(s.cost for s in by_model.values()),
        by_model=by_model,
    )


def cost_of_pass(total_cost: float, n_correct: int) -> float:
    """Cost of pass = total cost / number of correct answers; ``inf`` when none is correct
    (Erol et al. 2025, "Cost-of-Pass: An Economic Framework for Evaluating Language Models":
    expected cost per attempt / success rate, estimated as total cost / total successes)."""
    if total_cost < 0 or n_correct < 0:
        raise ValueError("cost and count must be non-negative")
    return total_cost / n_correct if n_correct else math.inf


def cost_per_correct(sessions: Iterable[tuple[float, bool]]) -> float:
    """Cost of pass over many (cost, final answer correct) pairs, e.g. one per question:
    sum of costs / number correct (``inf`` when none is correct)."""
    total = 0.0
    correct = 0
    for c, ok in sessions:
        total += float(c)
        correct += bool(ok)
    return cost_of_pass(total, correct)
