"""Export downloads. Thin: authorise, pick the sessions, stream the service's output."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone

from deliberation.debates.models import DebateSession
from deliberation.moderation.services import can_moderate, moderated_sessions
from deliberation.streaming import download

from .formats import FORMATS, ExportFormat, parse_ids


def _format(fmt: str) -> ExportFormat:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise Http404(f"No export format {fmt!r}; known: {', '.join(FORMATS)}.") from None


def _stream(request, sessions, fmt: ExportFormat, filename: str) -> StreamingHttpResponse:
    return download(request, fmt.render(sessions), fmt.content_type, f"{filename}.{fmt.extension}")


@login_required
def export_sessions(request: HttpRequest, fmt: str):
    """The sessions the user may moderate, all or ``?ids=1,2`` (and ``?status=finished``)."""
    export = _format(fmt)
    sessions = moderated_sessions(request.user).distinct()
    status = request.GET.get("status")
    if status:
        if status not in DebateSession.Status.values:
            return HttpResponseBadRequest(f"Unknown status {status!r}.")
        sessions = sessions.filter(status=status)
    if request.GET.get("ids"):
        try:
            ids = parse_ids(request.GET["ids"])
        except ValueError as exc:
            return HttpResponseBadRequest(str(exc))
        allowed = set(sessions.filter(pk__in=ids).values_list("pk", flat=True))
        if set(ids) - allowed:
            raise PermissionDenied("Some of these sessions are not yours to export.")
        sessions = DebateSession.objects.filter(pk__in=allowed)
    else:
        sessions = DebateSession.objects.filter(pk__in=sessions.values("pk"))
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return _stream(request, sessions, export, f"sessions-{stamp}")


@login_required
def export_session(request: HttpRequest, pk: int, fmt: str):
    export = _format(fmt)
    session = get_object_or_404(DebateSession, pk=pk)
    if not can_moderate(request.user, session):
        raise PermissionDenied("Only the session's moderator or staff can export it.")
    return _stream(request, DebateSession.objects.filter(pk=pk), export, f"session-{pk}")
