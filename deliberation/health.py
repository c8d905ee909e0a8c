"""Liveness and readiness probes for load balancers and compose healthchecks.

- ``/healthz``: the process answers (no I/O at all); a failing probe means "restart me".
- ``/readyz``: the services a request needs are reachable: PostgreSQL and Redis (the channel
  layer and cache at ``REDIS_URL``, and the Celery broker when it is elsewhere). JSON with each
  check; 503 when one fails, so a balancer stops sending traffic until it recovers.

Both need no login and no CSRF token, and disclose nothing but "ok" or the kind of error.
The Celery worker's probe is ``celery inspect ping`` (docker/compose.yaml, docs/operations.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

TIMEOUT_SECONDS = 2.0


def _probe(view: Callable) -> Callable:
    return login_not_required(csrf_exempt(never_cache(require_safe(view))))


@_probe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@_probe
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check(_database)}
    urls = {"redis": settings.REDIS_URL}
    broker = getattr(settings, "CELERY_BROKER_URL", "") or ""
    if broker.startswith(("redis://", "rediss://", "unix://")) and broker != settings.REDIS_URL:
        urls["broker"] = broker
    for name, url in urls.items():
        checks[name] = _check(lambda url=url: _redis(url))
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def _check(probe: Callable[[], None]) -> dict:
    started = time.monotonic()
    try:
        probe()
    except Exception as exc:  # any failure means "not ready"; only its kind is shown
        return {"ok": False, "error": type(exc).__name__, "ms": _ms(started)}
    return {"ok": True, "ms": _ms(started)}


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis(url: str) -> None:
    client = redis.Redis.from_url(
        url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()
