"""The page where people create and revoke their API tokens (a key is shown once)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import tokens
from ..models import ApiToken
from ..schema import errors

NEW_KEY_SESSION = "api-new-token-key"


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """The new key travels to the next GET in the session and is dropped once shown, so a
    reload neither shows it again nor makes a second token (post, redirect, get)."""
    if request.method == "POST":
        try:
            token, key = tokens.issue(request.user, request.POST.get("name", ""))
        except tokens.TokenError as exc:
            messages.error(request, str(exc))
        else:
            request.session[NEW_KEY_SESSION] = key
            messages.success(
                request, f"Token '{token.name}' created. Copy it now: it is shown once."
            )
        return redirect("api:tokens")
    return render(
        request,
        "api/tokens.html",
        {
            "tokens": ApiToken.objects.filter(user=request.user),
            "new_key": request.session.pop(NEW_KEY_SESSION, None),
            "api_root": request.build_absolute_uri("/api/v1/"),
        },
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        token = tokens.revoke(request.user, pk)
    except tokens.TokenError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Token '{token.name}' revoked; it no longer works.")
    return redirect("api:tokens")


@extend_schema(tags=["account"])
class Me(APIView):
    @extend_schema(
        summary="Who the token belongs to",
        responses={
            200: inline_serializer(
                "Me",
                {
                    "id": serializers.IntegerField(),
                    "username": serializers.CharField(),
                    "is_staff": serializers.BooleanField(),
                },
            ),
            **errors(),
        },
    )
    def get(self, request: Request) -> Response:
        user = request.user
        return Response({"id": user.pk, "username": user.get_username(), "is_staff": user.is_staff})
