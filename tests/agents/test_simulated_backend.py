"""The offline simulated backend: deterministic for a seed, streams what it returns."""

from __future__ import annotations

import time

import pytest

from deliberation.agents.backends import CompletionRequest
from deliberation.agents.backends.simulated import SimulatedBackend
from deliberation.agents.parsing import parse_reply

OPTIONS = ["Yes", "No", "It depends"]
MESSAGES = [
    {"role": "system", "content": "You are Sim, a participant."},
    {"role": "user", "content": "Question:\nIs the sky blue?\n\nIt is now your turn."},
]


def request(seed: int | None = 1, answer_format: str = "single_choice", options=OPTIONS):
    return CompletionRequest(
        messages=MESSAGES,
        model="simulated-1",
        seed=seed,
        context={
            "question": "Is the sky blue?",
            "answer_format": answer_format,
            "options": list(options) if answer_format == "single_choice" else [],
            "round": 1,
        },
    )


def run(req: CompletionRequest, token_delay: float = 0):
    deltas: list[str] = []
    completion = SimulatedBackend(token_delay=token_delay).complete(req, deltas.append)
    return completion, deltas


def test_same_seed_and_request_give_identical_text_and_deltas():
    first, first_deltas = run(request(seed=42))
    second, second_deltas = run(request(seed=42))
    assert first.text == second.text
    assert first_deltas == second_deltas
    assert first.completion_tokens == second.completion_tokens


def test_different_seeds_give_different_replies():
    texts = {run(request(seed=seed))[0].text for seed in range(6)}
    assert len(texts) > 1


def test_no_seed_is_deterministic_too():
    assert run(request(seed=None))[0].text == run(request(seed=None))[0].text


@pytest.mark.parametrize("seed", range(40))
def test_choice_answers_are_options_the_parser_reads_back(seed):
    completion, _ = run(request(seed=seed))
    parsed = parse_reply(completion.text, "single_choice", OPTIONS)
    assert parsed.answer in OPTIONS
    assert completion.text.rstrip().splitlines()[-2] == f"ANSWER: {parsed.answer}"
    assert parsed.confidence is not None and 0 <= parsed.confidence <= 1


def test_choice_answers_vary_with_the_seed():
    answers = {
        parse_reply(run(request(seed=seed))[0].text, "single_choice", OPTIONS).answer
        for seed in range(40)
    }
    assert answers == set(OPTIONS)


@pytest.mark.parametrize("seed", range(10))
def test_numeric_answers_parse_to_numbers(seed):
    completion, _ = run(request(seed=seed, answer_format="numeric"))
    parsed = parse_reply(completion.text, "numeric", [])
    assert isinstance(parsed.answer, float) and 1 <= parsed.answer <= 100
    assert 0 <= parsed.confidence <= 1


@pytest.mark.parametrize("seed", range(10))
def test_free_text_answers_parse(seed):
    completion, _ = run(request(seed=seed, answer_format="free_text"))
    parsed = parse_reply(completion.text, "free_text", [])
    assert parsed.answer in {"yes", "no", "it depends on the context"}
    assert 0 <= parsed.confidence <= 1


@pytest.mark.parametrize("answer_format", ["single_choice", "numeric", "free_text"])
def test_deltas_join_to_the_final_text_and_count_as_tokens(answer_format):
    completion, deltas = run(request(seed=3, answer_format=answer_format))
    assert len(deltas) > 5
    assert all(deltas)
    assert "".join(deltas) == completion.text
    assert completion.completion_tokens == len(deltas)
    assert completion.prompt_tokens == sum(len(m["content"].split()) for m in MESSAGES)
    assert completion.finish_reason == "stop"
    assert completion.model == "simulated-1"


def test_token_delay_zero_runs_fast():
    started = time.monotonic()
    for seed in range(20):
        run(request(seed=seed), token_delay=0)
    assert time.monotonic() - started < 0.5


def test_token_delay_comes_from_settings_and_slows_streaming(settings):
    settings.DELIBERATION = {**settings.DELIBERATION, "SIMULATED_TOKEN_DELAY": 0.01}
    backend = SimulatedBackend()
    assert backend.token_delay == 0.01
    deltas: list[str] = []
    started = time.monotonic()
    backend.complete(request(seed=5), deltas.append)
    assert time.monotonic() - started >= 0.01 * len(deltas) * 0.9
    # An explicit delay (a profile's parameters) overrides the setting.
    assert SimulatedBackend(token_delay=0).token_delay == 0
