"""Server-side SVG chart geometry for the moderator panel (no JavaScript, no CDN).

Functions return plain numbers and labels; ``templates/moderation/_charts.html`` draws them, so
every answer label is escaped by the template engine like any other text.
"""

from __future__ import annotations

from typing import Any

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 12, 30

# The per-round series drawn as lines (all in [0, 1]), in legend order.
LINE_SERIES = (
    ("top_share", "Top share", "#4e79a7"),
    ("normalised_entropy", "Normalised entropy", "#e15759"),
    # Free text: semantic entropy only where a model judged meaning; the lexical clusters
    # (similar wording, not meaning) where none did. The semantic title names the model.
    ("semantic_normalised", "Semantic entropy (normalised)", "#b07aa1"),
    ("lexical_normalised", "Lexical cluster entropy (normalised; not meaning)", "#ff9da7"),
    ("consensus_degree", "Consensus degree", "#59a14f"),
    ("mutual_consensus", "Mutual consensus", "#9c755f"),
    ("accuracy", "Accuracy", "#edc948"),
)


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _x_positions(n: int) -> tuple[list[float], float]:
    plot = WIDTH - LEFT - RIGHT
    step = plot / max(n, 1)
    return [LEFT + step * (i + 0.5) for i in range(n)], step


def distribution_chart(metrics: dict[str, Any]) -> dict[str, Any]:
    """Stacked bars: one bar per round, one segment per answer, height = number of answers."""
    rounds = metrics["rounds"]
    top = max([r["answers"] for r in rounds] + [1])
    plot_h = HEIGHT - TOP - BOTTOM
    xs, step = _x_positions(len(rounds))
    bar_w = min(48.0, step * 0.6)
    bars = []
    for r, x in zip(rounds, xs, strict=True):
        y = HEIGHT - BOTTOM
        segments = []
        for d in r["distribution"]:
            h = plot_h * d["count"] / top
            y -= h
            segments.append(
                {
                    "x": round(x - bar_w / 2, 2),
                    "y": round(y, 2),
                    "w": round(bar_w, 2),
                    "h": round(h, 2),
                    "fill": colour(d["index"]),
                    "label": d["label"],
                    "count": d["count"],
                }
            )
        bars.append({"round": r["number"], "x": round(x, 2), "segments": segments})
    ticks = sorted({0, top, *(range(0, top + 1, max(1, top // 4)))})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "axis_y": HEIGHT - BOTTOM,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "ticks": [{"value": t, "y": round(HEIGHT - BOTTOM - plot_h * t / top, 2)} for t in ticks],
        "legend": [
            {"label": c["label"], "fill": colour(c["index"])} for c in metrics["categories"]
        ],
    }


def line_chart(metrics: dict[str, Any]) -> dict[str, Any]:
    """Agreement and entropy over rounds: one line per series present, y from 0 to 1."""
    rounds = metrics["rounds"]
    plot_h = HEIGHT - TOP - BOTTOM
    xs, _ = _x_positions(len(rounds))
    series = []
    judge = metrics.get("semantic_judge") or {}
    for key, title, stroke in LINE_SERIES:
        if key == "semantic_normalised" and judge.get("name"):
            title = f"Semantic entropy (normalised; model: {judge['name']})"
        points = [
            {"x": round(x, 2), "y": round(HEIGHT - BOTTOM - plot_h * r[key], 2), "value": r[key]}
            for r, x in zip(rounds, xs, strict=True)
            if r.get(key) is not None
        ]
        if points:
            series.append(
                {
                    "key": key,
                    "title": title,
                    "stroke": stroke,
                    "points": points,
                    "path": " ".join(f"{p['x']},{p['y']}" for p in points),
                }
            )
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "series": series,
        "axis_y": HEIGHT - BOTTOM,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "rounds": [
            {"number": r["number"], "x": round(x, 2)} for r, x in zip(rounds, xs, strict=True)
        ],
        "ticks": [
            {"value": t, "y": round(HEIGHT - BOTTOM - plot_h * t, 2)}
            for t in (0, 0.25, 0.5, 0.75, 1)
        ],
    }


def panel_context(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "m": metrics,
        "distribution": distribution_chart(metrics),
        "lines": line_chart(metrics),
    }
