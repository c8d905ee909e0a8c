"""The final answer each aggregation rule recommends, side by side.

From ``debates.outcomes`` (the rules the session page shows): plurality (Du et al. 2023),
ReConcile's confidence-weighted vote with recalibrated confidences (Chen et al. 2023), the judge's
verdict, and the round-1 vote-only baseline (Choi et al. 2025). Added here:

* ``majority`` - strict majority, n_k > N / 2, of the debaters' final answers.
* ``bradley_terry`` - peer-review *correctness* scores turned into pairwise comparisons: in the
  last review round, a reviewer who scored target j higher than target k says "j beats k". Only
  when the session asked for correctness scores (peer review's ``review_score = correctness``);
  the paper's default score is the reviewer's confidence in their own feedback, which says
  nothing about which solution is better, so no ranking is drawn from it. Bradley-Terry
  strengths pi (Bradley & Terry 1952; MM fit, Hunter 2004) rank the reviewed solutions; the rule
  recommends the solution of the strongest participant, as Fortytwo (2025) keeps the top-ranked
  answer. When the comparisons are not strongly connected, the MLE does not exist and a
  pseudocount of 0.5 virtual wins per ordered pair regularises it (flagged). For ranking
  answers, the comparisons come from the final ballots instead (every ranked pair).
* ``borda``, ``schulze``, ``kemeny`` - for ranking answers: the aggregate ranking of the
  debaters' final ballots (Borda 1781; Schulze 2011, as in the Habermas Machine; Kemeny 1959,
  for at most 7 options).

A rule whose answer differs from the session's final answer (its protocol's default rule) is
marked ``differs``; the rules disagree when the decision rules (all but the vote-only baseline)
do not all give the same answer.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from deliberation.consensus import pairwise, rankings, votes
from deliberation.debates.outcomes import RULE_TITLES

if TYPE_CHECKING:
    from .metrics import SessionData

TITLES = {
    **RULE_TITLES,
    "majority": "Strict majority",
    "bradley_terry": "Bradley-Terry (correctness scores)",
    "bradley_terry_ballots": "Bradley-Terry (ranked pairs)",
    "borda": "Borda count",
    "schulze": "Schulze",
    "kemeny": "Kemeny median",
}
BASELINES = ("vote_only",)
MAX_KEMENY = 7
PSEUDOCOUNT = 0.5


def final_answers(data: SessionData, debaters: list[int]) -> dict[int, Hashable]:
    """Debater -> their latest usable answer key (a skipped round keeps the earlier answer)."""
    wanted = set(debaters)
    latest: dict[int, Hashable] = {}
    for view in data.state.rounds:
        for pid, key in view.answers().items():
            if pid in wanted:
                latest[pid] = key
    return latest


def rule_table(data: SessionData, debaters: list[int]) -> dict[str, Any]:
    from .metrics import num

    outcome = data.outcome
    rows: list[dict[str, Any]] = []
    for r in outcome.rules.values():
        tied = [data.key(t) for t in r.tied]
        rows.append(_row(data, r.rule, data.key(r.answer), tied, r.support))
    finals = final_answers(data, debaters)
    keys = list(finals.values())
    result = votes.majority(keys)
    rows.insert(2, _row(data, "majority", result.winner, list(result.tied), result.share))
    bt = _peer_review_bt(data, finals)
    if bt is not None:
        rows.append(_row(data, "bradley_terry", bt["winner_key"], [], bt["support"]))
    if data.session.answer_format == "ranking" and keys:
        rows.extend(_ranking_rows(data, keys))
        bt = bt or _ballot_bt(data, keys)
        if bt is not None and bt.get("rule") == "bradley_terry_ballots":
            rows.append(_row(data, bt["rule"], bt["winner_key"], [], bt["support"]))
    final_key = data.key(outcome.final.answer)
    decisive = [r for r in rows if r["rule"] not in BASELINES]
    for r in rows:
        r["differs"] = r["key"] != final_key
        r["support"] = num(r["support"], 4)
    disagree = len({r["key"] for r in decisive}) > 1
    for r in rows:
        del r["key"]
    if bt is not None:
        bt.pop("winner_key", None)
    return {
        "rules": rows,
        "final_rule": outcome.default_rule,
        "final_answer": outcome.final.answer,
        "final_label": data.label(final_key),
        "rules_disagree": disagree,
        "bradley_terry": bt,
    }


def _row(data: SessionData, rule: str, key, tied, support) -> dict[str, Any]:
    key = tuple(key) if isinstance(key, list) else key
    return {
        "rule": rule,
        "title": TITLES.get(rule, rule),
        "key": key,
        "answer": data.original(key),
        "label": data.label(key) if key is not None else None,
        "tied": [data.label(t) for t in tied],
        "support": support,
        "correct": data.correct(key),
    }


def _ranking_rows(data: SessionData, ballots: list[Hashable]) -> list[dict[str, Any]]:
    options = list(data.session.options) or None
    rows = []
    borda = rankings.borda(ballots, options=options)
    schulze = rankings.schulze(ballots, options=options)
    total = sum(borda.scores.values())
    for name, result, support in (
        ("borda", borda, (max(borda.scores.values()) / total) if total else 0.0),
        ("schulze", schulze, 1.0 if schulze.winner is not None else 0.0),
    ):
        key = tuple(result.ranking) if result.winner is not None else None
        rows.append(_row(data, name, key, [(t,) for t in result.tied], support))
    if options and len(options) <= MAX_KEMENY:
        kemeny = rankings.kemeny(ballots, options=options)
        unique = len(kemeny.optimal) == 1
        rows.append(
            _row(
                data,
                "kemeny",
                tuple(kemeny.ranking) if unique else None,
                [tuple(o) for o in kemeny.optimal] if not unique else [],
                1.0 if unique else 0.0,
            )
        )
    return rows


def _fit(comparisons, options) -> tuple[pairwise.BradleyTerryResult, bool]:
    try:
        return pairwise.bradley_terry(comparisons, options=options), False
    except ValueError:
        return pairwise.bradley_terry(comparisons, options=options, pseudocount=PSEUDOCOUNT), True


def _peer_review_bt(data: SessionData, finals: dict[int, Hashable]) -> dict[str, Any] | None:
    """Bradley-Terry over the solutions scored in the last review round (see module doc)."""
    if not data.reviews:
        return None
    last_round = max(r for r, *_ in data.reviews)
    scores: dict[int, dict[int, float]] = {}
    for number, reviewer, target, extra in data.reviews:
        score = (extra or {}).get("score")
        # Reviews stored before the meaning was recorded were correctness scores.
        means = (extra or {}).get("score_means", "correctness")
        if number == last_round and score is not None and means == "correctness":
            scores.setdefault(reviewer, {})[target] = float(score)
    comparisons = []
    for given in scores.values():
        for (j, sj), (k, sk) in itertools.combinations(given.items(), 2):
            if sj != sk:
                comparisons.append((j, k) if sj > sk else (k, j))
    if not comparisons:
        return None
    reviewed = _answers_before(data, last_round)
    targets = sorted({t for given in scores.values() for t in given})
    result, regularised = _fit(comparisons, targets)
    best = result.ranking[0]
    return {
        "rule": "bradley_terry",
        "source": "peer review correctness scores",
        "comparisons": len(comparisons),
        "regularised": regularised,
        "strengths": [
            {
                "id": pid,
                "name": data.people[pid].display_name if pid in data.people else str(pid),
                "strength": round(result.strengths[pid], 6),
                "answer": data.label(reviewed.get(pid)),
            }
            for pid in result.ranking
        ],
        "winner_key": reviewed.get(best, finals.get(best)),
        "support": result.strengths[best],
    }


def _answers_before(data: SessionData, number: int) -> dict[int, Hashable]:
    latest: dict[int, Hashable] = {}
    for view in data.state.rounds:
        if view.number >= number:
            break
        latest.update(view.answers())
    return latest


def _ballot_bt(data: SessionData, ballots: list[Hashable]) -> dict[str, Any] | None:
    comparisons = [pair for b in ballots for pair in itertools.combinations(b, 2)]
    if not comparisons:
        return None
    options = list(data.session.options) or None
    result, regularised = _fit(comparisons, options)
    return {
        "rule": "bradley_terry_ballots",
        "source": "pairs ranked on the final ballots",
        "comparisons": len(comparisons),
        "regularised": regularised,
        "strengths": [
            {"id": None, "name": str(o), "strength": round(result.strengths[o], 6), "answer": ""}
            for o in result.ranking
        ],
        "winner_key": tuple(result.ranking),
        "support": result.strengths[result.ranking[0]],
    }
