"""Security headers: Content-Security-Policy and Permissions-Policy on every page, no inline
script or style in any page, and production settings that pass ``check --deploy``.

The pages are generated from the URL conf: every route is requested (as a superuser who owns
every object, and anonymously) with its parameters filled from real objects, so a new page is
covered without being listed here. The production settings are checked in subprocesses with a
production environment (no DJANGO_DEBUG, no DELIBERATION_DEV), as a deployment would run them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from deliberation.annotation import importing
from deliberation.annotation.models import Item, Project
from deliberation.api import tokens
from deliberation.batches import services as batches
from deliberation.debates import services
from deliberation.webhooks.models import Webhook

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
ROUTE_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def routes(patterns=None, prefix: str = "", namespace: str = ""):
    """(route, name) for every URL pattern; regex routes keep their regex."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            ns = namespace + (f"{p.namespace}:" if p.namespace else "")
            yield from routes(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), namespace + (p.name or "")


@pytest.fixture
def world(make_user, simulated_agent):
    """One object of each kind, owned by a superuser; ids by the route prefix that needs them."""
    root = get_user_model().objects.create_superuser("root", "root@example.org", "pw-12345-xyz")
    agent = simulated_agent("Header agent")
    session = services.create_session(
        moderator=root,
        title="Headers",
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol="simultaneous",
        protocol_settings={"rounds": 1},
    )
    services.join_session(make_user("debater"), session.invite_token)
    project = Project.objects.create(name="Headers", options=["0", "1"], owner=root)
    item = Item.objects.create(project=project, external_id="a", position=0, data={"t": 1})
    job = importing.create_import(project, b'{"id": "b", "t": 2}', "items.jsonl", {}, root)
    run = batches.create_run(
        user=root,
        name="headers",
        questions=[batches.Question("q?", ["a", "b"], "a")],
        protocol="vote_only",
        agents=[agent],
    )
    hook = Webhook.objects.create(owner=root, url="https://example.org/hook", events=[])
    token, _ = tokens.issue(root, "headers")
    pk_by_prefix = {
        "annotation/": project.pk,
        "api/v1/projects/": project.pk,
        "batches/": run.pk,
        "api/v1/batches/": run.pk,
        "webhooks/": hook.pk,
        "api/tokens/": token.pk,
        "api/v1/agent-profiles/": agent.pk,
        "admin/": session.pk,
    }
    values = {
        "item_pk": item.pk,
        "job_pk": job.pk,
        "run_pk": 1,
        "fmt": "jsonl",
        "kind": "labels_csv",
        "token": session.invite_token,
        "action": "start",
        "object_id": session.pk,
        "content_type_id": 1,
        "id": root.pk,
    }
    return root, session, pk_by_prefix, values


def fill(route: str, pk_by_prefix: dict, values: dict, session_pk: int) -> str | None:
    if route.startswith("admin/^"):  # the admin's app index
        return "/admin/debates/"
    if "(?P<url>" in route:  # the admin's catch-all
        return "/admin/no-such-page/"

    def value(m: re.Match) -> str:
        if m["name"] == "pk":
            prefix = max((p for p in pk_by_prefix if route.startswith(p)), key=len, default=None)
            return str(pk_by_prefix[prefix] if prefix else session_pk)
        return str(values[m["name"]])

    return "/" + ROUTE_PARAM.sub(value, route)


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
EVENT_HANDLER = re.compile(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", re.S)
STYLE_ATTRIBUTE = re.compile(r"<[a-zA-Z][^>]*\sstyle\s*=", re.S)


def directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        name, *sources = part.split()
        out[name] = sources
    return out


def check_policy(response, path: str) -> None:
    header = response.get("Content-Security-Policy")
    assert header, f"{path}: no Content-Security-Policy"
    csp = directives(header)
    assert csp["script-src"][0] == "'self'", (path, header)
    assert not {"'unsafe-inline'", "'unsafe-eval'"} & set(csp["script-src"]), (path, header)
    assert not {"'unsafe-inline'"} & set(csp["style-src"]), (path, header)
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"], (path, header)
    assert csp["frame-ancestors"] == ["'none'"], (path, header)
    assert csp["default-src"] == ["'self'"], (path, header)
    assert csp["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"], header
    assert "camera=()" in response.get("Permissions-Policy", ""), path


def test_every_page_has_the_policy_and_no_inline_script_or_style(world):
    root, session, pk_by_prefix, values = world
    signed_in, anonymous = Client(), Client()
    signed_in.force_login(root)
    all_routes = list(routes())
    assert len(all_routes) > 100
    html_pages = {}
    for route, name in all_routes:
        path = fill(route, pk_by_prefix, values, session.pk)
        for client in (signed_in, anonymous):
            response = client.get(path)
            check_policy(response, path)
            html = response.get("Content-Type", "").startswith("text/html")
            if client is signed_in and response.status_code == 200 and html:
                html_pages[name] = (path, response)
    for name, (path, response) in html_pages.items():
        html = response.content.decode()
        header = response["Content-Security-Policy"]
        if name == "api:docs":  # drf-spectacular's page: inline parts carry the nonce
            nonce = re.search(r"'nonce-([^']+)'", header)[1]
            assert html.count(f'nonce="{nonce}"') == 2, html
            assert len(INLINE_SCRIPT.findall(html)) == 1  # the one with the nonce
            continue
        assert "nonce-" not in header, (path, header)
        assert not INLINE_SCRIPT.findall(html), (path, INLINE_SCRIPT.findall(html))
        assert not EVENT_HANDLER.findall(html), (path, EVENT_HANDLER.findall(html))
        assert not STYLE_ATTRIBUTE.findall(html), (path, STYLE_ATTRIBUTE.findall(html))
        assert "<style" not in html and "hx-on" not in html, path
    # The pages people work on were among them (the walk filled their parameters right).
    for name in (
        "debates:session_list",
        "debates:session_create",
        "debates:session_detail",
        "moderation:queue",
        "moderation:session",
        "review:replay",
        "annotation:project_list",
        "annotation:project_detail",
        "annotation:import_detail",
        "batches:list",
        "batches:detail",
        "webhooks:list",
        "api:tokens",
        "api:docs",
        "admin:index",
        "admin:debates_debatesession_change",
    ):
        assert name in html_pages, (name, sorted(html_pages))
    login = Client().get("/accounts/login/")
    assert login.status_code == 200
    check_policy(login, "/accounts/login/")


def test_the_nonce_is_new_for_every_request_and_only_on_the_api_explorer(world):
    root = world[0]
    client = Client()
    client.force_login(root)
    nonces = {
        re.search(r"'nonce-([^']+)'", client.get("/api/v1/docs/")["Content-Security-Policy"])[1]
        for _ in range(3)
    }
    assert len(nonces) == 3
    assert "nonce-" not in client.get("/")["Content-Security-Policy"]


def test_websocket_origins_follow_the_request(world, settings):
    settings.ALLOWED_HOSTS = ["deliberation.example.org"]
    client = Client()
    client.force_login(world[0])
    plain = client.get("/", HTTP_HOST="deliberation.example.org")
    secure = client.get("/", HTTP_HOST="deliberation.example.org", secure=True)
    assert directives(plain["Content-Security-Policy"])["connect-src"] == [
        "'self'",
        "ws://deliberation.example.org",
        "wss://deliberation.example.org",
    ]
    assert directives(secure["Content-Security-Policy"])["connect-src"] == [
        "'self'",
        "wss://deliberation.example.org",
    ]


# --- production settings ------------------------------------------------------------------------
def production_env(**extra: str) -> dict[str, str]:
    """What a deployment sets: a real secret key, its host, the services; nothing else."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DELIBERATION_", "SECURE_", "BEHIND_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="deliberation.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
        DJANGO_ALLOWED_HOSTS="deliberation.example.org",
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=os.environ["REDIS_URL"],
        **extra,
    )
    return env


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout, result.stdout + result.stderr


PROBE = """
import json, django
django.setup()
from django.test import Client
out = {}
for name, kwargs in {
    "http": {},
    "https": {"secure": True},
    "proxied": {"HTTP_X_FORWARDED_PROTO": "https"},
}.items():
    r = Client().get("/accounts/login/", HTTP_HOST="deliberation.example.org", **kwargs)
    out[name] = {
        "status": r.status_code,
        "location": r.get("Location"),
        "headers": dict(r.headers),
        "cookies": {k: {"secure": bool(v["secure"])} for k, v in r.cookies.items()},
    }
print(json.dumps(out))
"""


def probe(**env: str) -> dict:
    # Templates resolve static files without a collectstatic manifest in this probe.
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env=production_env(STATIC_MANIFEST="0", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_redirects_to_https_and_sends_hsts_and_secure_cookies():
    out = probe()
    assert out["http"]["status"] == 301
    assert out["http"]["location"] == "https://deliberation.example.org/accounts/login/"
    assert "Strict-Transport-Security" not in out["http"]["headers"]  # only over HTTPS
    https = out["https"]
    assert https["status"] == 200
    headers = https["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "camera=()" in headers["Permissions-Policy"]
    csp = directives(headers["Content-Security-Policy"])
    assert csp["connect-src"] == ["'self'", "wss://deliberation.example.org"]
    assert https["cookies"]["csrftoken"]["secure"] is True
    # Without BEHIND_TLS_PROXY a client's X-Forwarded-Proto is not believed.
    assert out["proxied"]["status"] == 301


def test_behind_a_tls_proxy_and_every_setting_from_the_environment():
    out = probe(BEHIND_TLS_PROXY="1", DJANGO_SECURE_HSTS_SECONDS="600")
    assert out["proxied"]["status"] == 200
    assert out["proxied"]["headers"]["Strict-Transport-Security"] == (
        "max-age=600; includeSubDomains; preload"
    )
    # A plain-HTTP trial: DELIBERATION_HTTPS=0 turns the HTTPS defaults off at once.
    out = probe(DELIBERATION_HTTPS="0")
    assert out["http"]["status"] == 200
    assert out["http"]["cookies"]["csrftoken"]["secure"] is False
    assert "Strict-Transport-Security" not in out["https"]["headers"]


def test_developer_mode_keeps_plain_http_working(client, settings):
    """`make demo` and the tests run over http://127.0.0.1: no redirect, no Secure cookies."""
    assert settings.SECURE_SSL_REDIRECT is False
    assert settings.SESSION_COOKIE_SECURE is False and settings.CSRF_COOKIE_SECURE is False
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert not response.cookies["csrftoken"]["secure"]
