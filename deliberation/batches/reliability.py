"""Chance-corrected agreement of a batch run's agents, per round, over its questions.

Krippendorff's alpha and Fleiss' kappa are defined over many *units*, each rated by several
raters: here the units are the questions of the run and the raters the debater positions, one
measure per round (round r: every question's round-r answers). One session has one question, so
these measures are computed here and never over a session's rounds (docs/moderation.md).

* Krippendorff's alpha (Krippendorff 2011; ``consensus.agreement.krippendorff_alpha``): the
  raters x questions matrix with missing values (a position that did not answer), nominal for
  choice, ranking and free-text answers (each distinct answer a category), interval for numbers.
* Fleiss' kappa (Fleiss 1971; ``consensus.agreement.fleiss_kappa_from_labels``): over the
  questions where every position answered (it needs the same number of raters per unit).

Both are ``None`` where undefined (fewer than two units, or no variation at all).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from deliberation.consensus import agreement


def _category(answer: Any) -> str:
    return json.dumps(answer, sort_keys=True)


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


def round_agreement(
    results: Iterable[dict[str, Any]], positions: list[int], numeric: bool
) -> dict[int, dict[str, Any]]:
    """Round -> ``{"alpha", "kappa", "questions", "complete"}`` from stored item results
    (``result["round_answers"][round][position]``; results stored before it are skipped)."""
    by_round: dict[int, list[dict[str, Any]]] = {}
    for result in results:
        for number, answers in (result.get("round_answers") or {}).items():
            by_round.setdefault(int(number), []).append(answers)
    out: dict[int, dict[str, Any]] = {}
    for number, units in sorted(by_round.items()):
        keys = [str(p) for p in positions]
        if numeric:
            matrix = [[_number(u.get(k)) for u in units] for k in keys]
        else:
            matrix = [[None if u.get(k) is None else _category(u[k]) for u in units] for k in keys]
        pairable = sum(1 for u in units if sum(u.get(k) is not None for k in keys) >= 2)
        alpha = None
        if pairable >= 2:
            alpha = _finite(
                agreement.krippendorff_alpha(matrix, level="interval" if numeric else "nominal")
            )
        complete = [u for u in units if all(u.get(k) is not None for k in keys)]
        kappa = None
        if len(keys) >= 2 and len(complete) >= 2:
            kappa = _finite(
                agreement.fleiss_kappa_from_labels(
                    [[_category(u[k]) for k in keys] for u in complete]
                )
            )
        out[number] = {
            "alpha": alpha,
            "kappa": kappa,
            "questions": pairable,
            "complete": len(complete),
        }
    return out


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
