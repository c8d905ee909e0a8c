"""WebSocket origin check: same scheme, host and port, not only an allowed host name.

Channels' ``AllowedHostsOriginValidator`` compares the Origin's host name with ALLOWED_HOSTS and
ignores its scheme and port, so a page on ``http://app.example:8080`` (another service on the
same host) could open sockets with the visitor's cookie. A browser sends the page's origin; the
socket is accepted only when that origin is the socket's own (``ws`` pairs with ``http``, ``wss``
with ``https``; behind a TLS proxy the scheme comes from SECURE_PROXY_SSL_HEADER, as for HTTP)
or is listed in CSRF_TRUSTED_ORIGINS. The host must still be an allowed host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}


def _normalise(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    scheme = scheme.lower()
    return scheme, host.lower().rstrip("."), port or DEFAULT_PORTS.get(scheme, 0)


def _origin(value: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(value)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        return _normalise(parts.scheme, parts.hostname, parts.port)
    except ValueError:  # a port that is not a number
        return None


def _own_origin(scope) -> tuple[str, str, int] | None:
    headers = {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope.get("headers", [])}
    secure = scope.get("scheme") == "wss"
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, value = proxy
        header = name.lower().removeprefix("http_").replace("_", "-")  # HTTP_X_FORWARDED_PROTO
        forwarded = headers.get(header, "")
        if forwarded.split(",")[0].strip() == value:
            secure = True
    host = headers.get("host", "")
    if not host:
        return None
    return _origin(f"{'https' if secure else 'http'}://{host}")


def same_origin(scope) -> bool:
    headers = {k.lower(): v for k, v in scope.get("headers", [])}
    raw = headers.get(b"origin")
    if raw is None:
        return False
    try:
        origin = _origin(raw.decode("latin1"))
    except UnicodeDecodeError:
        return False
    if origin is None:
        return False
    if origin == _own_origin(scope):
        return True
    trusted = {_origin(o) for o in getattr(settings, "CSRF_TRUSTED_ORIGINS", [])}
    return origin in trusted


class SameOriginValidator:
    """Refuse a WebSocket handshake from another origin (see the module docstring)."""

    def __init__(self, application):
        self.application = AllowedHostsOriginValidator(application)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
