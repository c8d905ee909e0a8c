"""Agents' private opinions after each round (DEBATE benchmark), run like turns: a row first,
the task on commit, claimed under a lease, stored once as a ``debates.Opinion``."""

from __future__ import annotations

import json
import time

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from deliberation.agents import opinions
from deliberation.agents.models import AgentTurn, OpinionRequest
from deliberation.agents.services import run_locally
from deliberation.agents.tasks import run_agent_opinion
from deliberation.api import tokens
from deliberation.debates import controls, services
from deliberation.debates.models import DebateSession, Opinion, Post
from deliberation.moderation.metrics import session_metrics
from tests.conftest import ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


def make_session(moderator, profiles, rounds=2, **settings):
    return services.create_session(
        moderator=moderator,
        title="Opinions",
        question="Is the sky blue?",
        options=["Yes", "No"],
        gold_answer="Yes",
        protocol_settings={"rounds": rounds, **settings},
        agent_profiles=list(profiles),
    )


def start(session):
    mod = session.participants.get(role="moderator")
    return lambda: controls.control(mod, "start")


def public_answers(session):
    return {
        (p.round.number, p.author_id): p.answer
        for p in Post.objects.filter(session=session, kind=Post.Kind.ARGUMENT).select_related(
            "round"
        )
    }


def private_answers(session):
    return {
        (o.round.number, o.participant_id): (o.answer, o.confidence)
        for o in Opinion.objects.filter(session=session).select_related("round")
    }


def test_off_by_default_no_agent_is_asked(moderator, simulated_agent):
    session = make_session(moderator, [simulated_agent("A", seed=1), simulated_agent("B", seed=2)])
    assert session.protocol_settings["agent_opinions"] is False
    run_locally(start(session))
    session.refresh_from_db()
    assert session.status == DebateSession.Status.FINISHED
    assert not OpinionRequest.objects.exists() and not Opinion.objects.exists()


def test_every_agent_debater_is_asked_after_each_round_and_answers_deterministically(
    moderator, simulated_agent
):
    profiles = [
        simulated_agent("A", seed=1, parameters={"simulated": {"accuracy": 0.5}}),
        simulated_agent("B", seed=2, parameters={"simulated": {"accuracy": 0.5}}),
    ]
    results = []
    for _ in range(2):  # same seeds, same session: the same private opinions
        session = make_session(moderator, profiles, rounds=2, agent_opinions=True)
        run_locally(start(session))
        session.refresh_from_db()
        assert session.status == DebateSession.Status.FINISHED
        rows = list(OpinionRequest.objects.filter(session=session).select_related("round"))
        agents = list(session.participants.filter(role="debater").order_by("position"))
        assert sorted((r.round.number, r.participant_id) for r in rows) == sorted(
            (n, a.pk) for n in (1, 2) for a in agents
        )
        assert all(r.status == "done" and r.parse_status == "parsed" for r in rows)
        assert all(r.opinion_id and r.prompt and r.reply and r.attempts == 1 for r in rows)
        assert all(r.prompt_tokens and r.completion_tokens for r in rows)
        # An agent that argues freely privately holds what it said (private_divergence 0).
        public, private = public_answers(session), private_answers(session)
        assert {k: v[0] for k, v in private.items()} == public
        # The opinion call continues the agent's own public turn, told that it is private.
        row = next(r for r in rows if r.round.number == 2)
        turn = AgentTurn.objects.get(round=row.round, participant=row.participant)
        assert row.prompt[: len(turn.prompt)] == turn.prompt
        assert row.prompt[len(turn.prompt)] == {"role": "assistant", "content": turn.reply}
        assert "moderator only" in row.prompt[-1]["content"]
        assert "ANSWER:" in row.prompt[-1]["content"]
        # Not a turn: the protocol and the per-turn record never see it.
        assert AgentTurn.objects.filter(session=session).count() == 4
        results.append(sorted(private.values(), key=repr))
    assert results[0] == results[1]


def test_an_assigned_side_is_argued_in_public_while_the_private_opinion_differs(
    moderator, simulated_agent
):
    honest = simulated_agent("Honest", seed=3, parameters={"simulated": {"accuracy": 1.0}})
    adversary = simulated_agent(
        "Adversary", seed=4, parameters={"simulated": {"accuracy": 1.0, "adversarial": "No"}}
    )
    session = make_session(moderator, [honest, adversary], rounds=2, agent_opinions=True)
    run_locally(start(session))
    adv = session.participants.get(agent_profile=adversary)
    good = session.participants.get(agent_profile=honest)
    public, private = public_answers(session), private_answers(session)
    for n in (1, 2):
        assert public[(n, adv.pk)] == "No" and private[(n, adv.pk)][0] == "Yes"
        assert public[(n, good.pk)] == "Yes" == private[(n, good.pk)][0]
    metrics = session_metrics(session)
    cells = next(t for t in metrics["trajectories"] if t["id"] == adv.pk)["rounds"]
    assert [c["private_answer"] for c in cells] == ["Yes", "Yes"]
    assert all(c["diverges"] for c in cells)
    assert [
        (r["round"], r["agents"], r["people"], r["rate"]) for r in metrics["private_shift"]
    ] == [
        (
            n,
            {"compared": 2, "diverged": 1, "private": 2},
            {"compared": 0, "diverged": 0, "private": 0},
            0.5,
        )
        for n in (1, 2)
    ]


def test_a_request_delivered_twice_stores_one_opinion(moderator, simulated_agent):
    session = make_session(moderator, [simulated_agent("A", seed=1)], rounds=1)
    run_locally(start(session))  # the setting is off: no request yet
    agent = session.participants.get(kind="agent")
    rnd = session.rounds.get(number=1)
    row = OpinionRequest.objects.create(session=session, round=rnd, participant=agent)
    # A delivery that holds the lease makes a concurrent one skip.
    assert opinions._claim(row.pk) is not None
    assert opinions.execute_opinion(row.pk).status == "skipped"
    OpinionRequest.objects.filter(pk=row.pk).update(lease_until=None)  # the holder died
    assert opinions.execute_opinion(row.pk).status == "done"
    assert opinions.execute_opinion(row.pk).status == "skipped"  # a redelivery
    row.refresh_from_db()
    assert row.attempts == 2 and row.status == "done"
    assert Opinion.objects.filter(session=session).count() == 1
    # Asking again for the same round creates nothing new.
    assert opinions.request_opinions(session, rnd) == [row]
    assert OpinionRequest.objects.count() == 1


def test_an_unreadable_private_answer_is_unparsed_never_guessed(moderator, simulated_agent):
    mute = simulated_agent("Mute", seed=5, parameters={"simulated": {"format_error_rate": 1.0}})
    session = make_session(moderator, [mute], rounds=1, agent_opinions=True)
    run_locally(start(session))
    row = OpinionRequest.objects.get(session=session)
    assert row.status == "done" and row.parse_status == "unparsed" and row.opinion is None
    # The repair prompt was sent once, after the first unreadable reply.
    assert row.repair_reply and row.prompt[-2] == {"role": "assistant", "content": row.reply}
    assert "did not end with the required lines" in row.prompt[-1]["content"]
    assert not Opinion.objects.filter(session=session).exists()
    cells = session_metrics(session)["trajectories"][0]["rounds"]
    assert cells[0]["private_answer"] is None and cells[0]["private_status"] == "unparsed"
    assert not cells[0]["diverges"]


def test_sealed_posts_stay_hidden_from_the_opinion_prompt_until_they_may_be_seen(
    moderator, simulated_agent
):
    """Vote only: every answer is sealed until the finish, so the agent's private call after
    round 1 shows none of the others' answers."""
    a, b = simulated_agent("A", seed=1), simulated_agent("B", seed=2)
    session = services.create_session(
        moderator=moderator,
        title="Sealed",
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol="vote_only",
        protocol_settings={"agent_opinions": True},
        agent_profiles=[a, b],
    )
    run_locally(start(session))
    session.refresh_from_db()
    assert session.status == DebateSession.Status.FINISHED
    rows = list(OpinionRequest.objects.filter(session=session).select_related("participant"))
    assert len(rows) == 2
    for row in rows:
        other = next(r for r in rows if r.pk != row.pk).participant
        other_post = Post.objects.get(session=session, author=other, kind="argument")
        shown = json.dumps(row.prompt)
        assert other_post.text not in shown


# --- a real worker; what the other participants receive ----------------------------------------
def _setup_with_person(moderator, simulated_agent, alice):
    agent = simulated_agent("Ada", seed=7)
    session = make_session(moderator, [agent], rounds=1, agent_opinions=True)
    services.join_session(alice, session.invite_token)
    return session


async def test_a_worker_stores_opinions_that_no_other_participant_ever_receives(
    worker, moderator, simulated_agent, alice
):
    session = await database_sync_to_async(_setup_with_person)(moderator, simulated_agent, alice)
    frames: list[str] = []
    async with ws_connect(alice, session.pk) as client:
        assert (await client.connect())[0]
        mod = await database_sync_to_async(session.participants.get)(role="moderator")
        await database_sync_to_async(controls.control)(mod, "start")
        while True:  # until the agent has spoken
            raw = await client.receive_from(timeout=15)
            frames.append(raw)
            message = json.loads(raw)
            if message["type"] == "post" and (message["post"]["author"] or {}).get("kind") == (
                "agent"
            ):
                break
        me = await database_sync_to_async(session.participants.get)(user=alice)
        await database_sync_to_async(services.submit_post)(
            me, "I say no.", answer="No", confidence=0.6
        )

        def done():
            return OpinionRequest.objects.filter(session=session, status="done").count()

        async def drain():
            while not await client.receive_nothing(timeout=0.3):
                frames.append(await client.receive_from())

        deadline = time.monotonic() + 20
        while await database_sync_to_async(done)() < 1 and time.monotonic() < deadline:
            await drain()
        await drain()  # what arrived after the opinion was stored

    row = await database_sync_to_async(
        lambda: OpinionRequest.objects.select_related("opinion").get(session=session)
    )()
    assert row.status == "done" and row.opinion is not None
    # Delivered twice (a broker redelivery): still one opinion, one attempt.
    run_agent_opinion.delay(row.pk)
    run_agent_opinion.delay(row.pk)
    await database_sync_to_async(lambda: time.sleep(1.5))()
    row2 = await database_sync_to_async(OpinionRequest.objects.get)(pk=row.pk)
    count = await database_sync_to_async(Opinion.objects.filter(session=session).count)()
    assert row2.attempts == 1 and count == 1
    # No frame to the person carries the private call: not its prompt, reply or answer.
    assert not any("Privately" in f or "opinion" in json.loads(f)["type"] for f in frames)
    assert row.reply.splitlines()[0] not in "".join(frames)

    def api(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(user, 'tests')[1]}")
        return client

    def check_api():
        agent = session.participants.get(kind="agent")
        theirs = api(alice).get(f"/api/v1/sessions/{session.pk}/opinions/").json()
        assert all(o.get("participant") != agent.pk for o in theirs)
        assert theirs == []
        transcript = json.dumps(api(alice).get(f"/api/v1/sessions/{session.pk}/posts/").json())
        assert "Privately" not in transcript and row.reply not in transcript
        everyone = api(moderator).get(f"/api/v1/sessions/{session.pk}/opinions/").json()
        assert len(everyone) == 1
        metrics = session_metrics(session)
        cell = next(t for t in metrics["trajectories"] if t["id"] == agent.pk)["rounds"][0]
        assert cell["private_answer"] == row.opinion.answer
        assert metrics["private_shift"][0]["agents"]["private"] == 1

    await database_sync_to_async(check_api)()


def test_a_batch_result_records_public_and_private_answers(moderator, simulated_agent):
    from deliberation.batches.services import item_result

    adversary = simulated_agent(
        "Adversary", seed=4, parameters={"simulated": {"accuracy": 1.0, "adversarial": "No"}}
    )
    session = make_session(moderator, [adversary], rounds=2, agent_opinions=True)
    run_locally(start(session))
    result = item_result(session)
    assert result["round_answers"] == {"1": {"1": "No"}, "2": {"1": "No"}}
    assert result["private_answers"] == {"1": {"1": "Yes"}, "2": {"1": "Yes"}}
    assert result["private_pending"] == 0
