"""A fake OpenAI-compatible chat-completions server for tests.

It is a real HTTP/1.1 socket server on 127.0.0.1 (standard library only, one thread per
connection) speaking the real wire format: ``text/event-stream`` bodies in chunked transfer
encoding made of ``data: {chat.completion.chunk}`` events, an optional usage chunk and
``data: [DONE]``. Tests script its behaviour one request at a time::

    fake_openai.script(
        ("status", 429, "0"),          # HTTP 429 with Retry-After: 0
        ("ok", ["Hel", "lo"]),         # stream "Hello" in two pieces
    )

Behaviours (consumed one per request; when the queue is empty every request gets
``("ok", DEFAULT_PIECES)``):

- ``("ok", pieces)`` or ``("ok", pieces, finish_reason)``: a normal stream.
- ``("status", code)``, ``("status", code, retry_after)``, ``("status", code, retry_after,
  message)``: an OpenAI-style JSON error; ``retry_after`` (a string) sets ``Retry-After``.
- ``("stall", seconds)`` or ``("stall", seconds, pieces)``: send the headers (and the given
  pieces), then send nothing for ``seconds`` and close.
- ``("stall_headers", seconds)``: wait ``seconds`` before answering at all, then close.
- ``("cutoff", pieces)``: send the pieces, then drop the connection mid-body (no [DONE], no
  final chunk terminator), as a crashed or restarted server does.
- ``("truncated", pieces)``: send the pieces, then end the body cleanly but without a
  finish_reason or [DONE].
- ``("malformed", pieces)``: send the pieces, then an event whose data is not JSON.

Every request is recorded in ``.requests`` (path, lower-cased headers, parsed JSON body).
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

DEFAULT_PIECES = ["Hello", " from", " the", " fake", " server."]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None
    raw: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)


class FakeOpenAI:
    """The server plus its script; use as a context manager or via the ``fake_openai`` fixture."""

    def __init__(self):
        self.requests: list[RecordedRequest] = []
        self._script: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *behaviours: tuple) -> None:
        for behaviour in behaviours:
            if not isinstance(behaviour, tuple) or not behaviour:
                raise ValueError(f"a behaviour is a non-empty tuple, not {behaviour!r}")
            self._script.put(behaviour)

    def next_behaviour(self) -> tuple:
        try:
            return self._script.get_nowait()
        except queue.Empty:
            return ("ok", DEFAULT_PIECES)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops so teardown never waits on a stall."""
        self._stop.wait(seconds)

    def start(self) -> FakeOpenAI:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, like real API servers
    server_version = "fake-openai/1.0"

    def log_message(self, format, *args):  # quiet: tests need no access log
        pass

    @property
    def fake(self) -> FakeOpenAI:
        return self.server.fake  # type: ignore[attr-defined]

    # -- routing -------------------------------------------------------------------------------

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.fake.record(
            RecordedRequest(
                method="POST",
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw=raw,
            )
        )
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self.send_json(404, _error(f"no route for {self.path}", "not_found"))
        if not isinstance(body, dict):
            return self.send_json(400, _error("request body is not a JSON object"))
        behaviour = self.fake.next_behaviour()
        kind, args = behaviour[0], behaviour[1:]
        handler = getattr(self, f"behave_{kind}", None)
        if handler is None:
            raise ValueError(f"unknown fake_openai behaviour {behaviour!r}")
        handler(body, *args)

    def do_GET(self):
        self.send_json(404, _error(f"no route for {self.path}", "not_found"))

    # -- behaviours ----------------------------------------------------------------------------

    def behave_ok(self, body, pieces=DEFAULT_PIECES, finish_reason="stop"):
        if not body.get("stream"):
            return self.send_json(200, self.completion_object(body, pieces, finish_reason))
        self.start_stream()
        self.send_pieces(body, pieces)
        self.send_event(self.chunk(body, {}, finish_reason=finish_reason))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = self.chunk(body, None)
            usage["usage"] = self.usage(body, pieces)
            self.send_event(usage)
        self.send_event("[DONE]")
        self.end_stream()

    def behave_status(self, body, status, retry_after=None, message=None):
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        kinds = {429: "rate_limit_exceeded", 401: "invalid_api_key", 400: "invalid_request_error"}
        message = message or f"fake error {status}"
        self.send_json(status, _error(message, kinds.get(status, "server_error")), headers)

    def behave_stall(self, body, seconds, pieces=()):
        self.start_stream()
        self.send_pieces(body, pieces)
        self.fake.sleep(seconds)
        self.drop()

    def behave_stall_headers(self, body, seconds):
        self.fake.sleep(seconds)
        self.drop()

    def behave_cutoff(self, body, pieces):
        self.start_stream()
        self.send_pieces(body, pieces)
        self.drop()

    def behave_truncated(self, body, pieces):
        self.start_stream()
        self.send_pieces(body, pieces)
        self.end_stream()

    def behave_malformed(self, body, pieces=()):
        self.start_stream()
        self.send_pieces(body, pieces)
        self.write_chunk(b'data: {"id": "chatcmpl-fake", "choices": [\n\n')
        self.end_stream()

    # -- wire format ---------------------------------------------------------------------------

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        # A comment line, as some servers send to keep proxies from buffering.
        self.write_chunk(b": ok\n\n")

    def send_pieces(self, body, pieces):
        self.send_event(self.chunk(body, {"role": "assistant", "content": ""}))
        for piece in pieces:
            self.send_event(self.chunk(body, {"content": piece}))

    def send_event(self, data):
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        self.write_chunk(f"data: {payload}\n\n".encode())

    def write_chunk(self, data: bytes):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def drop(self):
        """Close the socket abruptly, mid-response."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send_json(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    # -- OpenAI objects ------------------------------------------------------------------------

    def chunk(self, body, delta, finish_reason=None):
        choices = (
            []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        )
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model") or "fake-model",
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }

    @staticmethod
    def usage(body, pieces):
        prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        return {
            "prompt_tokens": prompt,
            "completion_tokens": len(pieces),
            "total_tokens": prompt + len(pieces),
        }

    def completion_object(self, body, pieces, finish_reason):
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or "fake-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(pieces)},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": self.usage(body, pieces),
        }


def _error(message: str, code: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": code, "param": None, "code": code}}


@pytest.fixture
def fake_openai():
    """A running :class:`FakeOpenAI`; ``.base_url``, ``.script(*behaviours)``, ``.requests``."""
    with FakeOpenAI() as server:
        yield server
