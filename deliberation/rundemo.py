"""Run the demo: prepare the database, then supervise the web server and a Celery worker.

    python -m deliberation.rundemo

Needs ``DATABASE_URL`` and ``REDIS_URL``; ``make demo`` runs it under ``deliberation.embedded``,
which provides both. Runs ``migrate``, ``collectstatic`` and ``seed_demo``, starts daphne (bound
to ``DEMO_HOST``:``DEMO_PORT``, default 127.0.0.1:8000) and a Celery worker, prints the URL to open
once the server answers, and stops both on Ctrl-C or SIGTERM. If either dies, the other is stopped
and the exit status is non-zero. ``DJANGO_DEBUG`` defaults to 1 here.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deliberation.embedded import die_with_parent

REPO_ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(REPO_ROOT / "manage.py")]
STOP_TIMEOUT = 20  # seconds each child gets to stop before it is killed


class Stop(Exception):
    """Raised by the signal handler: the user asked us to stop."""


def _on_signal(signum, _frame):
    raise Stop(signal.Signals(signum).name)


def manage(*args: str, capture: bool = False) -> str:
    """Run a management command (output shown); exit if it fails."""
    command = [*MANAGE, *args]
    result = subprocess.run(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE if capture else None, text=True
    )
    if capture and result.stdout:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
    if result.returncode != 0:
        print(f"rundemo: `manage.py {' '.join(args)}` failed", file=sys.stderr)
        sys.exit(result.returncode)
    return result.stdout or ""


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _answers_http(host: str, port: int) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", "/", headers={"Host": "localhost"})
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


def _start(name: str, command: list[str]) -> subprocess.Popen:
    # Own process group: a terminal Ctrl-C reaches us only, and we stop the children in order.
    print(f"rundemo: starting {name}: {' '.join(command[1:])}", flush=True)
    return subprocess.Popen(
        command, cwd=REPO_ROOT, start_new_session=True, preexec_fn=die_with_parent()
    )


def _stop(children: dict[str, subprocess.Popen]) -> None:
    running = {name: proc for name, proc in children.items() if proc.poll() is None}
    for proc in running.values():
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for name, proc in running.items():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"rundemo: {name} did not stop in {STOP_TIMEOUT}s, killing it", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _banner(url: str, seed_output: str) -> str:
    lines = ["", "=" * 72, f"  deliberation demo is running: open {url}", ""]
    for line in seed_output.strip().splitlines():
        stripped = line.strip()
        if stripped.startswith(("Demo session:", "Demo project:", "HTTP API:")):
            # seed_demo prints paths; show them as links on this server
            line = line.replace(" /", " " + url.rstrip("/") + "/")
        lines.append(f"  {line}")
    lines += ["", "  Ctrl-C stops the web server and the worker.", "=" * 72, ""]
    return "\n".join(lines)


def main() -> int:
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deliberation.settings")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            print(
                f"rundemo: {name} is not set; run `make demo`, or "
                "`python -m deliberation.embedded -- python -m deliberation.rundemo`.",
                file=sys.stderr,
            )
            return 2
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    port = int(os.environ.get("DEMO_PORT", "8000"))
    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    shown_host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown_host and not shown_host.startswith("["):
        shown_host = f"[{shown_host}]"
    url = f"http://{shown_host}:{port}/"

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    children: dict[str, subprocess.Popen] = {}
    try:
        if _port_in_use(host, port):
            print(f"rundemo: {host}:{port} is in use; set DEMO_PORT to another port.", flush=True)
            return 1
        manage("migrate", "--noinput")
        # Always: WhiteNoise serves STATIC_ROOT, and collecting unchanged files is quick.
        manage("collectstatic", "--noinput", "--verbosity", "0")
        seed_output = manage("seed_demo", capture=True)

        web = [sys.executable, "-m", "daphne", "--no-server-name", "-b", host, "-p", str(port)]
        children["web"] = _start("web server", [*web, "deliberation.asgi:application"])
        queue = os.environ.get("CELERY_QUEUE", "deliberation")
        worker = [sys.executable, "-m", "celery", "-A", "deliberation", "worker", "-Q", queue]
        beat = ["--beat", "--schedule", str(Path(tempfile.gettempdir()) / "deliberation-beat")]
        children["worker"] = _start(
            "worker", [*worker, *beat, "--loglevel=INFO", "--concurrency=2"]
        )

        deadline = time.monotonic() + 60
        while not _answers_http(probe_host, port):
            if children["web"].poll() is not None:
                break
            if time.monotonic() > deadline:
                print(f"rundemo: the web server did not answer on {url} in 60s", file=sys.stderr)
                return 1
            time.sleep(0.2)
        else:
            print(_banner(url, seed_output), flush=True)

        while True:
            for name, proc in children.items():
                if proc.poll() is not None:
                    print(
                        f"rundemo: the {name} exited (status {proc.returncode}); stopping.",
                        file=sys.stderr,
                        flush=True,
                    )
                    code = proc.returncode
                    return 128 - code if code < 0 else code or 1
            time.sleep(0.5)
    except Stop as stop:
        print(f"\nrundemo: {stop}: stopping the web server and the worker...", flush=True)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # stopping is not interrupted by a second Ctrl-C
        _stop(children)


if __name__ == "__main__":
    sys.exit(main())
