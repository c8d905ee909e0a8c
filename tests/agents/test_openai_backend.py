"""The OpenAI-compatible backend against a real (fake) HTTP server: streaming, request shape,
retries before the first delta, and cut-off streams reported to the caller."""

from __future__ import annotations

import socket
import time

import pytest

from deliberation.agents.backends.base import BackendError, CompletionRequest
from deliberation.agents.backends.openai import OpenAICompatibleBackend
from tests.fake_openai import fake_openai  # noqa: F401

MESSAGES = [
    {"role": "system", "content": "You are a careful debater."},
    {"role": "user", "content": "Is the sky blue?"},
]


def make_backend(server, **kwargs) -> OpenAICompatibleBackend:
    options = {"timeout": 5, "max_retries": 2, "backoff": 0.001, **kwargs}
    return OpenAICompatibleBackend(base_url=server.base_url, **options)


def request(**kwargs) -> CompletionRequest:
    return CompletionRequest(**{"messages": MESSAGES, "model": "gpt-test", **kwargs})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_streams_deltas_in_order_and_returns_text_usage_and_finish_reason(fake_openai):  # noqa: F811
    fake_openai.script(("ok", ["Hel", "lo", ", world"]))
    deltas: list[str] = []
    completion = make_backend(fake_openai).complete(request(), deltas.append)
    assert deltas == ["Hel", "lo", ", world"]
    assert completion.text == "Hello, world"
    assert completion.model == "gpt-test"
    assert completion.finish_reason == "stop"
    assert completion.prompt_tokens == 9  # words in MESSAGES, as the fake counts them
    assert completion.completion_tokens == 3


def test_request_carries_model_messages_parameters_seed_and_key(fake_openai):  # noqa: F811
    backend = make_backend(fake_openai, api_key="sk-test-123")
    backend.complete(request(parameters={"temperature": 0.3, "max_tokens": 50}, seed=7), print)
    [sent] = fake_openai.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-123"
    assert sent.body == {
        "model": "gpt-test",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.3,
        "max_tokens": 50,
        "seed": 7,
    }


def test_no_key_sends_no_authorization_and_no_seed(fake_openai):  # noqa: F811
    backend = OpenAICompatibleBackend(base_url=fake_openai.base_url + "/", timeout=5)
    assert backend.complete(request(), lambda _: None).text == "Hello from the fake server."
    [sent] = fake_openai.requests
    assert "authorization" not in sent.headers
    assert "seed" not in sent.body


def test_default_base_url_is_openai():
    assert OpenAICompatibleBackend(base_url="").base_url == "https://api.openai.com/v1"


def test_retries_on_429_honouring_retry_after_then_succeeds(fake_openai):  # noqa: F811
    fake_openai.script(("status", 429, "0"), ("ok", ["fine"]))
    # A huge base backoff proves the server's Retry-After: 0 was used instead.
    backend = make_backend(fake_openai, backoff=60)
    started = time.monotonic()
    assert backend.complete(request(), lambda _: None).text == "fine"
    assert time.monotonic() - started < 5
    assert len(fake_openai.requests) == 2


def test_retries_on_500_then_succeeds(fake_openai):  # noqa: F811
    fake_openai.script(("status", 500), ("ok", ["recovered"]))
    deltas: list[str] = []
    assert make_backend(fake_openai).complete(request(), deltas.append).text == "recovered"
    assert deltas == ["recovered"]
    assert len(fake_openai.requests) == 2


def test_exhausted_retries_raise_retryable_error_with_last_status(fake_openai):  # noqa: F811
    fake_openai.script(*[("status", 500, None, "the model is overloaded")] * 3)
    with pytest.raises(BackendError) as info:
        make_backend(fake_openai, max_retries=2).complete(request(), lambda _: None)
    assert info.value.retryable is True
    assert info.value.status == 500
    assert "3 attempts" in str(info.value) and "the model is overloaded" in str(info.value)
    assert len(fake_openai.requests) == 3


def test_401_is_not_retried(fake_openai):  # noqa: F811
    fake_openai.script(("status", 401, None, "Incorrect API key provided"))
    with pytest.raises(BackendError) as info:
        make_backend(fake_openai, max_retries=3).complete(request(), lambda _: None)
    assert info.value.retryable is False
    assert info.value.status == 401
    assert "401" in str(info.value) and "Incorrect API key provided" in str(info.value)
    assert len(fake_openai.requests) == 1


def test_stalled_server_times_out_is_retried_then_raises(fake_openai):  # noqa: F811
    fake_openai.script(("stall", 10), ("stall_headers", 10))
    started = time.monotonic()
    with pytest.raises(BackendError) as info:
        make_backend(fake_openai, timeout=0.5, max_retries=1).complete(request(), lambda _: None)
    elapsed = time.monotonic() - started
    assert info.value.retryable is True
    assert "ReadTimeout" in str(info.value)
    assert len(fake_openai.requests) == 2
    assert 1.0 <= elapsed < 5


def test_stall_then_success_on_retry(fake_openai):  # noqa: F811
    fake_openai.script(("stall", 10), ("ok", ["late"]))
    backend = make_backend(fake_openai, timeout=0.5, max_retries=1)
    assert backend.complete(request(), lambda _: None).text == "late"


@pytest.mark.parametrize(
    "behaviour",
    [("cutoff", ["partial", " answ"]), ("truncated", ["partial", " answ"])],
    ids=["connection-dropped", "ended-without-done"],
)
def test_cut_off_stream_raises_at_once_after_partial_text(fake_openai, behaviour):  # noqa: F811
    fake_openai.script(behaviour, ("ok", ["never asked"]))
    deltas: list[str] = []
    with pytest.raises(BackendError) as info:
        make_backend(fake_openai, max_retries=3).complete(request(), deltas.append)
    assert "cut off after 12 characters" in str(info.value)
    assert info.value.retryable is True
    assert deltas == ["partial", " answ"]
    assert len(fake_openai.requests) == 1  # the caller, not the backend, retries the turn


def test_stall_mid_stream_is_a_cut_off(fake_openai):  # noqa: F811
    fake_openai.script(("stall", 10, ["so far"]))
    deltas: list[str] = []
    with pytest.raises(BackendError, match="cut off after 6 characters"):
        make_backend(fake_openai, timeout=0.5).complete(request(), deltas.append)
    assert deltas == ["so far"]
    assert len(fake_openai.requests) == 1


def test_cut_off_before_any_text_is_retried(fake_openai):  # noqa: F811
    fake_openai.script(("cutoff", []), ("ok", ["second time"]))
    assert make_backend(fake_openai).complete(request(), lambda _: None).text == "second time"
    assert len(fake_openai.requests) == 2


def test_malformed_chunk_is_not_retryable(fake_openai):  # noqa: F811
    fake_openai.script(("malformed", ["ok so far"]))
    with pytest.raises(BackendError, match="malformed JSON") as info:
        make_backend(fake_openai).complete(request(), lambda _: None)
    assert info.value.retryable is False
    assert len(fake_openai.requests) == 1


def test_server_ignoring_stream_still_works(fake_openai):  # noqa: F811
    deltas: list[str] = []
    completion = make_backend(fake_openai).complete(
        request(parameters={"stream": False}), deltas.append
    )
    assert deltas == ["Hello from the fake server."]
    assert completion.finish_reason == "stop" and completion.completion_tokens == 5


def test_server_not_listening_raises_retryable_error():
    backend = OpenAICompatibleBackend(
        base_url=f"http://127.0.0.1:{closed_port()}/v1", timeout=2, max_retries=1, backoff=0.001
    )
    with pytest.raises(BackendError) as info:
        backend.complete(request(), lambda _: None)
    assert info.value.retryable is True
    assert info.value.status is None
    assert "ConnectError" in str(info.value)
