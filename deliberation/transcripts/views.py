"""Export downloads. Thin: authorise, pick the sessions, stream the service's output."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone

from deliberation.debates.models import DebateSession
from deliberation.moderation.services import can_moderate, moderated_sessions

from .formats import FORMATS, ExportFormat, parse_ids


def _format(fmt: str) -> ExportFormat:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise Http404(f"No export format {fmt!r}; known: {', '.join(FORMATS)}.") from None


CHUNK_CHARS = 64 * 1024


def _take(lines: Iterator[str]) -> str:
    """The next lines, up to about ``CHUNK_CHARS`` characters ("" at the end)."""
    parts, total, size = [], 0, CHUNK_CHARS
    for line in lines:
        parts.append(line)
        total += len(line)
        if total >= size:
            break
    return "".join(parts)


async def _async_chunks(lines: Iterator[str]) -> AsyncIterator[str]:
    """Serve a database-reading generator under ASGI chunk by chunk.

    Given a sync iterator, Django's ASGI handler would read it whole into memory first; here
    each chunk is read in the sync thread (the same connection and server-side cursor).
    """
    take = sync_to_async(_take, thread_sensitive=True)
    while chunk := await take(lines):
        yield chunk


def _stream(request, sessions, fmt: ExportFormat, filename: str) -> StreamingHttpResponse:
    lines = fmt.render(sessions)
    content = _async_chunks(lines) if isinstance(request, ASGIRequest) else lines
    response = StreamingHttpResponse(content, content_type=fmt.content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt.extension}"'
    return response


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
