"""Transcript exports over HTTP, streamed: the same files as the export pages (docs/exports.md),
for the sessions you moderate, so a notebook reads them with a token, e.g.
``pandas.read_json(url, lines=True, storage_options={"Authorization": "Bearer …"})``."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from deliberation.debates.models import DebateSession
from deliberation.moderation.services import can_moderate
from deliberation.streaming import download
from deliberation.transcripts.formats import FORMATS
from deliberation.transcripts.selection import NotYours, SelectionError, exportable

from ..schema import errors

FORMAT = OpenApiParameter(
    "fmt",
    str,
    OpenApiParameter.PATH,
    enum=list(FORMATS),
    description="jsonl (everything, one session per line), posts_csv, or answers_csv.",
)
MEDIA = {(200, f.content_type.split(";")[0]): OpenApiTypes.STR for f in FORMATS.values()}


class AnyAccept(BaseContentNegotiation):
    """A file is the answer whatever the client accepts; errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return JSONRenderer(), JSONRenderer.media_type


def _format(fmt: str):
    if fmt not in FORMATS:
        raise NotFound(f"No export format {fmt!r}; known: {', '.join(FORMATS)}.")
    return FORMATS[fmt]


def _stream(request: Request, sessions, fmt, name: str):
    export = _format(fmt)
    filename = f"{name}.{export.extension}"
    return download(request._request, export.render(sessions), export.content_type, filename)


@extend_schema(tags=["exports"])
class SessionExport(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        operation_id="session_export",
        summary="One session's transcript as a file (moderator or staff)",
        parameters=[FORMAT],
        responses={**MEDIA, **errors(403, 404)},
    )
    def get(self, request: Request, pk: int, fmt: str):
        _format(fmt)
        session = DebateSession.objects.filter(pk=pk).first()
        if session is None:
            raise NotFound("No such session.")
        if not can_moderate(request.user, session):
            raise PermissionDenied("Only the session's moderator or staff can export it.")
        return _stream(request, DebateSession.objects.filter(pk=pk), fmt, f"session-{pk}")


@extend_schema(tags=["exports"])
class SessionsExport(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        operation_id="sessions_export",
        summary="The sessions you moderate as one file (all, or ?ids= and ?status=)",
        parameters=[
            FORMAT,
            OpenApiParameter("ids", str, description="Session ids, e.g. 3,5,8."),
            OpenApiParameter("status", str, enum=list(DebateSession.Status.values)),
        ],
        responses={**MEDIA, **errors(400, 403, 404)},
    )
    def get(self, request: Request, fmt: str):
        _format(fmt)
        for name in ("ids", "status"):
            if request.query_params.get(name, None) == "":
                raise ValidationError({name: ["Leave it out, or give a value."]})
        try:
            sessions = exportable(
                request.user,
                ids=request.query_params.get("ids"),
                status=request.query_params.get("status"),
            )
        except SelectionError as exc:
            field = "status" if "status" in str(exc) else "ids"
            raise ValidationError({field: [str(exc)]}) from None
        except NotYours as exc:
            raise PermissionDenied(str(exc)) from None
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return _stream(request, sessions, fmt, f"sessions-{stamp}")
