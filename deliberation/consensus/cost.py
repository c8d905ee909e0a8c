"""Token and money accounting for sessions, and Cost-of-Pass (Erol et al. 2025) over a set of
problems, with its frontier across models.

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
    """Total cost / number of correct answers; ``inf`` when none is correct. For one problem
    this is Erol et al.'s v(m, p) (mean cost / success rate, the means over the same attempts);
    over a set of problems it is the pooled ratio of means, NOT the paper's task value, which is
    the mean of the per-problem ratios (``task_cost_of_pass``)."""
    if total_cost < 0 or n_correct < 0:
        raise ValueError("cost and count must be non-negative")
    return total_cost / n_correct if n_correct else math.inf


def cost_per_correct(sessions: Iterable[tuple[float, bool]]) -> float:
    """Cost per correct answer over many (cost, correct) pairs, e.g. one per question: sum of
    costs / number correct (``inf`` when none is correct): a ratio of means over the set."""
    total = 0.0
    correct = 0
    for c, ok in sessions:
        total += float(c)
        correct += bool(ok)
    return cost_of_pass(total, correct)


# --- Cost-of-Pass over a set of problems (Erol et al. 2025) ------------------------------------
# Erol, El, Suzgun, Yuksekgonul and Zou, "Cost-of-Pass: An Economic Framework for Evaluating
# Language Models" (arXiv 2504.13359), and the authors' code (github.com/mhamzaerol/Cost-of-Pass,
# cost_of_pass/evaluation/estimate.py, ``FrontierCostofPass``):
#   v(m, p) = C_m(p) / R_m(p): the expected cost of one attempt of model m on problem p over its
#             success rate there, both estimated by the mean over the attempts (runs) at p;
#             infinite when no attempt at p succeeded (R_m(p) = 0);
#   V_p(M)  = min over m in M (and, in the paper, the human expert) of v(m, p): the frontier;
#   V(M)    = mean over the problems p of V_p(M): a mean of per-problem ratios, not a ratio of
#             means. It is infinite as soon as one problem's value is (the authors' code refuses
#             to estimate it then). One model's value on the task is the frontier of {m}.


def problem_cost_of_pass(costs: Iterable[float], successes: Iterable[float]) -> float:
    """v(m, p) = mean(costs) / mean(successes) over the attempts of one model at one problem;
    ``inf`` when no attempt succeeded (``FrontierCostofPass.cost_of_pass`` of the authors)."""
    c = [float(x) for x in costs]
    s = [float(x) for x in successes]
    if not c or len(c) != len(s):
        raise ValueError("one cost and one success per attempt, at least one attempt")
    if any(x < 0 for x in c) or any(not 0 <= x <= 1 for x in s):
        raise ValueError("costs are non-negative and successes lie in [0, 1]")
    rate = math.fsum(s) / len(s)
    return math.fsum(c) / len(c) / rate if rate else math.inf


def task_cost_of_pass(per_problem: Iterable[float]) -> float:
    """V = mean over problems of the per-problem values (``inf`` if any is infinite)."""
    values = [float(v) for v in per_problem]
    if not values:
        raise ValueError("no problems")
    if any(math.isinf(v) for v in values):
        return math.inf
    return math.fsum(values) / len(values)


@dataclass(frozen=True)
class Frontier:
    """The frontier cost-of-pass of a set of models over a set of problems.

    ``value`` = mean over problems of min over models of v(m, p); ``best`` names, per problem,
    the model(s) reaching that minimum (ties: all of them; none when every value is infinite);
    ``wins`` counts per model the problems where it is (one of) the cheapest.
    """

    value: float
    per_problem: list[float]
    best: list[list[str]]
    wins: dict[str, int]


def frontier_cost_of_pass(
    per_model: Mapping[str, Iterable[float]], baseline: float | None = None
) -> Frontier:
    """V(M) = mean_p min(min_m v(m, p), baseline) for per-problem values aligned by problem.

    ``baseline`` is the paper's human-expert cost-of-pass of a problem (the same for every
    problem); ``None`` gives the "LM frontier" (the authors' ``exclude_baseline=True``).
    """
    columns = {m: [float(v) for v in values] for m, values in per_model.items()}
    if not columns:
        raise ValueError("no models")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError("every model needs one value per problem, and at least one problem")
    n = lengths.pop()
    per_problem: list[float] = []
    best: list[list[str]] = []
    wins = dict.fromkeys(columns, 0)
    for i in range(n):
        low = min(v[i] for v in columns.values())
        if baseline is not None and baseline < low:
            per_problem.append(float(baseline))
            best.append([])
            continue
        per_problem.append(low)
        who = [] if math.isinf(low) else [m for m, v in columns.items() if v[i] == low]
        for m in who:
            wins[m] += 1
        best.append(who)
    return Frontier(task_cost_of_pass(per_problem), per_problem, best, wins)
