"""Template helpers of the moderation pages, and the published decision on the session page."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def metric(value, digits: int = 3) -> str:
    """A metric with ``digits`` decimals, or an em dash when it is undefined (None)."""
    if value is None or value == "":
        return "—"
    try:
        return f"{float(value):.{int(digits)}f}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def spaced(value) -> str:
    """``right_to_wrong`` -> ``right to wrong``."""
    return str(value or "").replace("_", " ")


@register.inclusion_tag("moderation/_published.html")
def published_decision(session) -> dict:
    """The published final answer of ``session`` (nothing before the moderator publishes)."""
    from ..services import published_revision

    revision = published_revision(session)
    return {"revision": revision, "session": session}
