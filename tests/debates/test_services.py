"""Session use cases against PostgreSQL: creating, joining, posting, moderating, agent turns."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings
from django.db import connection, transaction

from deliberation import celery_app
from deliberation.agents.models import AgentTurn
from deliberation.agents.parsing import parse_reply, strip_structured
from deliberation.agents.services import execute_turn
from deliberation.debates import controls, services
from deliberation.debates.models import DebateSession, Participant, Post, Round

pytestmark = pytest.mark.django_db

FAST = {"simulated": {"token_delay": 0}}


def moderator_of(session: DebateSession) -> Participant:
    return session.participants.get(role=Participant.Role.MODERATOR)


def seqs(session: DebateSession) -> list[int]:
    return list(Post.objects.filter(session=session).order_by("seq").values_list("seq", flat=True))


def refreshed(obj):
    obj.refresh_from_db()
    return obj


@pytest.fixture
def people_debate(debate, alice, bob):
    """A draft session where alice speaks first and bob second (no agents)."""

    def make(**kwargs):
        session = debate(**kwargs)
        a = services.join_session(alice, session.invite_token)
        b = services.join_session(bob, session.invite_token)
        return session, moderator_of(session), a, b

    return make


def queued_tasks(queue: str) -> list[tuple[str, list]]:
    """(task name, args) of every message waiting in ``queue``; consumes them."""
    found = []
    with celery_app.connection_for_read() as conn:
        simple = conn.SimpleQueue(queue)
        try:
            while True:
                try:
                    message = simple.get(block=True, timeout=1 if not found else 0.2)
                except simple.Empty:
                    break
                args = message.decode()[0]
                found.append((message.headers["task"], list(args)))
                message.ack()
        finally:
            simple.close()
    return found


def expect_error(exc_type, code: str, func, *args, **kwargs):
    with pytest.raises(exc_type) as info:
        func(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


# --- create_session ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options", [[], ["Yes"], ["Yes", "  "], ["Yes", " yes "], ["Yes", "", None, "No", "NO"]]
)
def test_single_choice_needs_two_distinct_options(moderator, options):
    expect_error(
        services.InvalidInput,
        "options",
        services.create_session,
        moderator=moderator,
        title="T",
        question="Q?",
        options=options,
    )
    assert not DebateSession.objects.exists()


def test_create_session_stores_a_draft_with_its_moderator_and_agents_in_order(
    moderator, simulated_agent
):
    first, second = simulated_agent("Ada"), simulated_agent("Babbage", seed=2)
    session = services.create_session(
        moderator=moderator,
        title="  Sky  ",
        question=" Is the sky blue? ",
        options=[" Yes ", "No", ""],
        protocol_settings={"rounds": "4"},
        agent_profiles=[first, second],
    )
    session.refresh_from_db()
    assert session.status == DebateSession.Status.DRAFT
    assert (session.title, session.question) == ("Sky", "Is the sky blue?")
    assert session.options == ["Yes", "No"]
    assert session.protocol_settings["rounds"] == 4
    assert session.protocol_settings["turn_seconds"] == 180  # defaults filled in
    participants = list(session.participants.order_by("position"))
    assert [(p.role, p.kind, p.display_name) for p in participants] == [
        ("moderator", "human", "mod"),
        ("debater", "agent", "Ada"),
        ("debater", "agent", "Babbage"),
    ]
    assert participants[0].user == moderator


def test_create_session_defaults_to_three_rounds_and_drops_options_of_numeric(moderator):
    session = services.create_session(
        moderator=moderator,
        title="T",
        question="How many?",
        answer_format=DebateSession.AnswerFormat.NUMERIC,
        options=["1", "2"],
    )
    assert refreshed(session).protocol_settings["rounds"] == 3
    assert session.options == []


@pytest.mark.parametrize(
    ("protocol", "protocol_settings"),
    [
        ("round_robin", {"rounds": 0}),
        ("round_robin", {"rounds": 51}),
        ("round_robin", {"rounds": "abc"}),
        ("round_robin", {"rounds": True}),
        ("no_such_protocol", {}),
    ],
)
def test_bad_protocol_settings_are_refused(moderator, protocol, protocol_settings):
    expect_error(
        services.InvalidInput,
        "protocol_settings",
        services.create_session,
        moderator=moderator,
        title="T",
        question="Q?",
        options=["Yes", "No"],
        protocol=protocol,
        protocol_settings=protocol_settings,
    )
    assert not DebateSession.objects.exists()


# --- join_session ------------------------------------------------------------------------------
def test_join_by_invite_is_idempotent(debate, alice):
    session = debate()
    first = services.join_session(alice, session.invite_token)
    again = services.join_session(alice, session.invite_token)
    assert first.pk == again.pk
    assert (first.role, first.kind, first.display_name) == ("debater", "human", "alice")
    assert session.participants.filter(user=alice).count() == 1
    assert first.position > moderator_of(session).position


def test_people_join_in_order_after_the_agents(debate, simulated_agent, alice, bob):
    session = debate(agents=[simulated_agent("Ada")])
    a = services.join_session(alice, session.invite_token)
    b = services.join_session(bob, session.invite_token)
    agent = session.participants.get(kind="agent")
    assert agent.position < a.position < b.position


def test_the_moderator_joining_their_own_invite_stays_moderator(debate, moderator):
    session = debate()
    assert services.join_session(moderator, session.invite_token) == moderator_of(session)


def test_bad_invite_token_is_refused(debate, alice):
    debate()
    expect_error(services.NotAllowed, "bad_invite", services.join_session, alice, "nope")
    assert not Participant.objects.filter(user=alice).exists()


def test_finished_session_refuses_new_joiners_but_not_existing_ones(debate, alice, bob):
    session = debate()
    a = services.join_session(alice, session.invite_token)
    controls.control(moderator_of(session), "end")
    expect_error(services.NotAllowed, "finished", services.join_session, bob, session.invite_token)
    assert not session.participants.filter(user=bob).exists()
    assert services.join_session(alice, session.invite_token).pk == a.pk


def test_observers_join_and_cannot_post(debate, alice):
    session = debate(join_role=DebateSession.JoinRole.OBSERVER)
    observer = services.join_session(alice, session.invite_token)
    assert observer.role == Participant.Role.OBSERVER
    controls.control(moderator_of(session), "start")
    expect_error(services.NotAllowed, "forbidden", services.submit_post, observer, "Hi")
    # An observer is never anyone's turn: the session has no debaters, so it finished at once.
    assert refreshed(session).finish_reason == "no debaters"
    assert not Post.objects.filter(author=observer).exists()


# --- submit_post -------------------------------------------------------------------------------
def test_a_whole_session_of_people(people_debate):
    session, mod, a, b = people_debate(rounds=2)
    controls.control(mod, "start")
    for author, text in [(a, "A1"), (b, "B1"), (a, "A2"), (b, "B2")]:
        result = services.submit_post(author, text, answer="Yes", confidence=0.5)
        assert result.created and result.post.kind == Post.Kind.ARGUMENT
    session.refresh_from_db()
    assert session.status == DebateSession.Status.FINISHED
    assert session.finish_reason == "completed 2 rounds" and session.finished_at
    texts = list(
        Post.objects.filter(session=session).order_by("seq").values_list("text", flat=True)
    )
    assert texts == [
        "The moderator started the session.",
        "Round 1 (discussion) begins.",
        "A1",
        "B1",
        "Round 2 (discussion) begins.",
        "A2",
        "B2",
        "Session finished: completed 2 rounds.",
    ]
    assert seqs(session) == list(range(1, 9))
    assert list(session.rounds.values_list("number", "status")) == [(1, "closed"), (2, "closed")]
    assert Post.objects.get(text="A2").round.number == 2
    expect_error(services.NotAllowed, "not_your_turn", services.submit_post, a, "late")


def test_sequence_numbers_have_no_gaps_and_are_per_session(people_debate, debate):
    session, mod, a, b = people_debate(rounds=3)
    other = debate(title="Other")
    services.submit_post(mod, "Welcome, before we start.")
    services.submit_post(moderator_of(other), "Other session note.")
    controls.control(mod, "start")
    services.submit_post(a, "A1")
    with pytest.raises(services.NotAllowed):
        services.submit_post(a, "A1 again")  # refused: consumes no sequence number
    services.submit_post(mod, "Note.")
    services.submit_post(b, "B1")
    services.submit_post(moderator_of(other), "Second note.")
    assert seqs(session) == list(range(1, len(seqs(session)) + 1))
    assert len(seqs(session)) == 7  # note, start, round 1, A1, note, B1, round 2
    assert seqs(other) == [1, 2]
    assert services.last_seq(session.pk) == 7
    assert [p["seq"] for p in services.posts_after(session.pk, 2, upto_seq=4)] == [3, 4]


def test_moderator_notes_are_allowed_until_the_session_finishes(people_debate):
    session, mod, _, _ = people_debate()
    draft_note = services.submit_post(mod, "Draft note.").post
    assert draft_note.kind == Post.Kind.NOTE and draft_note.round is None
    controls.control(mod, "start")
    assert services.submit_post(mod, "Running note.").post.round.number == 1
    controls.control(mod, "pause")
    assert services.submit_post(mod, "Paused note.").created
    controls.control(mod, "end")
    expect_error(services.NotAllowed, "finished", services.submit_post, mod, "Too late.")
    assert not Post.objects.filter(text="Too late.").exists()
    # Notes are not turns: alice was never marked as having spoken, nobody was skipped.
    assert Post.objects.filter(session=session, kind=Post.Kind.NOTE).count() == 3


def test_a_debater_outside_their_turn_is_refused(people_debate):
    session, mod, a, b = people_debate()
    error = expect_error(services.NotAllowed, "not_your_turn", services.submit_post, a, "Early")
    assert "not started" in error.message
    controls.control(mod, "start")
    error = expect_error(services.NotAllowed, "not_your_turn", services.submit_post, b, "Me!")
    assert "alice" in error.message
    controls.control(mod, "pause")
    expect_error(services.NotAllowed, "not_your_turn", services.submit_post, a, "Paused")
    assert not Post.objects.filter(session=session, kind=Post.Kind.ARGUMENT).exists()


@pytest.mark.parametrize("text", ["", "   \n\t ", None])
def test_empty_posts_are_refused(people_debate, text):
    session, mod, a, _ = people_debate()
    controls.control(mod, "start")
    before = seqs(session)
    expect_error(services.InvalidInput, "empty", services.submit_post, a, text)
    expect_error(services.InvalidInput, "empty", services.submit_post, mod, text)
    assert seqs(session) == before


def test_too_long_posts_are_refused_and_the_limit_is_allowed(people_debate):
    limit = settings.DELIBERATION["MAX_POST_CHARS"]
    session, mod, a, _ = people_debate()
    controls.control(mod, "start")
    before = seqs(session)
    expect_error(services.InvalidInput, "too_long", services.submit_post, a, "x" * (limit + 1))
    expect_error(services.InvalidInput, "too_long", services.submit_post, mod, "y" * (limit + 1))
    assert seqs(session) == before
    assert services.submit_post(a, "x" * limit).post.text == "x" * limit


def test_the_post_limit_follows_the_setting(people_debate, settings):
    settings.DELIBERATION = {**settings.DELIBERATION, "MAX_POST_CHARS": 10}
    _, mod, _, _ = people_debate()
    expect_error(services.InvalidInput, "too_long", services.submit_post, mod, "x" * 11)
    assert services.submit_post(mod, "x" * 10).created


def test_a_retried_client_msg_id_returns_the_first_post(people_debate):
    session, mod, a, b = people_debate()
    controls.control(mod, "start")
    first = services.submit_post(a, "Hello", client_msg_id="m-1", answer="Yes")
    assert first.created
    # The retry arrives after the turn moved on to bob: still acknowledged, not refused.
    again = services.submit_post(a, "Hello", client_msg_id="m-1", answer="Yes")
    assert not again.created and again.post.pk == first.post.pk
    assert Post.objects.filter(session=session, author=a).count() == 1
    # bob's turn was not skipped by the retry.
    assert services.submit_post(b, "Hi", client_msg_id="m-1").created  # ids are per author
    note = services.submit_post(mod, "Note", client_msg_id="n-1")
    assert services.submit_post(mod, "Note", client_msg_id="n-1").post.pk == note.post.pk
    assert seqs(session) == list(range(1, len(seqs(session)) + 1))


def test_answers_are_validated_against_the_answer_format(people_debate):
    _, mod, a, _ = people_debate()
    controls.control(mod, "start")
    expect_error(services.InvalidInput, "answer", services.submit_post, a, "t", answer="Maybe")
    for bad in (1.5, -0.1, "high"):
        expect_error(
            services.InvalidInput, "confidence", services.submit_post, a, "t", confidence=bad
        )
    post = services.submit_post(a, "t", answer="No", confidence="0.25").post
    post.refresh_from_db()
    assert (post.answer, post.confidence) == ("No", 0.25)


@pytest.mark.parametrize("raw", ["12.5", 7, "1e3"])
def test_numeric_answers_are_stored_as_numbers(debate, alice, raw):
    session = debate(answer_format=DebateSession.AnswerFormat.NUMERIC, options=[])
    a = services.join_session(alice, session.invite_token)
    controls.control(moderator_of(session), "start")
    post = services.submit_post(a, "My estimate.", answer=raw).post
    assert refreshed(post).answer == float(raw)


def test_a_non_number_numeric_answer_is_refused(debate, alice):
    session = debate(answer_format=DebateSession.AnswerFormat.NUMERIC, options=[])
    a = services.join_session(alice, session.invite_token)
    controls.control(moderator_of(session), "start")
    expect_error(services.InvalidInput, "answer", services.submit_post, a, "t", answer="many")


@pytest.mark.parametrize("raw", ["nan", "inf", "-Infinity", "1e999"])
def test_a_non_finite_numeric_answer_is_refused(debate, alice, raw):
    session = debate(answer_format=DebateSession.AnswerFormat.NUMERIC, options=[])
    a = services.join_session(alice, session.invite_token)
    controls.control(moderator_of(session), "start")
    try:
        services.submit_post(a, "t", answer=raw)
    except services.InvalidInput as exc:
        assert exc.code == "answer"
    except Exception as exc:
        raise AssertionError(f"expected InvalidInput, got {exc!r}") from exc
    else:
        raise AssertionError("a non-finite answer was stored")


# --- concurrency -------------------------------------------------------------------------------
def run_in_threads(count: int, target) -> list:
    """Run ``target(i)`` in ``count`` threads started together; each closes its connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def body(i):
        try:
            barrier.wait(timeout=10)
            results[i] = target(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_get_distinct_consecutive_sequence_numbers(people_debate):
    session, mod, _, _ = people_debate()
    per_thread = 15

    def notes(i):
        return [services.submit_post(mod, f"t{i}-{n}").post.seq for n in range(per_thread)]

    results = run_in_threads(2, notes)
    assert all(isinstance(r, list) for r in results), results
    got = sorted(results[0] + results[1])
    assert got == list(range(1, 2 * per_thread + 1))
    for thread_seqs in results:  # each thread saw its own posts in increasing order
        assert thread_seqs == sorted(thread_seqs)
    assert seqs(session) == got


def wait_for_lock_waiters(count: int, timeout: float = 10) -> None:
    """Wait until ``count`` backends of this database are blocked on a lock."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE NOT l.granted AND a.datname = current_database()"
            )
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.02)
    raise RuntimeError(f"{count} lock waiters never appeared")


def race_duplicates(session: DebateSession, participant: Participant, client_msg_id: str):
    """Two deliveries of one client message, both past the duplicate pre-check, then racing."""

    def send(_):
        return services.submit_post(participant, "Same message", client_msg_id=client_msg_id)

    results: list = []
    with transaction.atomic():
        DebateSession.objects.select_for_update().get(pk=session.pk)  # hold the session lock
        runner = threading.Thread(target=lambda: results.extend(run_in_threads(2, send)))
        runner.start()
        wait_for_lock_waiters(2)
    runner.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_racing_duplicates_of_a_moderator_note_make_one_post(people_debate):
    session, mod, _, _ = people_debate()
    results = race_duplicates(session, mod, "dup-1")
    assert all(isinstance(r, services.PostResult) for r in results), results
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].post.pk == results[1].post.pk
    assert Post.objects.filter(session=session, client_msg_id="dup-1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_duplicates_of_a_debater_post_make_one_post_and_both_are_acknowledged(
    people_debate,
):
    session, mod, a, _ = people_debate()
    controls.control(mod, "start")
    results = race_duplicates(session, a, "dup-2")
    assert Post.objects.filter(session=session, author=a).count() == 1
    assert all(isinstance(r, services.PostResult) for r in results), results
    assert sorted(r.created for r in results) == [False, True]


# --- moderator controls ------------------------------------------------------------------------
def test_only_the_moderator_controls_the_session(people_debate):
    session, mod, a, _ = people_debate()
    for action in controls.CONTROL_ACTIONS:
        expect_error(services.NotAllowed, "forbidden", controls.control, a, action)
    expect_error(services.InvalidInput, "unknown_action", controls.control, mod, "explode")
    assert refreshed(session).status == DebateSession.Status.DRAFT


def test_start_opens_round_one_and_asks_the_first_speaker(people_debate):
    session, mod, a, _ = people_debate()
    controls.control(mod, "start")
    session.refresh_from_db()
    assert session.status == DebateSession.Status.RUNNING and session.started_at
    assert list(session.rounds.values_list("number", "status")) == [(1, "open")]
    assert Post.objects.get(session=session, kind="system").text == "Round 1 (discussion) begins."
    assert Post.objects.get(session=session, kind="event").data == {"event": "start"}
    assert services.submit_post(a, "First!").created


@pytest.mark.django_db(transaction=True)
def test_start_with_an_agent_first_queues_its_turn_and_enqueues_it_on_commit(
    debate, simulated_agent, alice, task_queue
):
    session = debate(agents=[simulated_agent("Ada", parameters=FAST)])
    a = services.join_session(alice, session.invite_token)
    controls.control(moderator_of(session), "start")
    turn = AgentTurn.objects.get(session=session)
    assert turn.status == AgentTurn.Status.QUEUED
    assert turn.participant.display_name == "Ada" and turn.round.number == 1
    assert queued_tasks(task_queue) == [("deliberation.agents.tasks.run_agent_turn", [turn.pk])]
    # It is the agent's turn: alice must wait.
    expect_error(services.NotAllowed, "not_your_turn", services.submit_post, a, "Me first")


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ([], "pause"),
        ([], "resume"),
        ([], "advance"),
        (["start"], "start"),
        (["start"], "resume"),
        (["start", "pause"], "pause"),
        (["start", "pause"], "start"),
        (["end"], "end"),
        (["end"], "start"),
        (["start", "end"], "resume"),
        (["start", "end"], "advance"),
    ],
)
def test_invalid_transitions_are_refused(people_debate, setup, action):
    session, mod, _, _ = people_debate()
    for step in setup:
        controls.control(mod, step)
    before = (refreshed(session).status, seqs(session))
    expect_error(services.NotAllowed, "bad_state", controls.control, mod, action)
    assert (refreshed(session).status, seqs(session)) == before


def test_pause_and_resume(people_debate):
    session, mod, a, _ = people_debate()
    controls.control(mod, "start")
    controls.control(mod, "pause")
    assert refreshed(session).status == DebateSession.Status.PAUSED
    expect_error(services.NotAllowed, "not_your_turn", services.submit_post, a, "While paused")
    controls.control(mod, "resume")
    assert refreshed(session).status == DebateSession.Status.RUNNING
    assert services.submit_post(a, "Back").created


def test_end_cancels_queued_agent_turns_and_posts_a_system_message(debate, simulated_agent):
    session = debate(agents=[simulated_agent("Ada", parameters=FAST)])
    mod = moderator_of(session)
    controls.control(mod, "start")
    turn = AgentTurn.objects.get(session=session)
    assert turn.status == AgentTurn.Status.QUEUED
    controls.control(mod, "end")
    session.refresh_from_db()
    assert session.status == DebateSession.Status.FINISHED and session.finished_at
    assert session.finish_reason == "ended by the moderator"
    assert refreshed(turn).status == AgentTurn.Status.CANCELLED and turn.finished_at
    last = Post.objects.filter(session=session).order_by("-seq").first()
    assert last.kind == Post.Kind.SYSTEM and last.author is None
    assert last.text == "Session finished: ended by the moderator."
    assert session.rounds.get(number=1).status == Round.Status.CLOSED
    # The cancelled turn never speaks, even if its task is delivered afterwards.
    assert execute_turn(turn.pk).status == "skipped"
    assert not Post.objects.filter(session=session, kind=Post.Kind.ARGUMENT).exists()


def test_end_a_draft(people_debate):
    session, mod, _, _ = people_debate()
    controls.control(mod, "end")
    session.refresh_from_db()
    assert session.status == DebateSession.Status.FINISHED
    assert not session.rounds.exists()
    assert (
        Post.objects.get(session=session, kind="system").text
        == "Session finished: ended by the moderator."
    )


def test_advance_closes_the_round_and_opens_the_next(people_debate):
    session, mod, a, b = people_debate(rounds=2)
    controls.control(mod, "start")
    services.submit_post(a, "A1")  # bob never answers
    controls.control(mod, "advance")
    round_one, round_two = session.rounds.order_by("number")
    assert round_one.status == Round.Status.CLOSED and round_one.closed_at
    assert round_two.status == Round.Status.OPEN
    last = Post.objects.filter(session=session).order_by("-seq").first()
    assert last.text == "Round 2 (discussion) begins."
    # Round 2 starts again with the first speaker.
    expect_error(services.NotAllowed, "not_your_turn", services.submit_post, b, "B1 late")
    services.submit_post(a, "A2")
    # Advancing the last round finishes the session.
    controls.control(mod, "advance")
    session.refresh_from_db()
    assert session.status == DebateSession.Status.FINISHED
    assert session.finish_reason == "completed 2 rounds"


def test_advance_cancels_the_queued_turn_of_a_skipped_agent(debate, simulated_agent):
    session = debate(agents=[simulated_agent("Ada", parameters=FAST)], rounds=2)
    mod = moderator_of(session)
    controls.control(mod, "start")
    controls.control(mod, "advance")
    turns = list(AgentTurn.objects.filter(session=session).order_by("round__number"))
    assert [(t.round.number, t.status) for t in turns] == [(1, "cancelled"), (2, "queued")]


# --- agent turns, without Celery ---------------------------------------------------------------
def test_execute_turn_stores_the_agents_post_and_records_the_call(debate, simulated_agent, alice):
    session = debate(agents=[simulated_agent("Ada", seed=7, parameters=FAST)], rounds=1)
    a = services.join_session(alice, session.invite_token)
    controls.control(moderator_of(session), "start")
    turn = AgentTurn.objects.get(session=session)

    assert execute_turn(turn.pk).status == "done"

    turn.refresh_from_db()
    post = turn.post
    assert turn.status == AgentTurn.Status.DONE and post is not None
    assert post.kind == Post.Kind.ARGUMENT and post.author == turn.participant
    assert post.round.number == 1
    # The post shows the argument; the closing ANSWER/CONFIDENCE lines stay on the turn.
    assert post.text == strip_structured(turn.reply).strip()
    assert "ANSWER:" in turn.reply and "ANSWER:" not in post.text
    parsed = parse_reply(turn.reply, "single_choice", ["Yes", "No"])
    assert post.answer == parsed.answer and post.answer in ("Yes", "No")
    assert post.confidence == parsed.confidence and 0 <= post.confidence <= 1
    assert [m["role"] for m in turn.prompt] == ["system", "user"]
    assert "Is the sky blue?" in turn.prompt[1]["content"]
    assert "Round 1 (discussion) begins." in turn.prompt[1]["content"]
    assert turn.prompt_tokens > 0 and turn.completion_tokens > 0
    assert turn.latency_ms is not None and turn.latency_ms >= 0
    assert (turn.backend, turn.model, turn.attempts) == ("simulated", "simulated-1", 1)
    assert "simulated" not in turn.parameters  # backend options are not sampling parameters
    assert turn.started_at and turn.finished_at and turn.lease_until is None
    assert post.seq == services.last_seq(session.pk)

    # A duplicate delivery of the task does nothing.
    assert execute_turn(turn.pk).status == "skipped"
    assert Post.objects.filter(session=session, author=turn.participant).count() == 1
    assert refreshed(turn).post_id == post.pk
    # The protocol moved on to alice.
    assert services.submit_post(a, "My turn now.").created
    assert refreshed(session).status == DebateSession.Status.FINISHED


def test_two_agents_finish_a_round_by_themselves(debate, simulated_agent):
    session = debate(
        agents=[
            simulated_agent("Ada", seed=1, parameters=FAST),
            simulated_agent("Babbage", seed=2, parameters=FAST),
        ],
        rounds=1,
    )
    controls.control(moderator_of(session), "start")
    first = AgentTurn.objects.get(session=session)
    assert execute_turn(first.pk).status == "done"
    second = AgentTurn.objects.exclude(pk=first.pk).get(session=session)
    assert second.status == AgentTurn.Status.QUEUED and second.participant.display_name == (
        "Babbage"
    )
    assert execute_turn(second.pk).status == "done"
    session.refresh_from_db()
    assert session.status == DebateSession.Status.FINISHED
    assert session.finish_reason == "completed 1 round"
    # Babbage saw Ada's argument in its prompt.
    assert refreshed(first).reply.strip()[:40] in refreshed(second).prompt[1]["content"]


def test_execute_turn_while_paused_waits_for_resume(debate, simulated_agent):
    session = debate(agents=[simulated_agent("Ada", parameters=FAST)])
    mod = moderator_of(session)
    controls.control(mod, "start")
    turn = AgentTurn.objects.get(session=session)
    controls.control(mod, "pause")
    assert execute_turn(turn.pk).status == "skipped"
    assert refreshed(turn).status == AgentTurn.Status.QUEUED
    assert not Post.objects.filter(session=session, kind=Post.Kind.ARGUMENT).exists()
    controls.control(mod, "resume")
    assert execute_turn(turn.pk).status == "done"
    assert refreshed(turn).status == AgentTurn.Status.DONE


def test_execute_turn_of_an_unknown_turn_is_skipped(db):
    assert execute_turn(987654321).status == "skipped"


@pytest.mark.django_db(transaction=True)
def test_ending_the_session_while_an_agent_speaks_keeps_its_reply_out(
    debate, simulated_agent, task_queue
):
    slow = {"simulated": {"token_delay": 0.05}}  # about two seconds of streaming
    session = debate(agents=[simulated_agent("Ada", parameters=slow)])
    mod = moderator_of(session)
    controls.control(mod, "start")
    turn = AgentTurn.objects.get(session=session)
    outcome: list = []

    def worker():
        try:
            outcome.append(execute_turn(turn.pk).status)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    deadline = time.monotonic() + 10
    while refreshed(turn).status != AgentTurn.Status.RUNNING:
        assert time.monotonic() < deadline, "the turn was never claimed"
        time.sleep(0.01)
    controls.control(mod, "end")
    thread.join(timeout=30)
    assert outcome, "execute_turn did not return"
    last = Post.objects.filter(session=session).order_by("-seq").first()
    assert last.text == "Session finished: ended by the moderator."
    assert not Post.objects.filter(session=session, kind=Post.Kind.ARGUMENT).exists()
    assert refreshed(turn).status != AgentTurn.Status.DONE
