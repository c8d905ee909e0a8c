"""``Authorization: Bearer <key>`` (or ``Token <key>``) with a personal API token."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from . import tokens

SCHEMES = (b"bearer", b"token")


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() not in SCHEMES:
            return None  # not ours: session authentication may still apply
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as 'Authorization: Bearer <token>'."
            )
        try:
            key = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token has invalid characters.") from None
        user = tokens.user_for_key(key)
        if user is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API token.")
        return (user, None)

    def authenticate_header(self, request) -> str:
        return self.keyword
