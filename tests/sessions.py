"""Sessions really run (people, simulated agents, moderator controls), as fixtures shared by
the export and the review tests (their conftest modules import them)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from deliberation.agents.services import run_locally
from deliberation.debates import controls, services
from deliberation.debates.models import DebateSession, Participant
from deliberation.moderation import services as moderation


@pytest.fixture(autouse=True)
def _clear_metrics_cache():
    cache.clear()
    yield


def fresh(session: DebateSession) -> DebateSession:
    return DebateSession.objects.get(pk=session.pk)


def moderator_of(session: DebateSession) -> Participant:
    return session.participants.get(role=Participant.Role.MODERATOR)


@pytest.fixture
def rich_session(moderator, alice, bob, simulated_agent, task_queue):
    """A finished free debate with two people and two agents (one unreadable), moderator
    events (set order, extend, skip, pause, resume), private opinions, and an adjudication
    revised once and published."""

    def make() -> DebateSession:
        good = simulated_agent(
            name="Good",
            seed=3,
            api_key_env="SIM_API_KEY",
            parameters={"simulated": {"token_delay": 0, "accuracy": 1}, "temperature": 0.3},
            prompt_price_per_mtok=2,
            completion_price_per_mtok=6,
        )
        garbled = simulated_agent(
            name="Garbled",
            seed=4,
            parameters={"simulated": {"token_delay": 0, "format_error_rate": 1}},
        )
        session = services.create_session(
            moderator=moderator,
            title='Capital — «quoted» "text"',
            question="What is the capital of France?\nAnswer with one option.",
            options=["Paris", "Lyon", "Marseille"],
            gold_answer="Paris",
            protocol="free_debate",
            protocol_settings={"rounds": 2, "turn_seconds": 600},
            agent_profiles=[good, garbled],
        )
        mod = moderator_of(session)
        me = services.join_session(alice, session.invite_token)
        other = services.join_session(bob, session.invite_token)
        agents = list(session.participants.filter(kind="agent").order_by("position"))
        order = [me.pk, agents[0].pk, agents[1].pk, other.pk]
        controls.control(mod, "set", name="order", value=order)
        run_locally(lambda: controls.control(mod, "start"))
        # Round 1: private opinions, Alice speaks, the agents answer, Bob is given more time
        # and then skipped.
        services.submit_opinion(me, answer="Paris", confidence=0.7, note="Fairly sure.")
        services.submit_opinion(other, answer="Lyon", confidence=0.4)
        run_locally(
            lambda: services.submit_post(
                me, "Paris is the capital.", answer="Paris", confidence=0.9, client_msg_id="a-1"
            )
        )
        controls.control(mod, "extend", participant_id=other.pk, seconds=30)
        run_locally(lambda: controls.control(mod, "skip", participant_id=other.pk))
        # Round 2: a pause, then everyone speaks.
        controls.control(mod, "pause")
        run_locally(lambda: controls.control(mod, "resume"))
        services.submit_opinion(other, answer="Paris", confidence=0.8)
        run_locally(lambda: services.submit_post(me, "Still Paris.", answer="Paris"))
        run_locally(
            lambda: services.submit_post(other, "Fine: Paris.", answer="Paris", confidence=0.6)
        )
        session = fresh(session)
        assert session.status == DebateSession.Status.FINISHED, session.finish_reason
        posts = list(session.posts.filter(kind="argument").order_by("seq"))
        moderation.decide(
            session, moderator, answer="Lyon", rationale="First reading.", post_seqs=[posts[0].seq]
        )
        moderation.decide(
            session,
            moderator,
            answer="Paris",
            rationale="Everyone ended on Paris.",
            reason="Misread the transcript.",
            post_seqs=[posts[0].seq, posts[-1].seq],
        )
        moderation.publish(session, moderator)
        return fresh(session)

    return make


@pytest.fixture
def people_session(moderator, make_user):
    """A finished simultaneous session of people only: ``make(n_people, answers...)``."""
    counter = {"n": 0}

    def make(answers=("Yes", "No"), *, rounds: int = 1, title: str = "People") -> DebateSession:
        session = services.create_session(
            moderator=moderator,
            title=title,
            question="Is the sky blue?",
            options=["Yes", "No"],
            protocol="simultaneous",
            protocol_settings={"rounds": rounds},
        )
        people = []
        for _ in answers:
            counter["n"] += 1
            user = make_user(f"person{counter['n']}")
            people.append(services.join_session(user, session.invite_token))
        controls.control(moderator_of(session), "start")
        for _ in range(rounds):
            for person, answer in zip(people, answers, strict=True):
                services.submit_post(person, f"I say {answer}.", answer=answer, confidence=0.5)
        session = fresh(session)
        assert session.status == DebateSession.Status.FINISHED
        return session

    return make


@pytest.fixture
def review_session(moderator, simulated_agent):
    """A finished peer review of three agents: reviews target participants, scores in data."""

    def make() -> DebateSession:
        agents = [
            simulated_agent(
                name=f"Peer {i}", seed=20 + i, parameters={"simulated": {"token_delay": 0}}
            )
            for i in range(3)
        ]
        session = services.create_session(
            moderator=moderator,
            title="Peers",
            question="Capital of France?",
            options=["Paris", "Lyon", "Marseille"],
            gold_answer="Paris",
            protocol="peer_review",
            protocol_settings={},
            agent_profiles=agents,
        )
        run_locally(lambda: controls.control(moderator_of(session), "start"))
        session = fresh(session)
        assert session.status == DebateSession.Status.FINISHED
        return session

    return make
