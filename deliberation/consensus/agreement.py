"""Inter-rater agreement: one unit's observed agreement, and chance-corrected agreement over
many units (Fleiss' kappa, Krippendorff's alpha)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np

Level = Literal["nominal", "ordinal", "interval", "ratio"]


def pairwise_agreement(labels: Sequence[Hashable | None]) -> float | None:
    """Observed agreement of one unit: the share of ordered pairs of raters who gave the same
    label, P_i = sum_j n_j (n_j - 1) / (n (n - 1)) (Fleiss 1971's per-item agreement; the
    quantity Fleiss' kappa averages before correcting for chance). ``None`` labels are missing.

    It is not chance-corrected: chance correction needs several units (questions, items), which
    one deliberation round on one question does not have. ``None`` with fewer than two labels.
    """
    present = [x for x in labels if x is not None]
    n = len(present)
    if n < 2:
        return None
    counts: dict[Hashable, int] = {}
    for x in present:
        counts[x] = counts.get(x, 0) + 1
    return sum(c * (c - 1) for c in counts.values()) / (n * (n - 1))


def fleiss_kappa(table: np.ndarray | Sequence[Sequence[float]]) -> float:
    """Fleiss' kappa from an items x categories count matrix (Fleiss 1971, Psychol. Bull. 76).

    n_ij = number of raters who put item i in category j; every row sums to the same n >= 2.
    P_i = (sum_j n_ij^2 - n) / (n (n - 1)),  P_bar = mean_i P_i,
    p_j = sum_i n_ij / (N n),  P_e = sum_j p_j^2,  kappa = (P_bar - P_e) / (1 - P_e).
    Returns NaN when P_e = 1 (every rating in one category: agreement is undefined).
    Matches ``statsmodels.stats.inter_rater.fleiss_kappa(table, method="fleiss")``.
    """
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError("table must be a non-empty 2-D items x categories count matrix")
    if (t < 0).any():
        raise ValueError("counts must be non-negative")
    per_item = t.sum(axis=1)
    n = per_item[0]
    if not np.allclose(per_item, n):
        raise ValueError("every item must have the same number of ratings (rows sum to n)")
    if n < 2:
        raise ValueError("Fleiss' kappa needs at least two ratings per item")
    p_i = ((t * t).sum(axis=1) - n) / (n * (n - 1))
    p_bar = p_i.mean()
    p_j = t.sum(axis=0) / t.sum()
    p_e = float((p_j * p_j).sum())
    if math.isclose(p_e, 1.0):
        return math.nan
    return float((p_bar - p_e) / (1.0 - p_e))


def count_matrix(
    labels_per_item: Sequence[Sequence[Hashable | None]],
    categories: Sequence[Hashable] | None = None,
) -> tuple[np.ndarray, tuple[Hashable, ...]]:
    """Items x categories count matrix from per-item label lists (``None`` labels skipped).

    Categories are ``categories`` in order when given, else the labels in order of first
    appearance. Returns ``(table, categories)``.
    """
    cats: list[Hashable] = list(categories) if categories is not None else []
    index = {c: j for j, c in enumerate(cats)}
    if categories is None:
        for labels in labels_per_item:
            for lab in labels:
                if lab is not None and lab not in index:
                    index[lab] = len(cats)
                    cats.append(lab)
    table = np.zeros((len(labels_per_item), len(cats)), dtype=float)
    for i, labels in enumerate(labels_per_item):
        for lab in labels:
            if lab is None:
                continue
            if lab not in index:
                raise ValueError(f"label {lab!r} is not one of the categories {cats!r}")
            table[i, index[lab]] += 1
    return table, tuple(cats)


def fleiss_kappa_from_labels(
    labels_per_item: Sequence[Sequence[Hashable | None]],
    categories: Sequence[Hashable] | None = None,
) -> float:
    """Fleiss' kappa from per-item label lists, e.g. ``[["a", "a", "b"], ["b", "b", "b"]]``.

    Builds the count matrix with :func:`count_matrix` and applies :func:`fleiss_kappa`; every item
    needs the same number of non-missing labels (use :func:`krippendorff_alpha` otherwise).
    """
    table, _ = count_matrix(labels_per_item, categories)
    return fleiss_kappa(table)


def _reliability_matrix(data, level: Level) -> np.ndarray:
    """Raters x units float matrix with NaN for missing. Non-numeric nominal labels (and ``None``
    for missing) are coded to integers; ordinal/interval/ratio data must be numeric."""
    arr = np.asarray(data, dtype=object)
    if arr.ndim != 2:
        raise ValueError("reliability data must be a 2-D raters x units matrix")
    try:
        return np.array(
            [[np.nan if v is None else float(v) for v in row] for row in arr], dtype=float
        )
    except (TypeError, ValueError):
        if level != "nominal":
            raise ValueError(f"{level} data must be numeric (NaN or None for missing)") from None
    codes: dict[Hashable, int] = {}
    out = np.full(arr.shape, np.nan)
    for idx, v in np.ndenumerate(arr):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        out[idx] = codes.setdefault(v, len(codes))
    return out


def _delta2(values: np.ndarray, n_c: np.ndarray, level: Level) -> np.ndarray:
    """Squared difference function delta^2(c, k) of Krippendorff (2011), values sorted."""
    c, k = values[:, None], values[None, :]
    if level == "nominal":
        return (c != k).astype(float)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        s = c + k
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(s == 0, 0.0, ((c - k) / np.where(s == 0, 1.0, s)) ** 2)
        return d
    if level == "ordinal":
        # (sum_{g=c}^{k} n_g - (n_c + n_k) / 2)^2 over ranks c <= k (symmetric).
        cum = np.concatenate([[0.0], np.cumsum(n_c)])
        i, j = np.meshgrid(np.arange(len(values)), np.arange(len(values)), indexing="ij")
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        between = cum[hi + 1] - cum[lo]
        return (between - (n_c[i] + n_c[j]) / 2.0) ** 2
    raise ValueError(f"unknown level {level!r}; use nominal, ordinal, interval or ratio")


def krippendorff_alpha(reliability_data, level: Level = "nominal") -> float:
    """Krippendorff's alpha for a raters x units matrix with missing values (NaN or ``None``).

    Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", via the coincidence matrix:
    for each unit u with m_u >= 2 values, o_ck += n_uc n_uk / (m_u - 1) (c != k) and
    o_cc += n_uc (n_uc - 1) / (m_u - 1); n_c = sum_k o_ck, n = sum_c n_c;
    alpha = 1 - D_o / D_e = 1 - (n - 1) sum_ck o_ck d2_ck / sum_ck n_c n_k d2_ck,
    with d2 the nominal (c != k), ordinal, interval ((c - k)^2) or ratio (((c - k)/(c + k))^2)
    difference. Units with fewer than two values are not pairable and are dropped. Returns NaN when
    D_e = 0 (fewer than two distinct pairable values). Nominal data may be any hashable labels.
    Matches ``krippendorff.alpha(..., level_of_measurement=level)``.
    """
    x = _reliability_matrix(reliability_data, level)
    observed = ~np.isnan(x)
    values = np.unique(x[observed])
    if values.size == 0:
        return math.nan
    # units x values counts n_uc, vectorised over raters.
    pos = np.searchsorted(values, np.where(observed, x, values[0]))
    n_uc = np.zeros((x.shape[1], values.size))
    unit_idx = np.broadcast_to(np.arange(x.shape[1]), x.shape)
    np.add.at(n_uc, (unit_idx[observed], pos[observed]), 1.0)
    m_u = n_uc.sum(axis=1)
    keep = m_u >= 2
    n_uc, m_u = n_uc[keep], m_u[keep]
    if n_uc.shape[0] == 0:
        return math.nan
    scaled = n_uc / (m_u - 1)[:, None]
    o = scaled.T @ n_uc - np.diag(scaled.sum(axis=0))
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d2 = _delta2(values, n_c, level)
    d_e = float((np.outer(n_c, n_c) * d2).sum())
    if d_e <= 0:
        return math.nan
    return float(1.0 - (n - 1.0) * float((o * d2).sum()) / d_e)
