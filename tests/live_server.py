"""The real app for browser tests: daphne (and a Celery worker) as subprocesses on the test
database, and headless Chromium.

The processes share the pytest-django test database (browser tests are transactional, so what
they create is committed and visible to the server) and Redis, with a Celery queue, a broker key
prefix and a channel-layer prefix of their own. Each runs in a process group of its own and is
stopped as a whole.

Needs Debian's Chromium (``apt-get install chromium chromium-driver``; ``make test`` installs it
when run as root): :data:`CHROMIUM` is None without it, and the browser modules skip.
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
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
)
REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("BROWSER_SCREENSHOTS") or REPO_ROOT / "test-artifacts")
PASSWORD = "pw-for-tests-123"  # what tests/conftest.py's make_user gives everyone
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def database_env() -> dict[str, str]:
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Stop a process started here (it leads a process group of its own)."""
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


def tail(path: Path, lines: int = 60, start: int = 0) -> str:
    try:
        with path.open("rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(check, what: str, process: subprocess.Popen, log: Path, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what}: exited with {process.returncode}\n{tail(log)}")
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what}: not ready after {timeout:.0f}s\n{tail(log)}")


def answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def forget_broker_keys(prefix: str) -> None:
    """Delete what the processes left under their own key prefix in Redis."""
    import redis

    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@dataclass
class Servers:
    base_url: str
    processes: dict[str, subprocess.Popen]
    logs: dict[str, Path]

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}\n{tail(self.logs[name])}")

    def log_offsets(self) -> dict[str, int]:
        return {name: log.stat().st_size for name, log in self.logs.items()}

    def print_logs(self, offsets: dict[str, int]) -> None:
        """The logs written since ``offsets`` (pytest shows them when the test fails)."""
        for name, log in self.logs.items():
            print(f"----- {name} log of this test (tail) -----\n{tail(log, 80, offsets[name])}")


@contextlib.contextmanager
def run_servers(log_dir: Path, *, worker: bool = True, **extra_env: str):
    """Start daphne (and a Celery worker) on the test database; yield :class:`Servers`."""
    tag = f"test-browser-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        **os.environ,
        **database_env(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "deliberation.settings",
        "DJANGO_DEBUG": "1",
        "DELIBERATION_DEV": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CHANNELS_PREFIX": tag,
        "CELERY_QUEUE": tag,
        "CELERY_KEY_PREFIX": f"{tag}:",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    env.pop("CELERY_BROKER_URL", None)  # the broker is the same Redis as everything else
    commands = {
        "daphne": [
            *(sys.executable, "-m", "daphne", "--no-server-name"),
            *("-b", "127.0.0.1", "-p", str(port)),
            "deliberation.asgi:application",
        ],
    }
    if worker:
        commands["celery"] = [
            *(sys.executable, "-m", "celery", "-A", "deliberation", "worker"),
            *("-Q", tag, "-n", f"{tag}@%h", "--pool=solo", "--concurrency=1"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"),
        ]
    processes: dict[str, subprocess.Popen] = {}
    logs = {name: log_dir / f"{name}.log" for name in commands}
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
                    start_new_session=True,
                )
        base_url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: answers_http(f"{base_url}/accounts/login/"),
            "daphne",
            processes["daphne"],
            logs["daphne"],
        )
        if worker:
            wait_until(
                lambda: " ready." in logs["celery"].read_text(errors="replace"),
                "celery worker",
                processes["celery"],
                logs["celery"],
            )
        yield Servers(base_url, processes, logs)
    finally:
        for process in processes.values():
            stop(process)
        forget_broker_keys(f"{tag}:")


@contextlib.contextmanager
def chromium():
    """Headless Chromium. Playwright's sync API runs an event loop in this thread, where Django
    then refuses database queries: create test data first, then start the browser."""
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page, name: str) -> None:
    """The whole page, with a viewport as tall as the page (sticky panels drawn in place)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def log_in(browser, base_url: str, username: str, next_path: str, *, timeout_ms: int = 15_000):
    """A browser context of its own, logged in through the real login page, at ``next_path``."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(timeout_ms)
    page = context.new_page()
    page.goto(f"/accounts/login/?next={quote(next_path)}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"**{next_path}")
    return page


@contextlib.contextmanager
def daphne_only(tmp_path: Path):
    """For one test: daphne without a worker; yields the base URL, prints its log after."""
    with run_servers(tmp_path, worker=False) as running:
        offsets = running.log_offsets()
        yield running.base_url
        running.print_logs(offsets)
