"""Content-Security-Policy and Permissions-Policy on every response (docs/security.md).

The policies live in settings (``CONTENT_SECURITY_POLICY``, ``PERMISSIONS_POLICY``); this
middleware only writes them out. Django 5.2 has no CSP support of its own (6.0 adds it).

* ``connect-src`` gets the WebSocket origins of the request's own host (``ws://host`` over
  HTTP, ``wss://host``), so the session and moderator pages can open their sockets while no
  other host can be reached from script.
* A template that cannot avoid an inline ``<script>`` or ``<style>`` (only drf-spectacular's
  Swagger UI page, see ``templates/drf_spectacular/swagger_ui.html``) marks it with
  ``nonce="{{ request.csp_nonce }}"``. The nonce is fresh for every request and is added to
  ``script-src`` and ``style-src`` only when a template used it, so every other page keeps the
  policy exactly as configured.
* A response that already carries a policy (a view that set its own) is left alone, and so
  are Django's technical error pages when DEBUG is on (they use inline styles and scripts).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.utils.deprecation import MiddlewareMixin

CSP_HEADER = "Content-Security-Policy"
CSP_REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"


class CSPNonce:
    """A per-request nonce that remembers whether a template rendered it."""

    def __init__(self) -> None:
        self.value = secrets.token_urlsafe(18)
        self.used = False

    def __str__(self) -> str:
        self.used = True
        return self.value


def build_csp(policy: dict[str, list[str]], *, host: str | None, secure: bool, nonce=None) -> str:
    directives = []
    for name, sources in policy.items():
        sources = list(sources)
        if name == "connect-src" and host:
            sources += [f"wss://{host}"] if secure else [f"ws://{host}", f"wss://{host}"]
        if nonce is not None and name in ("script-src", "style-src"):
            sources.append(f"'nonce-{nonce.value}'")
        directives.append(" ".join([name, *sources]).strip())
    return "; ".join(directives)


def build_permissions_policy(policy: dict[str, list[str]]) -> str:
    return ", ".join(f"{feature}=({' '.join(allow)})" for feature, allow in policy.items())


class SecurityHeadersMiddleware(MiddlewareMixin):
    def process_request(self, request):
        request.csp_nonce = CSPNonce()

    def process_response(self, request, response):
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", None)
        header = (
            CSP_REPORT_ONLY_HEADER
            if getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", False)
            else CSP_HEADER
        )
        # Django's debug error pages (DEBUG only, never in production) style themselves inline.
        debug_page = settings.DEBUG and response.status_code >= 400
        has_policy = CSP_HEADER in response or CSP_REPORT_ONLY_HEADER in response
        if policy and not has_policy and not debug_page:
            try:
                host = request.get_host()
            except DisallowedHost:
                host = None
            nonce = getattr(request, "csp_nonce", None)
            response[header] = build_csp(
                policy,
                host=host,
                secure=request.is_secure(),
                nonce=nonce if nonce is not None and nonce.used else None,
            )
        permissions = getattr(settings, "PERMISSIONS_POLICY", None)
        if permissions and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = build_permissions_policy(permissions)
        return response
