"""Small helpers every API view uses."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


def valid(serializer_class, request: Request, **kwargs) -> dict:
    """The request body validated by ``serializer_class`` (400 naming each bad field)."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within [low, high] (400 naming it otherwise)."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ValidationError({name: [f"A whole number from {low} to {high}."]})
    return value


def page_of(view, queryset):
    """One page of ``queryset`` through the view's paginator and serializer."""
    page = view.paginate_queryset(queryset)
    return view.get_paginated_response(view.get_serializer(page, many=True).data)
