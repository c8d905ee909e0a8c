"""Template filters for session pages."""

from django import template

from deliberation.debates.answers import format_answer

register = template.Library()


@register.filter
def answer_text(answer, answer_format: str = "") -> str:
    """An answer as people read it: "A > B > C" for a ranking, "A, B" for several choices."""
    if answer is None:
        return ""
    if isinstance(answer, list) and not answer_format:
        answer_format = "multiple_choice"
    return format_answer(answer, answer_format or "free_text")
