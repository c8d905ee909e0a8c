"""The moderator page updates live in headless Chromium as a debater posts (no reload).

The real server (daphne) runs as a subprocess on the pytest-django test database, as in
tests/test_browser.py; the session has people only, so no Celery worker is needed. The debater
posts from their own logged-in browser through the session WebSocket's JSON protocol; the
moderator's page, connected to ``/ws/sessions/<id>/moderator/?format=html``, swaps in the new
metrics panel (counts, charts) each time.

Needs Debian's Chromium (``apt-get install chromium``); skipped without it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings

from deliberation.debates import controls, services
from deliberation.debates.models import Participant

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
)
if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-for-tests-123"  # what tests/conftest.py's make_user gives everyone
TIMEOUT_MS = 15_000


def _database_env() -> dict[str, str]:
    """DATABASE_URL naming the test database this process uses (so the server shares it)."""
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}{':' + password if password else ''}@" if user else ""
    host, env = db.get("HOST") or "", {}
    if host.startswith("/") and host != host.lower():
        env["PGHOST"], host = host, ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
    query = f"?{urlencode(options)}" if options else ""
    name = quote(db["NAME"], safe="")
    env["DATABASE_URL"] = f"postgres://{auth}{quote(host, safe='')}{port}/{name}{query}"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def server(transactional_db, tmp_path):
    """daphne in a process group of its own; yields the base URL; stopped and cleaned after."""
    tag = f"test-moderation-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    env = {
        **os.environ,
        **_database_env(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "deliberation.settings",
        "DJANGO_DEBUG": "1",
        "DELIBERATION_DEV": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CHANNELS_PREFIX": tag,
        "CELERY_QUEUE": tag,
        "CELERY_KEY_PREFIX": f"{tag}:",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_BROKER_URL", None)
    log = tmp_path / "daphne.log"
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "deliberation.asgi:application"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"{base_url}/accounts/login/"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"daphne did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield base_url
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        print(f"----- daphne log (tail) -----\n{log.read_text(errors='replace')[-3000:]}")
        _forget_keys(f"{tag}:")


def _forget_keys(prefix: str) -> None:
    """Deadline tasks the server enqueued under this test's broker prefix (no worker runs)."""
    import redis

    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def scenario(moderator, alice, bob):
    """A running two-round session of alice and bob (simultaneous rounds)."""
    session = services.create_session(
        moderator=moderator,
        title="Watched live",
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol="simultaneous",
        protocol_settings={"rounds": 2, "turn_seconds": 3600},
    )
    services.join_session(alice, session.invite_token)
    services.join_session(bob, session.invite_token)
    controls.control(session.participants.get(role=Participant.Role.MODERATOR), "start")
    return session


def _log_in(browser, base_url: str, username: str, next_path: str):
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"/accounts/login/?next={quote(next_path)}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"**{next_path}")
    return page


# Post as this browser's user through the session socket (the documented JSON protocol), and
# resolve once the server acknowledges the stored post.
POST = """async ([sessionId, text, answer, confidence]) => {
  const ws = new WebSocket(`ws://${location.host}/ws/sessions/${sessionId}/?format=json`);
  return await new Promise((resolve, reject) => {
    ws.onopen = () => ws.send(JSON.stringify(
      {type: "post", text, answer, confidence, client_msg_id: crypto.randomUUID()}));
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "ack") { ws.close(); resolve(m.seq); }
      if (m.type === "error") { ws.close(); reject(new Error(m.message)); }
    };
    ws.onerror = () => reject(new Error("socket error"));
  });
}"""


def test_the_moderator_page_updates_live_as_debaters_post(server, scenario):
    path = f"/moderation/sessions/{scenario.pk}/"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            mod = _log_in(browser, server, "mod", path)
            expect(mod.locator("#metrics-connection")).to_have_attribute("data-state", "open")
            mod.evaluate("window.__notReloaded = true")
            answers = mod.locator('[data-metric="answers-1"]')
            expect(answers).to_have_text("0")
            alice = _log_in(browser, server, "alice", f"/sessions/{scenario.pk}/")
            bob = _log_in(browser, server, "bob", f"/sessions/{scenario.pk}/")

            alice.evaluate(POST, [scenario.pk, "Rayleigh scattering.", "Yes", 0.9])
            expect(answers).to_have_text("1")
            bars = mod.locator('#chart-distribution g[data-round="1"] rect')
            expect(bars).to_have_count(1)
            expect(mod.locator('[data-metric="top-share-1"]')).to_have_text("1.000")

            bob.evaluate(POST, [scenario.pk, "Sunsets are red.", "No", 0.6])
            expect(answers).to_have_text("2")
            expect(bars).to_have_count(2)
            expect(mod.locator('[data-metric="entropy-1"]')).to_have_text("1.000")
            # Round 2 opened; plurality ties while ReConcile picks the confident "Yes".
            expect(mod.locator('tr[data-round="2"]')).to_be_visible()
            expect(mod.locator("#rules-disagree")).to_be_visible()
            points = mod.locator('#chart-agreement g[data-series="normalised_entropy"] circle')
            expect(points).to_have_count(1)
            assert mod.evaluate("window.__notReloaded === true")
            (REPO_ROOT / "test-artifacts").mkdir(exist_ok=True)
            mod.screenshot(path=str(REPO_ROOT / "test-artifacts" / "moderator.png"), full_page=True)
        finally:
            browser.close()
