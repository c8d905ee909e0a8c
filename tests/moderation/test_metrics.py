"""The moderator page shows what the consensus library computes from the stored posts."""

from __future__ import annotations

import math

import pytest
from django.test import Client

from deliberation.agents.models import AgentProfile, AgentTurn
from deliberation.agents.services import run_locally
from deliberation.consensus import agreement, cost, dynamics, mutual, semantic, votes
from deliberation.debates import controls, services
from deliberation.debates.models import DebateSession, Participant, Post
from deliberation.moderation.metrics import session_metrics
from tests.fake_openai import fake_openai  # noqa: F401

from .conftest import fresh, metric_cells, moderator_of, play_round

pytestmark = pytest.mark.django_db(transaction=True)


def f3(value) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.3f}"


def stored_rounds(session) -> dict[int, dict[int, object]]:
    """Round -> debater -> answer, straight from the posts table (last answer in a round)."""
    rows = (
        Post.objects.filter(
            session=session,
            kind=Post.Kind.ARGUMENT,
            author__role=Participant.Role.DEBATER,
            target__isnull=True,
            answer__isnull=False,
        )
        .exclude(parse_status=Post.ParseStatus.UNPARSED)
        .order_by("seq")
        .values_list("round__number", "author_id", "answer")
    )
    out: dict[int, dict[int, object]] = {}
    for number, author, answer in rows:
        out.setdefault(number, {})[author] = tuple(answer) if isinstance(answer, list) else answer
    return out


def moderator_page(session) -> str:
    client = Client()
    client.force_login(session.created_by)
    response = client.get(f"/moderation/sessions/{session.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_single_choice_page_numbers_equal_the_library(people_debate):
    session, people = people_debate(3, rounds=3, gold_answer="Yes")
    play_round(people[:2], ["Yes", "No"], [0.9, 0.6])
    services.submit_opinion(people[0], answer="No", confidence=0.5)  # round 1 is still open
    play_round(people[2:], ["No"], [0.7])
    play_round(people, ["No", "No", "Yes"], [0.6, 0.8, 0.9])  # p0 conforms; p2 flips to right
    play_round(people, ["No", "Yes", "Yes"], [0.7, 0.9, 0.95])
    session = fresh(session)
    assert session.status == DebateSession.Status.FINISHED
    cells = metric_cells(moderator_page(session))

    rounds = stored_rounds(session)
    assert sorted(rounds) == [1, 2, 3]
    for number, answers in rounds.items():
        keys = list(answers.values())
        assert cells[f"answers-{number}"] == str(len(keys))
        assert cells[f"distinct-{number}"] == str(votes.distinct_count(keys))
        assert cells[f"top-share-{number}"] == f3(votes.top_share(keys))
        assert cells[f"entropy-{number}"] == f3(votes.shannon_entropy(keys))
        assert cells[f"normalised-entropy-{number}"] == f3(
            votes.normalised_entropy(keys, options=session.options)
        )
        gold = [a == "Yes" for a in keys]
        assert cells[f"accuracy-{number}"] == f3(sum(gold) / len(gold))
        assert cells[f"pairwise-{number}"] == f3(agreement.pairwise_agreement(keys))
    debaters = [p.pk for p in people]
    # Rounds are not units of a chance-corrected measure: none is shown for one session.
    assert "alpha" not in cells and "kappa" not in cells
    flips = dynamics.answer_flips(rounds)
    for pid in debaters:
        assert cells[f"flips-{pid}"] == str(flips[pid])
    kairos = dynamics.kairos_scores([(rounds, "Yes")])
    assert cells["utility"] == f3(kairos.utility)
    assert cells["resistance"] == f3(kairos.resistance)

    metrics = session_metrics(session)
    events = dynamics.conformity_events(rounds, gold="Yes")
    assert [(e["participant"], e["round"], e["kind"]) for e in metrics["conformity"]] == [
        (e.participant, e.round, e.kind) for e in events
    ]
    # The private opinion is shown beside the public answer, and its divergence counted.
    mine = next(t for t in metrics["trajectories"] if t["id"] == people[0].pk)
    assert mine["rounds"][0]["private_answer"] == "No"
    assert mine["rounds"][0]["answer"] == "Yes" and mine["rounds"][0]["diverges"]
    # Final answers: plurality Yes (2 of 3), the confidence-weighted vote agrees here.
    final = list(rounds[3].values())
    rules = {r["rule"]: r for r in metrics["rules"]}
    assert rules["plurality"]["answer"] == votes.plurality(final).winner == "Yes"
    assert rules["majority"]["answer"] == "Yes"
    assert rules["vote_only"]["answer"] == votes.plurality(list(rounds[1].values())).winner


def test_rules_disagree_and_are_highlighted(people_debate):
    session, people = people_debate(3, rounds=1)
    # Plurality: Yes (2 votes). ReConcile: Yes = 0.1 + 0.1, No = 1.0 -> No.
    play_round(people, ["Yes", "Yes", "No"], [0.5, 0.6, 1.0])
    metrics = session_metrics(fresh(session))
    rules = {r["rule"]: r for r in metrics["rules"]}
    assert rules["plurality"]["answer"] == "Yes"
    assert rules["confidence_weighted"]["answer"] == "No"
    assert metrics["rules_disagree"] is True
    assert rules["confidence_weighted"]["differs"] and not rules["plurality"]["differs"]
    html = moderator_page(fresh(session))
    assert 'id="rules-disagree"' in html
    assert 'data-rule="confidence_weighted" class="differs' in html


def test_numeric_answers_use_mutual_consensus(people_debate):
    session, people = people_debate(
        3, rounds=2, options=[], answer_format="numeric", gold_answer=100
    )
    play_round(people, [90, 100, 130])
    play_round(people, [95, 100, 110])
    cells = metric_cells(moderator_page(fresh(session)))
    rounds = stored_rounds(session)
    scale = (90.0, 130.0)  # every answer and the gold answer
    for number, answers in rounds.items():
        values = [float(v) for v in answers.values()]
        assert cells[f"consensus-degree-{number}"] == f3(mutual.consensus_degree(values, scale))
        assert cells[f"mutual-consensus-{number}"] == f3(mutual.mutual_consensus(values, scale))
    assert "alpha" not in cells


def test_free_text_without_a_model_shows_lexical_clusters_by_that_name(people_debate, settings):
    settings.SEMANTIC_JUDGE_PROFILE = ""
    session, people = people_debate(3, rounds=1, options=[], answer_format="free_text")
    play_round(people, ["Rayleigh scattering", "rayleigh scattering!", "The ocean reflects"])
    html = moderator_page(fresh(session))
    cells = metric_cells(html)
    texts = list(stored_rounds(session)[1].values())
    result = semantic.lexical_cluster_entropy(texts)
    assert cells["lexical-entropy-1"] == f3(result.entropy)
    assert cells["lexical-clusters-1"] == "2"
    assert "Lexical clusters (no model configured)" in html
    assert "semantic-entropy-1" not in cells and "Semantic entropy (bits" not in html
    metrics = session_metrics(fresh(session))
    assert metrics["rounds"][0]["semantic_entropy"] is None
    assert metrics["rounds"][0]["semantic_status"] == "no_model"


def test_free_text_guilty_split_is_never_shown_as_consensus_without_a_model(
    people_debate, settings
):
    settings.SEMANTIC_JUDGE_PROFILE = ""
    session, people = people_debate(
        4, rounds=1, options=[], answer_format="free_text", question="Verdict?"
    )
    play_round(people, ["guilty", "not guilty", "Guilty", "Not guilty"])
    cells = metric_cells(moderator_page(fresh(session)))
    assert cells["lexical-entropy-1"] == "1.000"
    assert cells["lexical-clusters-1"] == "2"


def test_free_text_semantic_entropy_from_the_simulated_judge(people_debate, settings):
    AgentProfile.objects.create(name="meaning", backend="simulated", model="simulated-1")
    settings.SEMANTIC_JUDGE_PROFILE = "meaning"
    session, people = people_debate(
        4, rounds=1, options=[], answer_format="free_text", question="Verdict?"
    )
    play_round(people, ["guilty", "not guilty", "Guilty", "Not guilty"])
    html = moderator_page(fresh(session))
    cells = metric_cells(html)
    assert "Semantic entropy (bits; model: meaning (simulated-1))" in html
    assert cells["semantic-entropy-1"] == "1.000"
    assert cells["semantic-clusters-1"] == "2"
    assert "lexical-entropy-1" not in cells and "Lexical clusters" not in html


def test_free_text_semantic_entropy_reflects_the_models_judgement(
    people_debate,
    settings,
    fake_openai,  # noqa: F811
):
    # The model (the fake server) judges "innocent" and "not guilty" to entail each other, and
    # both to contradict "guilty": two meanings among three answers, whatever the wording.
    fake_openai.script(
        ("ok", ["entailment"]),  # innocent -> not guilty
        ("ok", ["Entailment."]),  # not guilty -> innocent
        ("ok", ["contradiction"]),  # innocent -> guilty
        ("ok", ["contradiction"]),  # guilty -> innocent
    )
    AgentProfile.objects.create(
        name="gpt-judge",
        backend="openai",
        model="judge-model",
        base_url=fake_openai.base_url,
        timeout_seconds=5,
    )
    settings.SEMANTIC_JUDGE_PROFILE = "gpt-judge"
    session, people = people_debate(
        3, rounds=1, options=[], answer_format="free_text", question="Verdict?"
    )
    play_round(people, ["innocent", "not guilty", "guilty"])
    html = moderator_page(fresh(session))
    cells = metric_cells(html)
    p = [2 / 3, 1 / 3]
    assert cells["semantic-entropy-1"] == f3(-sum(x * math.log2(x) for x in p))
    assert cells["semantic-clusters-1"] == "2"
    assert "model: gpt-judge (judge-model)" in html
    prompts = [r.body["messages"][0]["content"] for r in fake_openai.requests]
    assert len(prompts) == 4 and all('the question "Verdict?"' in q for q in prompts)
    # The judgements are cached: the page again asks the model nothing.
    moderator_page(fresh(session))
    assert len(fake_openai.requests) == 4


def test_free_text_judge_failure_is_unavailable_not_consensus(
    people_debate,
    settings,
    fake_openai,  # noqa: F811
):
    fake_openai.script(("status", 401, None, "Incorrect API key provided"))
    AgentProfile.objects.create(
        name="gpt-judge", backend="openai", model="judge-model", base_url=fake_openai.base_url
    )
    settings.SEMANTIC_JUDGE_PROFILE = "gpt-judge"
    session, people = people_debate(
        4, rounds=1, options=[], answer_format="free_text", question="Verdict?"
    )
    play_round(people, ["guilty", "not guilty", "guilty", "not guilty"])
    html = moderator_page(fresh(session))
    cells = metric_cells(html)
    assert cells["semantic-entropy-1"] == "unavailable"
    assert "Incorrect API key provided" in html
    assert "Lexical clusters (model unavailable)" in html
    assert cells["lexical-entropy-1"] == "1.000"
    metrics = session_metrics(fresh(session))
    assert metrics["rounds"][0]["semantic_entropy"] is None
    assert metrics["rounds"][0]["semantic_status"] == "unavailable"


def test_ranking_answers_get_borda_schulze_and_kemeny(people_debate):
    session, people = people_debate(3, rounds=1, options=["A", "B", "C"], answer_format="ranking")
    play_round(people, ["A > B > C", "B > C > A", "A > C > B"])
    metrics = session_metrics(fresh(session))
    rules = {r["rule"]: r for r in metrics["rules"]}
    from deliberation.consensus import rankings

    ballots = list(stored_rounds(session)[1].values())
    assert rules["borda"]["answer"] == list(rankings.borda(ballots, ["A", "B", "C"]).ranking)
    assert rules["schulze"]["answer"] == list(rankings.schulze(ballots, ["A", "B", "C"]).ranking)
    assert rules["kemeny"]["answer"] == list(rankings.kemeny(ballots, ["A", "B", "C"]).ranking)
    assert rules["bradley_terry_ballots"]["answer"][0] == "A"


def test_skips_are_listed_as_missed_turns(people_debate):
    session, people = people_debate(3, rounds=1)
    play_round(people[:2], ["Yes", "No"])
    controls.control(moderator_of(session), "skip", participant_id=people[2].pk)
    metrics = session_metrics(fresh(session))
    assert metrics["missed"] == [
        {
            "round": 1,
            "participant": people[2].pk,
            "name": people[2].display_name,
            "reason": "skipped",
        }
    ]
    assert metrics["rounds"][0]["missed"] == 1


def test_agent_failures_tokens_and_cost(moderator, simulated_agent):
    good = simulated_agent(
        name="Good",
        seed=3,
        parameters={"simulated": {"token_delay": 0, "accuracy": 1}},
        prompt_price_per_mtok=2,
        completion_price_per_mtok=6,
    )
    garbled = simulated_agent(
        name="Garbled",
        seed=4,
        parameters={"simulated": {"token_delay": 0, "format_error_rate": 1}},
        prompt_price_per_mtok=1,
        completion_price_per_mtok=1,
    )
    session = services.create_session(
        moderator=moderator,
        title="Agents",
        question="Capital of France?",
        options=["Paris", "Lyon"],
        gold_answer="Paris",
        protocol="simultaneous",
        protocol_settings={"rounds": 1},
        agent_profiles=[good, garbled],
    )
    run_locally(lambda: controls.control(moderator_of(session), "start"))
    session = fresh(session)
    assert session.status == DebateSession.Status.FINISHED
    metrics = session_metrics(session)
    assert [(f["name"], f["parse_status"]) for f in metrics["failures"]] == [
        ("Garbled", "unparsed")
    ]
    turns = AgentTurn.objects.filter(session=session)
    total = cost.session_cost(
        [
            {
                "prompt_tokens": t.prompt_tokens or 0,
                "completion_tokens": t.completion_tokens or 0,
                "cost": float(t.cost_usd or 0),
            }
            for t in turns
        ]
    )
    assert metrics["cost"]["total_tokens"] == total.total_tokens > 0
    assert metrics["cost"]["cost"] == pytest.approx(total.cost)
    # Cost-of-Pass is defined over a set of problems (a batch run), not one session.
    assert "cost_of_pass" not in metrics["cost"]
    cells = metric_cells(moderator_page(session))
    assert cells["tokens"] == str(total.total_tokens)


def peer_review_session(moderator, simulated_agent, **settings):
    agents = [
        simulated_agent(name=f"Peer {i}", seed=20 + i, parameters={"simulated": {"token_delay": 0}})
        for i in range(3)
    ]
    return services.create_session(
        moderator=moderator,
        title="Peers",
        question="Capital of France?",
        options=["Paris", "Lyon", "Marseille"],
        gold_answer="Paris",
        protocol="peer_review",
        protocol_settings=settings,
        agent_profiles=agents,
    )


def test_peer_review_asks_the_papers_feedback_confidence_and_draws_no_ranking_from_it(
    moderator, simulated_agent
):
    """Xu et al. 2023: a reviewer rates their confidence in their own feedback (1-10)."""
    session = peer_review_session(moderator, simulated_agent)
    assert session.protocol_settings["review_score"] == "feedback_confidence"
    run_locally(lambda: controls.control(moderator_of(session), "start"))
    reviews = list(Post.objects.filter(session=session, target__isnull=False))
    assert len(reviews) == 6
    assert {r.data["score_means"] for r in reviews} == {"feedback_confidence"}
    turn = AgentTurn.objects.filter(session=session, target__isnull=False).first()
    prompt = " ".join(m["content"] for m in turn.prompt)
    assert "rate your confidence in your feedback on a scale from 1-10" in prompt
    assert "solution is correct" not in prompt
    metrics = session_metrics(fresh(session))
    assert metrics["bradley_terry"] is None
    assert "bradley_terry" not in {r["rule"] for r in metrics["rules"]}
    html = moderator_page(fresh(session))
    assert "Bradley-Terry" not in html


def test_peer_review_correctness_scores_give_a_bradley_terry_rule(moderator, simulated_agent):
    session = peer_review_session(moderator, simulated_agent, review_score="correctness")
    run_locally(lambda: controls.control(moderator_of(session), "start"))
    metrics = session_metrics(fresh(session))
    assert fresh(session).status == DebateSession.Status.FINISHED
    reviews = Post.objects.filter(session=session, target__isnull=False).count()
    assert reviews == 6
    rules = {r["rule"] for r in metrics["rules"]}
    bt = metrics["bradley_terry"]
    if bt is None:  # every reviewer gave both targets the same score: no comparison
        assert "bradley_terry" not in rules
    else:
        assert "bradley_terry" in rules
        assert sum(s["strength"] for s in bt["strengths"]) == pytest.approx(1.0, abs=1e-5)
