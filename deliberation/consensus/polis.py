"""Group-aware consensus over agree/disagree/pass votes on statements (Polis).

Votes are ``{participant: {statement: vote}}`` with vote 1 / "agree", -1 / "disagree", 0 / "pass",
or ``None`` / absent for a statement the participant has not voted on. ``groups`` maps each
participant to an opinion group (in Polis, the clusters of the PCA-projected vote matrix);
participants without a group are left out.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

import numpy as np

_VOTE = {1: 1, -1: -1, 0: 0, "agree": 1, "disagree": -1, "pass": 0}


def vote_matrix(
    votes: Mapping[Hashable, Mapping[Hashable, int | str | None]],
    statements: Sequence[Hashable] | None = None,
) -> tuple[np.ndarray, tuple[Hashable, ...], tuple[Hashable, ...]]:
    """Participants x statements matrix of 1 (agree), -1 (disagree), 0 (pass), NaN (not seen).

    Returns ``(matrix, participants, statements)``; statements in the given order, else in order
    of first appearance."""
    stmts: list[Hashable] = list(statements) if statements is not None else []
    col = {s: j for j, s in enumerate(stmts)}
    if statements is None:
        for row in votes.values():
            for s in row:
                if s not in col:
                    col[s] = len(stmts)
                    stmts.append(s)
    people = tuple(votes)
    m = np.full((len(people), len(stmts)), np.nan)
    for i, p in enumerate(people):
        for s, v in votes[p].items():
            if v is None:
                continue
            if s not in col:
                raise ValueError(f"statement {s!r} is not one of the statements")
            if v not in _VOTE:
                raise ValueError(f"vote {v!r}: use 1/'agree', -1/'disagree', 0/'pass' or None")
            m[i, col[s]] = _VOTE[v]
    return m, people, tuple(stmts)


def group_aware_consensus(
    votes: Mapping[Hashable, Mapping[Hashable, int | str | None]],
    groups: Mapping[Hashable, Hashable],
    statements: Sequence[Hashable] | None = None,
    direction: Literal["agree", "disagree"] = "agree",
) -> dict[Hashable, float]:
    """Group-aware consensus (Small et al. 2021, "Polis: Scaling deliberation by mapping high
    dimensional opinion spaces", Recerca 26(2); Polis ``repness`` code):

        GAC(s) = prod_g (A_g(s) + 1) / (S_g(s) + 2)

    A_g(s) = members of group g who agreed with s (or disagreed, ``direction="disagree"``),
    S_g(s) = members of g who voted on s at all (agree, disagree or pass). Each factor is the
    Laplace-smoothed probability that g agrees, so a statement scores high only when every group
    tends to agree; a group that has not seen s contributes 1/2. Returns ``{statement: GAC}``.
    """
    if direction not in ("agree", "disagree"):
        raise ValueError("direction must be 'agree' or 'disagree'")
    m, people, stmts = vote_matrix(votes, statements)
    labels = [groups.get(p) for p in people]
    names = list(dict.fromkeys(g for g in labels if g is not None))
    if not names:
        raise ValueError("no participant belongs to a group")
    member = np.array([[lab == g for lab in labels] for g in names], dtype=float)  # groups x people
    target = 1.0 if direction == "agree" else -1.0
    hits = member @ (m == target).astype(float)  # groups x statements
    seen = member @ (~np.isnan(m)).astype(float)
    gac = np.prod((hits + 1.0) / (seen + 2.0), axis=0)
    return {s: float(v) for s, v in zip(stmts, gac, strict=True)}
