"""Shared pieces of the security tests: receivers on real loopback sockets and the production
default for outbound requests (nothing but public addresses)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.api.conftest import api_as  # noqa: F401  (one token client fixture)


class Receiver:
    """An HTTP server on ``host`` answering every POST/GET with ``status``, ``body`` and
    ``headers``; records what it received."""

    def __init__(self, host="127.0.0.1", status=200, body=b"ok", headers=None):
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                receiver.requests.append((self.command, dict(self.headers), data))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.host, self.port = host, self.server.server_address[1]
        self.url = f"http://{host}:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def production_outbound(settings):
    """The production default: no private, loopback or link-local network is allowed."""
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    return settings
