"""One JSON shape for every API error, naming the field at fault.

    {"error": "invalid", "detail": "options: A choice question needs two options.",
     "fields": {"options": ["A choice question needs two options."]}}

``error`` is a stable code, ``detail`` one human sentence, ``fields`` (validation errors only)
maps a dotted path (``agents.1``, ``settings``) to its messages; a problem with the request as
a whole (a protocol that needs a judge) is in ``detail`` only. Domain errors raised by
the services keep their message; their code becomes the field when the view names it so
(``service_error_fields``), else it is the ``error`` code.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from deliberation.annotation import labelling
from deliberation.annotation import permissions as annotation_permissions
from deliberation.annotation.importing import ImportProblem
from deliberation.debates.services import NotAllowed, ServiceError

from .tokens import TokenError


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path and name else path or name


def flatten(detail: Any, path: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {dotted.path: [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        parts = [
            (_join(path, "" if k == "non_field_errors" else str(k)), v) for k, v in detail.items()
        ]
    elif isinstance(detail, list) and any(isinstance(v, dict | list) for v in detail):
        parts = [(_join(path, str(i)), v) for i, v in enumerate(detail)]
    else:
        messages = detail if isinstance(detail, list) else [detail]
        return {path: [str(m) for m in messages]}
    for sub_path, value in parts:
        for sub, messages in flatten(value, sub_path).items():
            out.setdefault(sub, []).extend(messages)
    return out


def _validation(fields: dict[str, list[str]]) -> Response:
    sentences = [
        f"{name}: {' '.join(msgs)}" if name else " ".join(msgs) for name, msgs in fields.items()
    ]
    named = {name: msgs for name, msgs in fields.items() if name}  # "": the request as a whole
    body = {"error": "invalid", "detail": " ".join(sentences) or "Invalid input.", "fields": named}
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def _translate(exc: Exception, view) -> Exception:
    """Domain errors as DRF exceptions (or a ready Response for field errors)."""
    field_of = getattr(view, "service_error_fields", {}) or {}
    if isinstance(exc, NotAllowed):
        if exc.code in field_of:  # e.g. an invite token that opens nothing
            return _FieldError({field_of[exc.code]: [exc.message]})
        if exc.code == "forbidden":
            return exceptions.PermissionDenied(exc.message)
        return Conflict(exc.message, exc.code)
    if isinstance(exc, ServiceError):
        field = field_of.get(exc.code, "")
        problems = getattr(exc, "problems", None) or []
        fields = {field: [exc.message, *problems]}
        return _FieldError(fields)
    if isinstance(exc, labelling.InvalidLabel):
        return _FieldError({field_of.get("label", "value"): [str(exc)]})
    if isinstance(exc, ImportProblem | TokenError):
        return _FieldError({field_of.get("import", ""): [str(exc)]})
    if isinstance(exc, annotation_permissions.NotAllowed):
        return Conflict(str(exc), "not_allowed")
    return exc  # DRF's own handler turns Http404 and PermissionDenied into 404 and 403


class _FieldError(Exception):
    def __init__(self, fields: dict[str, list[str]]):
        super().__init__(fields)
        self.fields = fields


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = _translate(exc, context.get("view"))
    if isinstance(exc, _FieldError):
        return _validation(exc.fields)
    if isinstance(exc, exceptions.ValidationError):
        return _validation(flatten(exc.detail))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handling takes over
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
    code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    response.data = {"error": str(code), "detail": str(detail)}
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/v")


def page_not_found(request, exception):
    """Django's 404 for URLs no view matched: JSON under /api/, the usual page elsewhere."""
    if _is_api(request):
        body = {"error": "not_found", "detail": f"No API endpoint at {request.path}."}
        return JsonResponse(body, status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request, exception):
    """Django's 400 (a suspicious request, e.g. a body over DATA_UPLOAD_MAX_MEMORY_SIZE): JSON
    under /api/, the usual page elsewhere (which never echoes the request)."""
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            body = {"error": "too_large", "detail": f"The request body is over {limit} bytes."}
        else:
            body = {"error": "bad_request", "detail": "The request could not be read."}
        return JsonResponse(body, status=400)
    return defaults.bad_request(request, exception)


def server_error(request):
    if _is_api(request):
        body = {"error": "server_error", "detail": "Something failed on our side; it is logged."}
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
