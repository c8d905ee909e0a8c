"""End to end in headless Chromium: the real server (daphne), a real Celery worker, three browsers.

A moderator starts a session from the browser (htmx control button); alice and bob, each in a
browser of their own, post in turn and see each other's posts arrive over the WebSocket without
reloading; then a simulated agent takes its turn in the Celery worker, its reply streams into
alice's page token by token, and the final post replaces the streaming box in the transcript.

The server and the worker run as subprocesses against the pytest-django test database (the test
is transactional, so what it creates is committed and visible to them), on the same Redis, with a
Celery queue, a broker key prefix and a channel-layer prefix of their own.

Needs Debian's Chromium (``apt-get install chromium chromium-driver``; ``make test`` installs it
when run as root); skipped without it.
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

from deliberation.debates import services
from deliberation.debates.models import Participant

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
)
if CHROMIUM is None:
    pytest.skip(
        "Chromium is not installed: `apt-get install chromium chromium-driver` "
        "(or run `make test` as root, which installs it)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "test-artifacts"
PASSWORD = "pw-for-tests-123"  # what tests/conftest.py's make_user gives everyone
TIMEOUT_MS = 15_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# --- the server and the worker -----------------------------------------------------------------
def _test_database_env() -> dict[str, str]:
    """DATABASE_URL (and, rarely, PGHOST) naming the test database this process now uses."""
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}{':' + password if password else ''}@" if user else ""
    host = db.get("HOST") or ""
    env = {}
    if host.startswith("/") and host != host.lower():
        # dj-database-url lowercases the URL's host; libpq reads a socket directory from PGHOST.
        env["PGHOST"], host = host, ""
    host = quote(host, safe="")  # a socket directory: /run/pg -> %2Frun%2Fpg
    port = f":{db['PORT']}" if db.get("PORT") else ""
    options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
    query = f"?{urlencode(options)}" if options else ""
    env["DATABASE_URL"] = f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}{query}"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """Stop a process this test started (it leads a process group of its own)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_until(check, what: str, process: subprocess.Popen, log: Path, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what}: exited with {process.returncode}\n{_tail(log)}")
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what}: not ready after {timeout:.0f}s\n{_tail(log)}")


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def app_server(transactional_db, tmp_path):
    """daphne and a Celery worker in subprocesses, on the test database; yields the base URL."""
    tag = f"test-browser-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    env = {
        **os.environ,
        **_test_database_env(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "deliberation.settings",
        "DJANGO_DEBUG": "1",
        "DELIBERATION_DEV": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SIMULATED_TOKEN_DELAY": "0.05",
        "CHANNELS_PREFIX": tag,
        "CELERY_QUEUE": tag,
        "CELERY_KEY_PREFIX": f"{tag}:",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_BROKER_URL", None)  # the broker is the same Redis as everything else
    commands = {
        "daphne": [
            *(sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)),
            "deliberation.asgi:application",
        ],
        "celery": [
            *(sys.executable, "-m", "celery", "-A", "deliberation", "worker"),
            *("-Q", tag, "-n", f"{tag}@%h", "--pool=solo", "--concurrency=1"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"),
        ],
    }
    processes: dict[str, subprocess.Popen] = {}
    logs = {name: tmp_path / f"{name}.log" for name in commands}
    try:
        for name, command in commands.items():
            with logs[name].open("wb") as log:
                processes[name] = subprocess.Popen(
                    command,
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, stopped as a whole
                )
        base_url = f"http://127.0.0.1:{port}"
        _wait_until(
            lambda: _answers_http(f"{base_url}/accounts/login/"),
            "daphne",
            processes["daphne"],
            logs["daphne"],
        )
        _wait_until(
            lambda: " ready." in logs["celery"].read_text(errors="replace"),
            "celery worker",
            processes["celery"],
            logs["celery"],
        )
        yield base_url
    finally:
        # Before pytest-django empties the tables: nothing may hold a connection to them.
        for process in processes.values():
            _stop(process)
        for name, log in logs.items():  # shown by pytest when the test fails
            print(f"----- {name} log (tail) -----\n{_tail(log)}")
        _forget_broker_keys(settings.REDIS_URL, f"{tag}:")


def _forget_broker_keys(redis_url: str, prefix: str) -> None:
    import redis

    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _log_in(browser, base_url: str, username: str, next_path: str):
    """A browser context of its own, logged in through the real login page, at ``next_path``."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"/accounts/login/?next={quote(next_path)}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit].primary")
    page.wait_for_url(f"**{next_path}")
    # The WebSocket is up, so no broadcast from now on is missed.
    expect(page.locator("#connection")).to_have_attribute("data-state", "open", timeout=TIMEOUT_MS)
    # A marker that a reload would wipe: posts must arrive without one.
    page.evaluate("window.__notReloaded = true")
    return page


# Records every text the streaming box of an agent's turn shows as it grows, and whether the
# agent's final post was in the transcript yet.
WATCH_STREAM = """() => {
  window.__streamed = [];
  const live = document.getElementById("live-turns");
  new MutationObserver(() => {
    const box = live.querySelector("article.streaming .text");
    if (box) window.__streamed.push({
      text: box.textContent,
      posted: document.querySelector("#transcript article.by-agent") !== null,
    });
  }).observe(live, {childList: true, subtree: true, characterData: true});
}"""


def _post(page, text: str, answer: str, confidence: str) -> None:
    expect(page.locator("#your-turn")).to_be_visible(timeout=TIMEOUT_MS)
    page.fill("#post-text", text)
    page.select_option("#post-answer", answer)
    page.fill("#post-confidence", confidence)
    page.click("#post-submit")
    # Acknowledged: the server sent back a fresh, empty post box.
    expect(page.locator("#post-text")).to_have_value("", timeout=TIMEOUT_MS)


@pytest.fixture
def scenario(moderator, alice, bob, simulated_agent, debate):
    """A draft one-round session: alice speaks first, bob second, the agent last."""
    agent = simulated_agent(name="Sim Sage", seed=7)
    session = debate(agents=[agent], rounds=1, title="Browser debate")
    services.join_session(alice, session.invite_token)
    services.join_session(bob, session.invite_token)
    # Agents added at creation speak first; let the people speak first, the agent last.
    Participant.objects.filter(session=session, kind=Participant.Kind.AGENT).update(position=99)
    return session


# Playwright's sync API runs an event loop in this thread, where Django then refuses database
# queries: the data is created before the browser starts (fixture order), and the test itself
# checks everything through the pages.
def test_people_and_an_agent_debate_live_in_the_browser(app_server, scenario, browser):
    path = f"/sessions/{scenario.pk}/"

    mod_page = _log_in(browser, app_server, "mod", path)
    alice_page = _log_in(browser, app_server, "alice", path)
    bob_page = _log_in(browser, app_server, "bob", path)

    # The moderator starts the session with the htmx control; the new state reaches everyone.
    mod_page.click("#control-start")
    for page in (mod_page, alice_page, bob_page):
        expect(page.locator("#session-status")).to_have_attribute(
            "data-status", "running", timeout=TIMEOUT_MS
        )
    expect(alice_page.locator("#your-turn")).to_be_visible(timeout=TIMEOUT_MS)
    expect(bob_page.locator("#session-state")).to_contain_text("Speaking: alice")

    # alice posts; bob sees it arrive.
    alice_text = "Rayleigh scattering makes the daytime sky look blue."
    _post(alice_page, alice_text, "Yes", "0.9")
    alice_post = bob_page.locator("#transcript article.by-human", has_text=alice_text)
    expect(alice_post).to_be_visible(timeout=TIMEOUT_MS)
    expect(alice_post.locator(".author")).to_have_text("alice")
    expect(alice_post.locator(".answer")).to_contain_text("Answer: Yes · confidence 0.90")
    expect(alice_page.locator("#transcript article.mine", has_text=alice_text)).to_be_visible()

    # bob answers; then it is the agent's turn, which alice watches stream in.
    alice_page.evaluate(WATCH_STREAM)
    bob_text = "At sunset it is red, so the answer depends on the time of day."
    _post(bob_page, bob_text, "No", "0.55")
    expect(alice_page.locator("#transcript", has_text=bob_text)).to_be_visible(timeout=TIMEOUT_MS)

    streaming = alice_page.locator("#live-turns article.streaming")
    expect(streaming).to_be_visible(timeout=TIMEOUT_MS)
    expect(streaming.locator(".author")).to_have_text("Sim Sage")
    expect(streaming.locator(".text")).not_to_be_empty(timeout=TIMEOUT_MS)

    agent_post = alice_page.locator("#transcript article.by-agent")
    expect(agent_post).to_be_visible(timeout=TIMEOUT_MS)
    expect(agent_post.locator(".author")).to_have_text("Sim Sage")
    expect(agent_post.locator(".badge.agent")).to_have_text("agent")
    expect(streaming).to_have_count(0, timeout=TIMEOUT_MS)
    final_text = agent_post.locator(".text").inner_text()
    assert "ANSWER:" in final_text

    # Before the post landed, the streaming box grew through several partial texts, each a
    # prefix of the reply.
    samples = alice_page.evaluate("window.__streamed")
    streamed = [s["text"] for s in samples if s["text"].strip() and not s["posted"]]
    assert len({len(t) for t in streamed}) >= 3, samples
    reply = " ".join(final_text.split())
    assert all(reply.startswith(" ".join(t.split())) for t in streamed), (streamed, reply)
    assert len(" ".join(streamed[0].split())) < len(reply)

    # The round, and with it the one-round session, is over; the agent's post reached bob too.
    expect(bob_page.locator("#transcript article.by-agent .author")).to_have_text("Sim Sage")
    for page in (alice_page, bob_page):
        expect(page.locator("#session-status")).to_have_attribute(
            "data-status", "finished", timeout=TIMEOUT_MS
        )
    expect(mod_page.locator("#session-status")).to_have_attribute("data-status", "finished")
    for page in (mod_page, alice_page, bob_page):
        assert page.evaluate("window.__notReloaded === true")

    ARTIFACTS.mkdir(exist_ok=True)
    # A viewport as tall as the page, so that the sticky side panel and post box are drawn where
    # they are when the whole page fits on screen (not where the last scroll position left them).
    height = alice_page.evaluate("document.documentElement.scrollHeight")
    alice_page.set_viewport_size({"width": 1280, "height": height})
    alice_page.screenshot(path=str(ARTIFACTS / "session.png"), full_page=True)
