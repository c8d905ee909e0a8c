"""Template filters for session pages."""

from django import template

from deliberation.debates.answers import format_answer
from deliberation.debates.presentation import passage_hidden
from deliberation.protocols.quotes import segments

register = template.Library()


@register.filter
def answer_text(answer, answer_format: str = "") -> str:
    """An answer as people read it: "A > B > C" for a ranking, "A, B" for several choices."""
    if answer is None:
        return ""
    if isinstance(answer, list) and not answer_format:
        answer_format = "multiple_choice"
    return format_answer(answer, answer_format or "free_text")


@register.filter
def quote_segments(post) -> list[tuple[str, str]]:
    """A post's text as ``(piece, mark)`` pairs, its passage quotes marked "verified" or
    "unverified" (Khan et al. 2024); the template escapes every piece."""
    data = post.get("data") or {}
    return segments(post.get("text") or "", data.get("quotes"))


@register.filter
def passage_for(session, me) -> str:
    """The session's passage if ``me`` may read it now (judges may not until it finishes)."""
    if not session.passage or passage_hidden(getattr(me, "role", None), session.status):
        return ""
    return session.passage
