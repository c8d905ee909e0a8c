"""Export downloads. Thin: authorise, pick the sessions, stream the service's output."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone

from deliberation.debates.models import DebateSession
from deliberation.moderation.services import can_moderate
from deliberation.streaming import download

from .formats import FORMATS, ExportFormat
from .selection import NotYours, SelectionError, exportable


def _format(fmt: str) -> ExportFormat:
    try:
        return FORMATS[fmt]
    except KeyError:
        # The 404 page escapes; the message does not repeat the requested name anyway.
        raise Http404(f"No such export format; known: {', '.join(FORMATS)}.") from None


def _bad_request(message: str) -> HttpResponseBadRequest:
    """A 400 whose message may quote the request: plain text that no browser renders as HTML."""
    response = HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _stream(request, sessions, fmt: ExportFormat, filename: str) -> StreamingHttpResponse:
    return download(request, fmt.render(sessions), fmt.content_type, f"{filename}.{fmt.extension}")


@login_required
def export_sessions(request: HttpRequest, fmt: str):
    """The sessions the user may moderate, all or ``?ids=1,2`` (and ``?status=finished``)."""
    export = _format(fmt)
    try:
        sessions = exportable(
            request.user, ids=request.GET.get("ids"), status=request.GET.get("status")
        )
    except SelectionError as exc:
        return _bad_request(str(exc))
    except NotYours as exc:
        raise PermissionDenied(str(exc)) from None
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return _stream(request, sessions, export, f"sessions-{stamp}")


@login_required
def export_session(request: HttpRequest, pk: int, fmt: str):
    export = _format(fmt)
    session = get_object_or_404(DebateSession, pk=pk)
    if not can_moderate(request.user, session):
        raise PermissionDenied("Only the session's moderator or staff can export it.")
    return _stream(request, DebateSession.objects.filter(pk=pk), export, f"session-{pk}")
