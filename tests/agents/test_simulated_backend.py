"""The offline simulated backend: deterministic for a seed, streams what it returns."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from deliberation.agents.backends import CompletionRequest
from deliberation.agents.backends.simulated import SimulatedBackend
from deliberation.agents.parsing import parse_reply
from deliberation.debates.answers import is_correct

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


# --- configurable behaviour --------------------------------------------------------------------
CITIES = ["Paris", "London", "Berlin", "Rome"]
FORMATS = ["single_choice", "multiple_choice", "numeric", "free_text", "ranking"]
GOLD = {
    "single_choice": "London",
    "multiple_choice": ["Paris", "Berlin"],
    "numeric": 1200.0,
    "free_text": "Rayleigh scattering",
    "ranking": ["Berlin", "Paris", "Rome", "London"],
}


def turn(seed: int | None = 1, answer_format: str = "single_choice", **context):
    ctx = {
        "question": "Which?",
        "answer_format": answer_format,
        "options": CITIES if answer_format in CHOICE else [],
        "tolerance": 0.0,
        "round": 1,
        "phase": "debate",
        "answer_kind": "answer",
        "gold": None,
        "own_previous": None,
        "others_previous": [],
        "assigned": None,
        "target_answer": None,
        "repair": False,
        "batch": False,
    }
    ctx.update(context)
    return CompletionRequest(messages=MESSAGES, model="simulated-1", seed=seed, context=ctx)


CHOICE = ("single_choice", "multiple_choice", "ranking")


def backend(**params) -> SimulatedBackend:
    return SimulatedBackend(token_delay=0, **params)


def reply(sim: SimulatedBackend, req: CompletionRequest):
    text = sim.complete(req, lambda _piece: None).text
    ctx = req.context
    return text, parse_reply(
        text, ctx["answer_format"], ctx["options"], answer_kind=ctx["answer_kind"]
    )


def share(values) -> float:
    values = list(values)
    return sum(values) / len(values)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"acuracy": 0.5}, "unknown simulated agent parameter 'acuracy'"),
        ({"accuracy": 1.5}, "'accuracy' must be between 0 and 1"),
        ({"accuracy": "high"}, "'accuracy' must be a number"),
        ({"stubbornness": -0.1}, "'stubbornness' must be between 0 and 1"),
        ({"conformity": True}, "'conformity' must be a number"),
        ({"format_error_rate": 2}, "'format_error_rate' must be between 0 and 1"),
        ({"confidence_range": [0.9, 0.5]}, "low <= high"),
        ({"confidence_range": 0.5}, "must be \\[low, high\\]"),
        ({"confidence_range": [0.1, 1.2]}, "between 0 and 1"),
        ({"adversarial": ""}, "'adversarial' must be"),
        ({"adversarial": ["Paris"]}, "'adversarial' must be"),
        ({"token_delay": -1}, "'token_delay' must be >= 0"),
    ],
)
def test_invalid_parameters_are_rejected_clearly(params, message):
    with pytest.raises(ValueError, match=message):
        SimulatedBackend(**params)


def test_valid_parameters_are_accepted():
    sim = SimulatedBackend(
        token_delay=0,
        accuracy=None,
        stubbornness=0.2,
        conformity=0.3,
        adversarial="Paris",
        format_error_rate=0.1,
        confidence_range=[0.6, 0.7],
    )
    assert sim.behaviour.confidence_range == (0.6, 0.7)
    assert sim.behaviour.adversarial == "Paris"
    assert SimulatedBackend(token_delay=0, adversarial=42).behaviour.adversarial == "42"


@pytest.mark.parametrize("answer_format", FORMATS)
@pytest.mark.parametrize("kind", ["answer", "verdict", "review"])
@pytest.mark.parametrize("seed", range(8))
def test_replies_round_trip_through_the_parser(answer_format, kind, seed):
    sim = backend(accuracy=0.5, conformity=0.3, stubbornness=0.3)
    gold = GOLD[answer_format]
    req = turn(
        seed,
        answer_format,
        answer_kind=kind,
        gold=gold,
        tolerance=5.0 if answer_format == "numeric" else 0.0,
        own_previous=gold if seed % 2 else None,
        others_previous=[gold],
        target_answer=gold if kind == "review" else None,
    )
    plan = sim.plan(req)
    text, parsed = reply(sim, req)
    assert parsed.ok
    if kind == "review":
        assert text.splitlines()[-1] == f"SCORE: {plan.score}"
        assert parsed.score == plan.score and parsed.confidence == plan.score / 10
        assert parsed.answer is None
    else:
        assert parsed.answer == plan.answer
        assert parsed.confidence == plan.confidence
        assert text.splitlines()[-2].startswith("ANSWER: ")
    assert parsed.rationale and "ANSWER" not in parsed.rationale and "SCORE" not in parsed.rationale


@pytest.mark.parametrize("answer_format", FORMATS)
def test_answers_are_valid_for_their_format(answer_format):
    sim = backend()
    for seed in range(50):
        answer = sim.plan(turn(seed, answer_format)).answer
        if answer_format == "single_choice":
            assert answer in CITIES
        elif answer_format == "multiple_choice":
            assert answer and set(answer) <= set(CITIES) and len(set(answer)) == len(answer)
            assert answer == [o for o in CITIES if o in answer]
        elif answer_format == "ranking":
            assert sorted(answer) == sorted(CITIES)
        elif answer_format == "numeric":
            assert isinstance(answer, float)
        else:
            assert isinstance(answer, str) and answer


@pytest.mark.parametrize("answer_format", FORMATS)
def test_same_seed_same_session(answer_format):
    sim = backend(accuracy=0.6, conformity=0.5, stubbornness=0.2, format_error_rate=0.2)
    req = turn(7, answer_format, gold=GOLD[answer_format], others_previous=[GOLD[answer_format]])
    assert sim.compose(req) == backend(
        accuracy=0.6, conformity=0.5, stubbornness=0.2, format_error_rate=0.2
    ).compose(req)


def correct_share(answer_format: str, accuracy: float, seeds: int, tolerance: float = 0.0):
    sim = backend(accuracy=accuracy)
    gold = GOLD[answer_format]
    return share(
        is_correct(
            sim.plan(turn(seed, answer_format, gold=gold, tolerance=tolerance)).answer,
            gold,
            answer_format,
            tolerance,
        )
        for seed in range(seeds)
    )


def test_accuracy_is_the_share_correct():
    # 2000 independent draws: the standard error is sqrt(0.7 * 0.3 / 2000) = 0.010.
    assert abs(correct_share("single_choice", 0.7, 2000) - 0.7) < 0.035


@pytest.mark.parametrize("answer_format", FORMATS)
def test_accuracy_holds_in_every_format(answer_format):
    tolerance = 2.0 if answer_format == "numeric" else 0.0
    assert abs(correct_share(answer_format, 0.7, 600, tolerance) - 0.7) < 0.07
    assert correct_share(answer_format, 1.0, 100, tolerance) == 1.0
    assert correct_share(answer_format, 0.0, 100, tolerance) == 0.0


def test_correct_numeric_answers_stay_within_the_tolerance_and_vary():
    sim = backend(accuracy=1.0)
    answers = [
        sim.plan(turn(seed, "numeric", gold=1200.0, tolerance=5.0)).answer for seed in range(100)
    ]
    assert all(abs(a - 1200.0) <= 5.0 for a in answers)
    assert len(set(answers)) > 10
    exact = [sim.plan(turn(s, "numeric", gold=1200.0)).answer for s in range(10)]
    assert exact == [1200.0] * 10


def test_wrong_options_are_uniform():
    sim = backend(accuracy=0.0)
    counts = Counter(sim.plan(turn(s, gold="London")).answer for s in range(3000))
    assert set(counts) == {"Paris", "Berlin", "Rome"}
    assert all(abs(n / 3000 - 1 / 3) < 0.04 for n in counts.values())


def test_without_gold_or_accuracy_answers_are_uniform():
    for sim, gold in ((backend(accuracy=0.9), None), (backend(), "London")):
        counts = Counter(sim.plan(turn(s, gold=gold)).answer for s in range(4000))
        assert all(abs(n / 4000 - 1 / 4) < 0.04 for n in counts.values()), counts


def test_conformity_one_always_adopts_an_answer_of_the_others_in_proportion():
    sim = backend(conformity=1.0, accuracy=1.0)
    others = ["Paris", "Paris", "Berlin"]
    answers = [sim.plan(turn(s, gold="London", others_previous=others)).answer for s in range(3000)]
    assert set(answers) == {"Paris", "Berlin"}
    assert abs(answers.count("Paris") / 3000 - 2 / 3) < 0.04
    plan = sim.plan(turn(1, gold="London", others_previous=others))
    assert plan.source == "conform"


def test_conformity_without_others_falls_back_to_a_fresh_answer():
    sim = backend(conformity=1.0, accuracy=1.0)
    assert sim.plan(turn(3, gold="London", others_previous=[])).answer == "London"


def test_conformity_alone_keeps_expected_group_correctness_a_martingale():
    """Debate or Vote: copying a random peer preserves the expected number correct."""
    sim = backend(conformity=1.0)
    gold = "London"
    previous = ["London", "London", "Paris", "Berlin", "Rome"]  # 2 of 5 correct
    totals = []
    for seed in range(1500):
        answers = [
            sim.plan(
                turn(
                    seed * 10 + i,
                    gold=gold,
                    own_previous=mine,
                    others_previous=previous[:i] + previous[i + 1 :],
                )
            ).answer
            for i, mine in enumerate(previous)
        ]
        totals.append(sum(a == gold for a in answers))
    assert abs(share(totals) - 2) < 0.1


def test_stubbornness_one_always_keeps_its_previous_answer():
    sim = backend(stubbornness=1.0, conformity=1.0, accuracy=1.0)
    for seed in range(200):
        plan = sim.plan(turn(seed, gold="London", own_previous="Rome", others_previous=["Paris"]))
        assert plan.answer == "Rome" and plan.source == "stubborn"
    # Without a previous answer there is nothing to keep.
    assert sim.plan(turn(1, gold="London", others_previous=["Paris"])).answer == "Paris"


def test_stubbornness_share():
    sim = backend(stubbornness=0.4, accuracy=1.0)
    kept = [
        sim.plan(turn(s, gold="London", own_previous="Rome")).answer == "Rome" for s in range(2000)
    ]
    assert abs(share(kept) - 0.4) < 0.035


def test_update_order_stubborn_before_conform():
    sim = backend(stubbornness=0.5, conformity=1.0, accuracy=1.0)
    answers = Counter(
        sim.plan(turn(s, gold="London", own_previous="Rome", others_previous=["Paris"])).answer
        for s in range(2000)
    )
    assert set(answers) == {"Rome", "Paris"}
    assert abs(answers["Rome"] / 2000 - 0.5) < 0.04


@pytest.mark.parametrize(
    ("answer_format", "fixed"),
    [
        ("single_choice", "Paris"),  # the first option that is not the gold (London)
        ("multiple_choice", ["London"]),  # the first option not in the gold set, alone
        ("ranking", ["London", "Rome", "Paris", "Berlin"]),  # the gold order reversed
        ("numeric", 1800.0),  # gold + max(10 tolerance, |gold| / 2, 1)
        ("free_text", "none of the above"),
    ],
)
def test_adversarial_always_argues_for_a_fixed_wrong_answer(answer_format, fixed):
    sim = backend(adversarial=True, stubbornness=1.0, conformity=1.0, accuracy=1.0)
    gold = GOLD[answer_format]
    for seed in range(50):
        req = turn(seed, answer_format, gold=gold, own_previous=gold, others_previous=[gold])
        plan = sim.plan(req)
        assert plan.answer == fixed and plan.source == "adversarial"
        assert 0.9 <= plan.confidence <= 0.99
        assert not is_correct(plan.answer, gold, answer_format)
    text, parsed = reply(sim, turn(3, answer_format, gold=gold))
    assert parsed.answer == fixed
    assert "clearly" in text and "no room for doubt" in text


def test_adversarial_with_a_given_answer_and_without_gold():
    assert backend(adversarial="rome").plan(turn(1, gold="Rome")).answer == "Rome"
    assert backend(adversarial=True).plan(turn(1)).answer == "Paris"
    ranked = backend(adversarial="Rome > paris > London > Berlin").plan(turn(1, "ranking"))
    assert ranked.answer == ["Rome", "Paris", "London", "Berlin"]
    assert backend(adversarial=7).plan(turn(1, "numeric", gold=3.0)).answer == 7.0


def test_adversarial_answer_that_does_not_fit_is_a_visible_failure():
    from deliberation.agents.backends import BackendError

    with pytest.raises(BackendError, match="does not fit") as caught:
        backend(adversarial="Madrid").plan(turn(1))
    assert caught.value.retryable is False


def test_an_assigned_answer_is_defended():
    sim = backend(accuracy=1.0, adversarial=True)
    for seed in range(20):
        plan = sim.plan(turn(seed, gold="London", assigned="Berlin"))
        assert plan.answer == "Berlin" and plan.source == "assigned"
    text, parsed = reply(sim, turn(2, gold="London", assigned="Berlin"))
    assert parsed.answer == "Berlin" and "assigned position" in text
    # A stance that is not an answer in this format is argued but does not replace the answer.
    plan = backend(accuracy=1.0).plan(turn(1, gold="London", assigned="Cities are good"))
    assert plan.answer == "London"


def test_review_scores_follow_agreement_with_the_target():
    sim = backend(accuracy=1.0)
    for seed in range(100):
        agree = sim.plan(
            turn(seed, answer_kind="review", own_previous="Rome", target_answer="Rome")
        )
        disagree = sim.plan(
            turn(seed, answer_kind="review", own_previous="Rome", target_answer="Paris")
        )
        assert 8 <= agree.score <= 10 and 2 <= disagree.score <= 4
        assert agree.answer is None and agree.confidence == agree.score / 10
    # Without its own previous answer the reviewer believes a fresh draw (here: the gold).
    fresh = sim.plan(turn(1, answer_kind="review", gold="London", target_answer="London"))
    assert fresh.score >= 8
    assert sim.plan(turn(1, answer_kind="review", own_previous="Rome")).score == 5
    adversary = backend(adversarial=True).plan(
        turn(1, answer_kind="review", gold="London", own_previous="London", target_answer="London")
    )
    assert adversary.score <= 4  # the adversary believes its wrong answer


def test_review_of_numbers_uses_the_tolerance():
    plan = backend().plan(
        turn(
            1, "numeric", answer_kind="review", own_previous=100.0, target_answer=101.0, tolerance=2
        )
    )
    assert plan.score >= 8


def test_verdict_names_an_answer_with_a_probability():
    sim = backend(accuracy=1.0)
    text, parsed = reply(sim, turn(4, answer_kind="verdict", gold="London"))
    assert parsed.answer == "London" and 0.55 <= parsed.confidence <= 0.95
    assert "weighed both sides" in text


def test_confidence_range():
    sim = backend(confidence_range=[0.3, 0.4])
    confidences = [sim.plan(turn(s)).confidence for s in range(200)]
    assert all(0.3 <= c <= 0.4 for c in confidences)
    assert len(set(confidences)) > 3


def test_format_errors_omit_the_answer_line_and_repair_fixes_them():
    sim = backend(format_error_rate=0.3, accuracy=0.8)
    broken = 0
    for seed in range(1000):
        req = turn(seed, gold="London")
        text, parsed = reply(sim, req)
        if not parsed.ok:
            broken += 1
            assert "ANSWER" not in text and "CONFIDENCE:" in text
            fixed_text, fixed = reply(sim, turn(seed, gold="London", repair=True))
            assert fixed.ok and fixed.answer == sim.plan(req).answer
            assert fixed_text == f"ANSWER: {fixed.answer}\nCONFIDENCE: {fixed.confidence}"
    assert abs(broken / 1000 - 0.3) < 0.05


def test_format_error_rate_one_never_gives_an_answer():
    sim = backend(format_error_rate=1.0)
    for kind in ("answer", "review", "verdict"):
        req = turn(1, answer_kind=kind, own_previous="Rome", target_answer="Rome")
        assert not reply(sim, req)[1].ok
        assert not reply(sim, turn(1, answer_kind=kind, repair=True, target_answer="Rome"))[1].ok


def test_a_repaired_review_gives_the_score():
    sim = backend(format_error_rate=0.99)
    req = turn(2, answer_kind="review", own_previous="Rome", target_answer="Rome", repair=True)
    text, parsed = reply(sim, req)
    assert parsed.ok and text == f"SCORE: {parsed.score}" and parsed.score >= 8


def test_batch_requests_do_not_sleep():
    sim = SimulatedBackend(token_delay=0.05)
    started = time.monotonic()
    sim.complete(turn(1, batch=True), lambda _piece: None)
    assert time.monotonic() - started < 0.2
