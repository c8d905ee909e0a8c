"""A backend for any server that speaks OpenAI's chat-completions API (OpenAI, vLLM, llama.cpp,
Ollama, LM Studio...).

It talks plain HTTP with ``httpx`` and parses the server-sent events by hand, so it depends on
the wire format only, not on an SDK. Transient failures (rate limits, overloaded or unreachable
servers, stalls) are retried here, with bounded exponential backoff, but only while nothing has
been streamed yet: once text has reached ``on_delta`` a retry would duplicate it in the browser,
so a stream cut off midway is reported to the caller, which restarts the whole turn.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import httpx

from deliberation import netguard

from .base import BackendError, Completion, CompletionRequest, DeltaCallback

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# The statuses OpenAI's own SDK retries: timeouts, conflicts, rate limits and server errors.
RETRYABLE_STATUSES = frozenset({408, 409, 429})
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 30.0


class _Transient(Exception):
    """A failure another attempt may fix, raised before any text was delivered."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class OpenAICompatibleBackend:
    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        backoff: float = 0.5,
    ):
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.api_key = api_key or None
        self.timeout = float(timeout) if timeout and timeout > 0 else 60.0
        self.max_retries = max(0, int(max_retries or 0))
        self.backoff = max(0.0, float(backoff))

    # -- public API -------------------------------------------------------------------------

    def complete(self, request: CompletionRequest, on_delta: DeltaCallback) -> Completion:
        """Stream one chat completion, retrying transient failures that happen before any text."""
        url = f"{self.base_url}/chat/completions"
        body = self._body(request)
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        # The read timeout applies between received bytes, so a server that stalls mid-stream
        # fails after ``timeout`` seconds of silence rather than hanging the worker.
        timeout = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))
        attempts = self.max_retries + 1
        # The guarded client checks the server's address after DNS resolution and connects to
        # the checked address (deliberation/netguard.py); it follows no redirects.
        with netguard.client(timeout=timeout) as client:
            for attempt in range(attempts):
                try:
                    return self._attempt(client, url, headers, body, request, on_delta)
                except _Transient as exc:
                    last = exc
                    if attempt + 1 < attempts:
                        time.sleep(self._delay(attempt, exc.retry_after))
        raise BackendError(
            f"{url}: giving up after {attempts} attempt{'s' if attempts > 1 else ''}: {last}",
            retryable=True,
            status=last.status,
        ) from last

    # -- internals --------------------------------------------------------------------------

    @staticmethod
    def _body(request: CompletionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            **request.parameters,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After when it gives one (capped), else jittered exponential."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        delay = min(self.backoff * 2**attempt, MAX_BACKOFF)
        return delay * (0.5 + random.random() / 2)  # jitter: agents hitting a limit spread out

    def _attempt(
        self,
        client: httpx.Client,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any],
        request: CompletionRequest,
        on_delta: DeltaCallback,
    ) -> Completion:
        """One HTTP request; raises :class:`_Transient` only while nothing has been delivered."""
        state = _StreamState(model=request.model)
        try:
            with client.stream("POST", url, json=body, headers=headers) as response:
                if response.status_code != 200:
                    self._raise_for_status(response)
                content_type = response.headers.get("content-type", "")
                if content_type.startswith("application/json"):
                    # The server ignored ``stream``: take the whole answer in one piece.
                    response.read()
                    return state.from_json(_parse_json(response.text), on_delta)
                state.consume(response.iter_lines(), on_delta)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            what = _describe(exc)
            if state.delivered:
                raise BackendError(
                    f"stream cut off after {state.delivered} characters ({what})",
                    retryable=True,
                ) from exc
            raise _Transient(what) from exc
        except httpx.ProxyError as exc:
            raise _Transient(_describe(exc)) from exc
        except netguard.OutboundRefused as exc:
            raise BackendError(f"base URL refused: {exc}", retryable=False) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # Unsupported scheme, malformed URL, broken encoding: no retry will help.
            raise BackendError(f"{url}: {_describe(exc)}", retryable=False) from exc
        if state.error is not None:
            message = f"server reported an error mid-stream: {state.error}"
            if state.delivered:
                raise BackendError(
                    f"stream cut off after {state.delivered} characters ({message})",
                    retryable=True,
                )
            raise _Transient(message)
        if not state.done and state.finish_reason is None:
            if state.delivered:
                raise BackendError(
                    f"stream cut off after {state.delivered} characters "
                    "(ended without [DONE] or a finish_reason)",
                    retryable=True,
                )
            raise _Transient("stream ended before any content and without [DONE]")
        return state.completion()

    @staticmethod
    def _raise_for_status(response: httpx.Response) -> None:
        status = response.status_code
        try:
            response.read()
            detail = _error_message(response.text)
        except httpx.HTTPError:
            detail = ""
        message = f"HTTP {status} {response.reason_phrase}".rstrip()
        if detail:
            message += f": {detail}"
        if status in RETRYABLE_STATUSES or status >= 500:
            raise _Transient(message, status=status, retry_after=_retry_after(response.headers))
        raise BackendError(message, retryable=False, status=status)


class _StreamState:
    """Accumulates one streamed answer from OpenAI ``chat.completion.chunk`` objects."""

    def __init__(self, model: str):
        self.model = model
        self.parts: list[str] = []
        self.delivered = 0  # characters handed to on_delta
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.finish_reason: str | None = None
        self.done = False
        self.error: str | None = None
        self._model_seen = False

    def consume(self, lines, on_delta: DeltaCallback) -> None:
        """Parse SSE lines: ``data:`` fields joined per event, blank line ends an event, ``:``
        starts a comment, other fields are ignored, ``data: [DONE]`` ends the stream. A partial
        event at end of stream is dropped, as the SSE spec says, and shows up as a cut-off."""
        data: list[str] = []
        for line in lines:
            if line == "":
                if data:
                    payload = "\n".join(data)
                    data = []
                    if payload.strip() == "[DONE]":
                        self.done = True
                        return
                    self.chunk(_parse_json(payload), on_delta)
                    if self.error is not None:
                        return
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if field == "data":
                data.append(value[1:] if value.startswith(" ") else value)

    def chunk(self, chunk: Any, on_delta: DeltaCallback) -> None:
        if not isinstance(chunk, dict):
            raise BackendError(
                f"malformed stream chunk (not an object): {chunk!r:.200}", retryable=False
            )
        if chunk.get("error"):
            self.error = _error_text(chunk["error"])
            return
        if chunk.get("model") and not self._model_seen:
            self.model, self._model_seen = chunk["model"], True
        choice = _first_choice(chunk)
        if choice is not None:
            delta = choice.get("delta") or {}
            text = delta.get("content") if isinstance(delta, dict) else None
            if text:
                self.parts.append(text)
                self.delivered += len(text)
                on_delta(text)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        self.usage(chunk.get("usage"))

    def from_json(self, body: Any, on_delta: DeltaCallback) -> Completion:
        """A non-streamed ``chat.completion`` object, delivered as a single delta."""
        if not isinstance(body, dict):
            raise BackendError(
                f"malformed response (not an object): {body!r:.200}", retryable=False
            )
        if body.get("error"):
            raise _Transient(f"server reported an error: {_error_text(body['error'])}")
        if body.get("model"):
            self.model = body["model"]
        choice = _first_choice(body) or {}
        message = choice.get("message") or {}
        text = message.get("content") if isinstance(message, dict) else None
        if text:
            self.parts.append(text)
            self.delivered += len(text)
            on_delta(text)
        self.finish_reason = choice.get("finish_reason")
        self.usage(body.get("usage"))
        return self.completion()

    def usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self.prompt_tokens = usage.get("prompt_tokens", self.prompt_tokens)
            self.completion_tokens = usage.get("completion_tokens", self.completion_tokens)

    def completion(self) -> Completion:
        return Completion(
            text="".join(self.parts),
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            finish_reason=self.finish_reason,
        )


def _first_choice(obj: dict) -> dict | None:
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices:
        return None
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return None


def _parse_json(payload: str) -> Any:
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise BackendError(
            f"malformed JSON from server ({exc}): {payload[:200]!r}", retryable=False
        ) from exc


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _error_message(text: str) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the start of the body."""
    try:
        body = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300]
    if isinstance(body, dict) and body.get("error"):
        return _error_text(body["error"])[:500]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:500]
    return text.strip()[:300]


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from ``retry-after-ms`` or a numeric ``Retry-After``; HTTP dates are ignored."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) * scale
        except ValueError:
            continue
    return None


def _describe(exc: Exception) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
