"""OpenAPI pieces drf-spectacular cannot infer: the token scheme and the error body."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "deliberation.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token from /api/tokens/: 'Authorization: Bearer dlb_…'.",
        }


Error = inline_serializer(
    "Error",
    {
        "error": serializers.CharField(help_text="A stable code: invalid, not_found, conflict …"),
        "detail": serializers.CharField(help_text="What went wrong, in one sentence."),
        "fields": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="Validation errors: dotted field path -> messages.",
        ),
    },
)


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error responses an endpoint can give, for ``extend_schema(responses=...)``."""
    text = {
        400: "Invalid input; ``fields`` names each field at fault.",
        401: "No valid token or session.",
        403: "Not allowed for this user.",
        404: "No such object (or not visible to this user).",
        409: "Not possible in the object's current state.",
    }
    return {code: OpenApiResponse(Error, description=text[code]) for code in (401, *codes)}
