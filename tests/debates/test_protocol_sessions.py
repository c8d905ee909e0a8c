"""Every protocol run end to end on PostgreSQL: a person, simulated agents, the real engine.

Agent turns go through ``execute_turn`` exactly as the Celery task runs them, in this process
(``run_locally``); the worker path itself is covered by tests/agents/test_worker_turns.py and the
browser test. Commits are real (``transactional_db``), so on-commit hooks fire as in production.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deliberation.agents.models import AgentTurn
from deliberation.agents.prompts import DU_PREFIX, DU_SUFFIX, RECONCILE_DISCUSSION
from deliberation.agents.services import run_locally
from deliberation.debates import controls, engine, services
from deliberation.debates.models import DebateSession, Opinion, Participant, Post, TurnDeadline
from deliberation.debates.outcomes import session_outcome
from deliberation.debates.presentation import Viewer, hidden_posts
from deliberation.protocols.registry import PROTOCOLS, get_protocol

pytestmark = pytest.mark.django_db(transaction=True)

OPTIONS = ["Paris", "Lyon", "Marseille"]


@pytest.fixture
def agents(simulated_agent):
    def make(n: int = 2, **behaviour):
        return [
            simulated_agent(
                name=f"Agent {i}",
                seed=10 + i,
                parameters={"simulated": {"token_delay": 0, **behaviour}},
            )
            for i in range(1, n + 1)
        ]

    return make


def make_session(moderator, protocol, agent_profiles, *, judge=None, **settings):
    return services.create_session(
        moderator=moderator,
        title=f"{protocol} test",
        question="What is the capital of France?",
        options=OPTIONS,
        gold_answer="Paris",
        protocol=protocol,
        protocol_settings=settings,
        agent_profiles=agent_profiles,
        judge_profile=judge,
    )


def mod_of(session):
    return session.participants.get(role=Participant.Role.MODERATOR)


def fresh(session):
    return DebateSession.objects.get(pk=session.pk)


def my_slots(session, participant):
    session = fresh(session)
    return [s for s in engine.expected_slots(session) if s[0] == participant.pk]


def play_person(session, person, answer="Paris", confidence=0.8, limit=30):
    """The person answers every time it is their turn, until the session finishes."""
    turns = 0
    while fresh(session).status != DebateSession.Status.FINISHED:
        slots = my_slots(session, person)
        assert slots, f"stuck: nobody can speak in {engine.state_data(fresh(session))}"
        target = slots[0][1]
        run_locally(
            lambda target=target, n=turns: services.submit_post(
                person,
                f"My view, turn {n}.",
                answer=None if target else answer,
                confidence=None if target else confidence,
                score=7 if target else None,
                target_id=target,
            )
        )
        turns += 1
        assert turns < limit
    return turns


def arguments(session):
    return list(
        Post.objects.filter(session=session, kind=Post.Kind.ARGUMENT)
        .select_related("author", "round")
        .order_by("seq")
    )


# --- every protocol, with a person and two agents ----------------------------------------------
PERSON_ROLE = {"judged": Participant.Role.JUDGE}


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_every_protocol_runs_to_the_end_with_a_person_and_two_agents(
    protocol, moderator, alice, agents, simulated_agent
):
    """The person takes every turn the protocol gives them (as judge in a judged debate)."""
    debaters = agents(2, accuracy=0.8)
    session = make_session(moderator, protocol, debaters)
    if protocol in PERSON_ROLE:
        session.join_role = PERSON_ROLE[protocol]
        session.save(update_fields=["join_role"])
    me = services.join_session(alice, session.invite_token)
    if protocol == "socratic":
        # Two sides exactly: the person takes one side against Agent 1.
        session.participants.filter(display_name="Agent 2").update(role=Participant.Role.OBSERVER)
    run_locally(lambda: controls.control(mod_of(session), "start"))
    turns = play_person(session, me)
    session = fresh(session)
    assert session.status == DebateSession.Status.FINISHED
    assert turns >= 1
    posts = arguments(session)
    authors = {p.author.display_name for p in posts}
    assert me.display_name in authors and "Agent 1" in authors
    assert not AgentTurn.objects.filter(session=session, status="failed").exists()
    outcome = session_outcome(session)
    assert outcome.default_rule == get_protocol(protocol).final_rule
    # The vote-only baseline only where round 1 was independent and sealed.
    assert ("vote_only" in outcome.rules) == get_protocol(protocol).independent_first_round
    # Every stored round is closed and every agent turn is done.
    assert not session.rounds.filter(status="open").exists()
    assert set(AgentTurn.objects.filter(session=session).values_list("status", flat=True)) == {
        "done"
    }


DEPENDENT = sorted(n for n, proto in PROTOCOLS.items() if not proto.independent_first_round)


@pytest.mark.parametrize("protocol", DEPENDENT)
def test_the_independent_vote_pass_opens_any_protocol_with_a_sealed_vote(
    protocol, moderator, alice, agents
):
    """With ``vote_pass``, round 1 is a sealed vote where each debater answers alone (agents see
    only the question); the protocol's own rounds follow; the baseline is that vote."""
    debaters = agents(2, accuracy=0.8)
    session = make_session(moderator, protocol, debaters, vote_pass=True)
    if protocol in PERSON_ROLE:
        session.join_role = PERSON_ROLE[protocol]
        session.save(update_fields=["join_role"])
    me = services.join_session(alice, session.invite_token)
    if protocol == "socratic":
        session.participants.filter(display_name="Agent 2").update(role=Participant.Role.OBSERVER)
    run_locally(lambda: controls.control(mod_of(session), "start"))
    first = session.rounds.get(number=1)
    assert first.phase == "independent vote"
    # The agents answered the vote from the question alone, and sealed from the others.
    vote_turns = AgentTurn.objects.filter(session=session, round=first)
    agent_debaters = session.participants.filter(role=Participant.Role.DEBATER, kind="agent")
    assert vote_turns.count() == agent_debaters.count() >= 1
    for turn in vote_turns:
        prompt = " ".join(m["content"] for m in turn.prompt)
        assert "Agent 1:" not in prompt and "Agent 2:" not in prompt
    if me.role == Participant.Role.DEBATER:
        viewer = Viewer.of(me)
        hidden = hidden_posts(fresh(session), viewer, services.posts_after(session.pk, 0))
        assert len(hidden) == agent_debaters.count() and set(hidden.values()) == {"round"}
    play_person(session, me)
    session = fresh(session)
    assert session.status == DebateSession.Status.FINISHED
    outcome = session_outcome(session)
    assert "vote_only" in outcome.rules
    round_one = list(outcome.rounds[1].values())
    baseline = outcome.rules["vote_only"]
    # A tie may stay unanswered where the protocol's tie rule is "none" (judged debate).
    assert baseline.answer in round_one or sorted(baseline.tied) == sorted(set(round_one))
    assert session.rounds.count() == 1 + get_protocol(protocol).planned_rounds(
        session.protocol_settings
    )


def test_simultaneous_rounds_are_sealed_until_they_close(moderator, alice, agents):
    session = make_session(moderator, "simultaneous", agents(2), rounds=2)
    me = services.join_session(alice, session.invite_token)
    run_locally(lambda: controls.control(mod_of(session), "start"))
    # Both agents answered round 1; the person, still to answer, may not see their answers.
    session = fresh(session)
    posts = services.posts_after(session.pk, 0)
    hidden = hidden_posts(session, Viewer.of(me), posts)
    agent_posts = [p["seq"] for p in posts if p["kind"] == "argument"]
    assert len(agent_posts) == 2 and set(agent_posts) <= set(hidden)
    assert all(hidden[s] == "round" for s in agent_posts)
    # The moderator sees everything.
    assert hidden_posts(session, Viewer.of(mod_of(session)), posts) == {}
    # Agents answered independently: round 1 prompts show no other participant's answer.
    for turn in AgentTurn.objects.filter(session=session, round__number=1):
        prompt = turn.prompt[-1]["content"]
        assert "you do not see the other participants' answers" in prompt
        assert "Agent 1" not in prompt.replace(turn.participant.display_name, "")
    play_person(session, me)
    # Round 2 is Du et al.'s round prompt, word for word: the agent's own round-1 reply as its
    # turn in the conversation, then the others' round-1 solutions and the authors' request.
    turn = AgentTurn.objects.filter(session=session, round__number=2).first()
    last, own = turn.prompt[-1], turn.prompt[-2]
    assert last["role"] == "user" and last["content"].startswith(DU_PREFIX)
    assert last["content"].count("\n\n One agent solution: ```") == 2  # the person, the agent
    assert DU_SUFFIX in last["content"]
    mine = Post.objects.get(session=session, round__number=1, author=turn.participant)
    assert own["role"] == "assistant" and own["content"].startswith(mine.text)
    assert "change your mind" not in turn.prompt[0]["content"]  # no added clause by default


def test_round_table_prompt_groups_answers_and_the_final_answer_is_confidence_weighted(
    moderator, agents
):
    session = make_session(moderator, "round_table", agents(3, accuracy=0.5), rounds=3)
    run_locally(lambda: controls.control(mod_of(session), "start"))
    session = fresh(session)
    assert session.status == DebateSession.Status.FINISHED
    later = AgentTurn.objects.filter(session=session, round__number=2).first()
    if later is not None:  # no second round when all three agreed at once
        content = later.prompt[-1]["content"]
        assert RECONCILE_DISCUSSION in content
        assert "agents think the answer is" in content and "My confidence level is" in content
        assert content.count("There are ") <= 2  # the top two answer groups only
    outcome = session_outcome(session)
    assert outcome.default_rule == "confidence_weighted"
    assert outcome.final == outcome.rules["confidence_weighted"]


def test_a_person_who_never_answers_abstains_at_the_deadline(moderator, alice, agents):
    session = make_session(moderator, "round_robin", agents(2), rounds=2, turn_seconds=60)
    me = services.join_session(alice, session.invite_token)
    run_locally(lambda: controls.control(mod_of(session), "start"))
    for round_number in (1, 2):
        deadline = TurnDeadline.objects.get(session=session, participant=me, status="open")
        assert deadline.round.number == round_number
        assert 55 < (deadline.due_at - timezone.now()).total_seconds() <= 60
        # Not due yet: firing early changes nothing.
        assert controls.expire_deadline(deadline.pk) == "not due"
        TurnDeadline.objects.filter(pk=deadline.pk).update(
            due_at=timezone.now() - timedelta(seconds=1)
        )
        run_locally(lambda deadline=deadline: controls.expire_deadline(deadline.pk))
    session = fresh(session)
    assert session.status == DebateSession.Status.FINISHED
    abstentions = Post.objects.filter(session=session, kind="event", data__event="abstained")
    assert abstentions.count() == 2 and {p.author_id for p in abstentions} == {me.pk}
    # A second delivery of the same expiry does nothing.
    assert controls.expire_deadline(deadline.pk) == "expired"
    outcome = session_outcome(session)
    assert me.pk not in outcome.rounds.get(2, {})


def test_pause_stops_the_clock_and_extend_adds_time(moderator, alice, agents):
    session = make_session(moderator, "round_robin", agents(1), rounds=1, turn_seconds=100)
    me = services.join_session(alice, session.invite_token)
    mod = mod_of(session)
    run_locally(lambda: controls.control(mod, "start"))
    controls.control(mod, "pause")
    deadline = TurnDeadline.objects.get(participant=me, status="open")
    assert deadline.due_at is None and 95 < deadline.remaining_seconds <= 100
    assert controls.expire_deadline(deadline.pk) == "paused"
    controls.control(mod, "extend", participant_id=me.pk, seconds=50)
    deadline.refresh_from_db()
    assert 145 < deadline.remaining_seconds <= 150
    controls.control(mod, "resume")
    deadline.refresh_from_db()
    assert 145 < (deadline.due_at - timezone.now()).total_seconds() <= 150
    controls.control(mod, "extend", participant_id=me.pk, seconds=30)
    deadline.refresh_from_db()
    assert 175 < (deadline.due_at - timezone.now()).total_seconds() <= 180
    with pytest.raises(services.InvalidInput):
        controls.control(mod, "extend", participant_id=me.pk, seconds="soon")
    events = list(
        Post.objects.filter(session=session, kind="event").values_list("data__event", flat=True)
    )
    assert events == ["start", "pause", "extend", "resume", "extend"]


def test_moderator_skip_note_set_advance_and_end_are_stored_as_events(
    moderator, alice, bob, agents
):
    session = make_session(moderator, "free_debate", agents(2), rounds=3)
    a = services.join_session(alice, session.invite_token)
    b = services.join_session(bob, session.invite_token)
    mod = mod_of(session)
    agent1 = session.participants.get(display_name="Agent 1")
    # The moderator puts the people first.
    controls.control(mod, "set", name="order", value=f"{b.pk} {a.pk}")
    run_locally(lambda: controls.control(mod, "start"))
    assert my_slots(session, b) and not my_slots(session, a)
    run_locally(lambda: controls.control(mod, "skip", participant_id=b.pk))
    assert my_slots(session, a)
    services.submit_post(mod, "Please keep it short.")
    # Mid-session, a new order: agent 1 first from now on.
    run_locally(lambda: controls.control(mod, "set", name="order", value=str(agent1.pk)))
    run_locally(lambda: services.submit_post(a, "Paris, clearly.", answer="Paris"))
    # Round 1 is complete; round 2 follows the new order: agent 1, then the others by position
    # (agent 2, alice, bob).
    assert engine.current_round(fresh(session)).number == 2
    round2 = [p.author.display_name for p in arguments(session) if p.round.number == 2]
    assert round2 == ["Agent 1", "Agent 2"]
    assert my_slots(session, a) and not my_slots(session, b)
    run_locally(lambda: controls.control(mod, "advance"))
    assert engine.current_round(fresh(session)).number == 3
    run_locally(lambda: controls.control(mod, "end"))
    session = fresh(session)
    assert session.status == DebateSession.Status.FINISHED
    events = list(
        Post.objects.filter(session=session, kind="event")
        .order_by("seq")
        .values_list("data__event", flat=True)
    )
    assert events == ["set", "start", "skip", "skipped", "set", "advance", "end"]
    assert Post.objects.filter(session=session, kind="note", author=mod).count() == 1
    with pytest.raises(services.NotAllowed):
        controls.control(mod, "set", name="order", value="")
    with pytest.raises(services.InvalidInput):
        make_session(moderator, "free_debate", [], order="one two")


def test_settings_that_are_not_live_cannot_change_mid_session(moderator, alice, agents):
    session = make_session(moderator, "round_robin", agents(1))
    services.join_session(alice, session.invite_token)
    mod = mod_of(session)
    run_locally(lambda: controls.control(mod, "start"))
    with pytest.raises(services.NotAllowed) as err:
        controls.control(mod, "set", name="rounds", value=9)
    assert err.value.code == "not_live"
    with pytest.raises(services.InvalidInput):
        controls.control(mod, "set", name="colour", value=1)


def test_socratic_contentiousness_is_live_and_shapes_the_agents_instructions(moderator, agents):
    session = make_session(moderator, "socratic", agents(2), rounds=2, contentiousness=0.9)
    mod = mod_of(session)
    sides = {}

    def start():
        controls.control(mod, "start")

    run_locally(start)
    session = fresh(session)
    for p in session.participants.filter(role="debater"):
        sides[p.pk] = p.side
    assert sorted(sides.values()) == sorted(OPTIONS[:2])
    prompts = {
        (t.round.number, t.participant_id): t.prompt[0]["content"] + t.prompt[-1]["content"]
        for t in AgentTurn.objects.filter(session=session).select_related("round")
    }
    for (_number, pid), prompt in prompts.items():
        assert sides[pid] in prompt
    closing = [t for t in AgentTurn.objects.filter(session=session, round__phase="closing")]
    assert len(closing) == 2
    assert session.status == DebateSession.Status.FINISHED


def test_private_opinions_are_kept_apart_from_public_posts(moderator, alice, agents):
    session = make_session(moderator, "round_robin", agents(1), rounds=2)
    me = services.join_session(alice, session.invite_token)
    run_locally(lambda: controls.control(mod_of(session), "start"))
    run_locally(lambda: services.submit_post(me, "Publicly: Lyon.", answer="Lyon"))
    opinion = services.submit_opinion(me, answer="Paris", confidence=0.9, note="I doubt Lyon")
    # Corrected in the same round: one opinion per round.
    services.submit_opinion(me, answer="Paris", confidence=0.95)
    assert Opinion.objects.filter(participant=me).count() == 1
    opinion.refresh_from_db()
    assert opinion.answer == "Paris" and opinion.confidence == 0.95
    assert not Post.objects.filter(session=session, text__contains="doubt").exists()
    with pytest.raises(services.InvalidInput):
        services.submit_opinion(me, answer="Berlin")
    with pytest.raises(services.NotAllowed):
        services.submit_opinion(mod_of(session), answer="Paris")


def test_unreadable_answers_get_one_repair_prompt_then_count_as_unparsed(
    moderator, simulated_agent
):
    broken = simulated_agent(
        name="Broken", seed=3, parameters={"simulated": {"token_delay": 0, "format_error_rate": 1}}
    )
    sloppy = simulated_agent(
        name="Sloppy",
        seed=4,
        parameters={"simulated": {"token_delay": 0, "format_error_rate": 0.99}},
    )
    fine = simulated_agent(name="Fine", seed=5, parameters={"simulated": {"token_delay": 0}})
    session = make_session(moderator, "vote_only", [broken, sloppy, fine])
    run_locally(lambda: controls.control(mod_of(session), "start"))
    turns = {t.participant.display_name: t for t in AgentTurn.objects.filter(session=session)}
    assert turns["Broken"].parse_status == "unparsed" and turns["Broken"].repair_reply
    assert turns["Broken"].post.answer is None
    assert turns["Sloppy"].parse_status == "repaired" and turns["Sloppy"].post.answer in OPTIONS
    assert turns["Fine"].parse_status == "parsed" and not turns["Fine"].repair_reply
    # The repair call's usage is counted with the turn; its messages are kept for the record.
    assert len(turns["Sloppy"].prompt) == 4
    outcome = session_outcome(fresh(session))
    broken_id = turns["Broken"].participant_id
    assert broken_id not in outcome.rounds[1]
    assert len(outcome.rounds[1]) == 2
    assert Post.objects.filter(session=session, kind="system", text__contains="unparsed").count()


def test_anonymised_sessions_hide_names_and_kinds_from_agents_and_debaters(
    moderator, alice, agents
):
    session = make_session(moderator, "round_robin", agents(2), rounds=2, anonymise=True)
    me = services.join_session(alice, session.invite_token)
    run_locally(lambda: controls.control(mod_of(session), "start"))
    run_locally(lambda: services.submit_post(me, "I say Paris.", answer="Paris"))
    for turn in AgentTurn.objects.filter(session=session, round__number=2):
        transcript = turn.prompt[-1]["content"]
        assert "Participant " in transcript
        for name in ("Agent 1", "Agent 2", "alice"):
            if name != turn.participant.display_name:
                assert name not in transcript
        assert "(agent)" not in transcript and "(person)" not in transcript
    viewer = Viewer.of(me)
    assert viewer.anonymous and not Viewer.of(mod_of(session)).anonymous


def test_shuffled_options_are_seeded_per_agent_and_answers_stay_canonical(moderator, agents):
    session = make_session(moderator, "vote_only", agents(3), shuffle_options=True)
    run_locally(lambda: controls.control(mod_of(session), "start"))
    orders = set()
    for turn in AgentTurn.objects.filter(session=session):
        content = turn.prompt[-1]["content"]
        orders.add(tuple(sorted(OPTIONS, key=content.index)))
        assert turn.post.answer in OPTIONS
    assert len(orders) > 1


def test_judged_debate_with_an_agent_judge_uses_the_judges_verdict(
    moderator, agents, simulated_agent
):
    debaters = agents(2)
    judge = simulated_agent(name="Judge", seed=99, parameters={"simulated": {"token_delay": 0}})
    session = make_session(moderator, "judged", debaters, judge=judge, rounds=2)
    run_locally(lambda: controls.control(mod_of(session), "start"))
    session = fresh(session)
    assert session.status == DebateSession.Status.FINISHED
    judge_turn = AgentTurn.objects.get(session=session, participant__role="judge")
    prompt = judge_turn.prompt[-1]["content"]
    assert "Agent 1" not in prompt and "Agent 2" not in prompt  # identities hidden
    outcome = session_outcome(session)
    assert outcome.default_rule == "judge"
    assert outcome.final.answer in OPTIONS[:2]


def test_judged_debate_refuses_to_start_without_a_judge(moderator, agents):
    session = make_session(moderator, "judged", agents(2))
    with pytest.raises(services.NotAllowed) as err:
        controls.control(mod_of(session), "start")
    assert "judge" in err.value.message.lower()
    assert fresh(session).status == DebateSession.Status.DRAFT


def test_peer_review_stores_one_review_per_pair_with_a_score(moderator, agents):
    session = make_session(moderator, "peer_review", agents(3))
    run_locally(lambda: controls.control(mod_of(session), "start"))
    session = fresh(session)
    reviews = Post.objects.filter(session=session, kind="argument", target__isnull=False)
    assert reviews.count() == 6
    assert {(r.author_id, r.target_id) for r in reviews} == {
        (a, b)
        for a in session.participants.filter(role="debater").values_list("pk", flat=True)
        for b in session.participants.filter(role="debater").values_list("pk", flat=True)
        if a != b
    }
    assert all(1 <= r.data["score"] <= 10 for r in reviews)
    assert session.rounds.get(number=3).phase == "revise"


def test_a_person_reviews_with_a_score_and_bad_scores_are_refused(moderator, alice, agents):
    session = make_session(moderator, "peer_review", agents(1))
    me = services.join_session(alice, session.invite_token)
    run_locally(lambda: controls.control(mod_of(session), "start"))
    run_locally(lambda: services.submit_post(me, "Paris.", answer="Paris", confidence=0.9))
    slot = my_slots(session, me)[0]
    assert slot[1] is not None
    for bad in (0, 11, 2.5, "ten"):
        with pytest.raises(services.InvalidInput):
            services.submit_post(me, "Review", score=bad, target_id=slot[1])
    with pytest.raises(services.InvalidInput):
        services.submit_post(me, "Review without score", target_id=slot[1])
    run_locally(lambda: services.submit_post(me, "Good work.", score=8, target_id=slot[1]))
    review = Post.objects.get(session=session, author=me, target_id=slot[1])
    assert review.data == {"score": 8, "score_means": "feedback_confidence"}
    assert review.confidence == 0.8


def test_answers_in_every_format_are_validated_for_people(moderator, alice):
    for fmt, options, good, bad in [
        ("multiple_choice", ["A", "B", "C"], ["C", "a"], ["D"]),
        ("ranking", ["A", "B", "C"], "B > A > C", "B > A"),
        ("numeric", [], "12.5", "twelve"),
    ]:
        session = services.create_session(
            moderator=moderator,
            title=fmt,
            question="Q?",
            answer_format=fmt,
            options=options,
            protocol="vote_only",
        )
        me = services.join_session(alice, session.invite_token)
        controls.control(mod_of(session), "start")
        with pytest.raises(services.InvalidInput):
            services.submit_post(me, "x", answer=bad)
        post = services.submit_post(me, "x", answer=good).post
        assert (
            post.answer
            == {
                "multiple_choice": ["A", "C"],
                "ranking": ["B", "A", "C"],
                "numeric": 12.5,
            }[fmt]
        )


def test_the_sweep_fires_deadlines_whose_task_was_lost(moderator, alice, agents):
    session = make_session(moderator, "round_robin", agents(1), rounds=1, turn_seconds=60)
    me = services.join_session(alice, session.invite_token)
    run_locally(lambda: controls.control(mod_of(session), "start"))
    deadline = TurnDeadline.objects.get(participant=me, status="open")
    assert controls.sweep_overdue_deadlines() == 0  # not due: nothing happens
    TurnDeadline.objects.filter(pk=deadline.pk).update(
        due_at=timezone.now() - timedelta(seconds=30)
    )
    fired = []
    run_locally(lambda: fired.append(controls.sweep_overdue_deadlines()))
    assert fired == [1]
    deadline.refresh_from_db()
    assert deadline.status == "expired"
    assert fresh(session).status == DebateSession.Status.FINISHED
    assert controls.sweep_overdue_deadlines() == 0
