"""Judged debate with a passage (Khan et al. 2024): debaters see it, judges never do while the
session runs; debaters' quotes are verified and marked; several judges' final verdicts vote."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from deliberation.agents.models import AgentTurn
from deliberation.agents.services import run_locally
from deliberation.debates import controls, services
from deliberation.debates.models import DebateSession, Participant, Post
from deliberation.debates.outcomes import session_outcome
from tests.conftest import ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "The vault code is 7391"
PASSAGE = (
    f"{SECRET}. Mora kept it to herself.\n"
    "“I don\u2019t care,” said Captain Mora. Nobody aboard the Perseus had slept for three days."
)
GOOD = "Nobody aboard the Perseus had slept for three days"
BAD = "the captain slept soundly"
ARGUMENT = f"They were awake: <quote>{GOOD}</quote>. Not <quote>{BAD}</quote>."


def fresh(session):
    return DebateSession.objects.get(pk=session.pk)


def judged_session(moderator, people, judges=(), *, agents=(), judge_agent=None, **settings):
    """A judged debate with a passage: ``people`` join as debaters, ``judges`` as judges."""
    session = services.create_session(
        moderator=moderator,
        title="Judged",
        question="Had the crew slept?",
        options=["No", "Yes"],
        protocol="judged",
        protocol_settings={"rounds": 1, **settings},
        agent_profiles=list(agents),
        judge_profile=judge_agent,
        passage=PASSAGE,
    )
    debaters = [services.join_session(u, session.invite_token) for u in people]
    seats = []
    for user in judges:
        seat = services.join_session(user, session.invite_token)
        Participant.objects.filter(pk=seat.pk).update(role=Participant.Role.JUDGE)
        seats.append(Participant.objects.get(pk=seat.pk))
    return session, debaters, seats


def start(session):
    mod = session.participants.get(role=Participant.Role.MODERATOR)
    run_locally(lambda: controls.control(mod, "start"))


def post(participant, text, **kwargs):
    run_locally(lambda: services.submit_post(participant, text, **kwargs))


# --- storing and marking quotes ----------------------------------------------------------------
def test_a_debaters_quotes_are_verified_when_stored_and_the_text_kept_as_written(
    moderator, alice, bob, make_user
):
    session, (a, b), (judge,) = judged_session(moderator, [alice, bob], [make_user("carol")])
    start(session)
    post(a, ARGUMENT)
    stored = Post.objects.get(session=session, author=a)
    assert stored.text == ARGUMENT
    assert [(ARGUMENT[q["start"] : q["end"]], q["verified"]) for q in stored.data["quotes"]] == [
        (GOOD, True),
        (BAD, False),
    ]
    # A forged verified mark is checked like any quote; a judge's post is not checked.
    post(b, f"<v_quote>{BAD}</v_quote>")
    assert Post.objects.get(session=session, author=b).data["quotes"][0]["verified"] is False
    post(judge, f"<quote>{BAD}</quote>", answer="Yes", confidence=0.6)
    assert "quotes" not in Post.objects.get(session=session, author=judge).data


def test_without_a_passage_no_quote_is_marked(moderator, alice, bob):
    session = services.create_session(
        moderator=moderator,
        title="No passage",
        question="Q?",
        options=["No", "Yes"],
        protocol="round_robin",
        protocol_settings={"rounds": 1},
    )
    a = services.join_session(alice, session.invite_token)
    services.join_session(bob, session.invite_token)
    start(session)
    post(a, ARGUMENT, answer="No")
    assert "quotes" not in Post.objects.get(session=session, author=a).data
    assert fresh(session).passage == ""


# --- agents' prompts ---------------------------------------------------------------------------
def test_the_judges_prompt_lacks_the_passage_and_marks_quotes_the_debaters_has_it(
    moderator, alice, simulated_agent
):
    quiet = {"simulated": {"token_delay": 0}}
    debater = simulated_agent(name="Agent 1", seed=11, parameters=quiet)
    judge = simulated_agent(name="Judge", seed=99, parameters=quiet)
    session, (a,), _ = judged_session(
        moderator, [alice], agents=[debater], judge_agent=judge, rounds=2
    )
    start(session)  # the agent debater opens
    post(a, ARGUMENT)
    post(a, "My closing: " + ARGUMENT)  # round 2: the agent spoke again, then the judge
    session = fresh(session)
    assert session.status == DebateSession.Status.FINISHED
    judge_prompt = AgentTurn.objects.get(session=session, participant__role="judge").prompt
    text = "\n".join(m["content"] for m in judge_prompt)
    assert SECRET not in text and "Mora kept it to herself" not in text
    assert f"<v_quote>{GOOD}</v_quote>" in text and f"<u_quote>{BAD}</u_quote>" in text
    assert "<quote>" not in text.replace("<quote></quote>", "")  # every quote is marked
    assert "Unverified quotes are not direct string matches" in text  # the authors' rules
    debater_prompts = AgentTurn.objects.filter(
        session=session, participant__role="debater"
    ).order_by("round__number")
    last = "\n".join(m["content"] for m in debater_prompts.last().prompt)
    assert SECRET in last and "<<<PASSAGE" in last
    assert "using <quote></quote> tags" in last  # the authors' debater quote rules
    assert f"<v_quote>{GOOD}</v_quote>" in last  # debaters, too, read the marks


# --- pages -------------------------------------------------------------------------------------
def page(user, session) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(reverse("debates:session_detail", args=[session.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_judges_page_shows_marked_quotes_but_not_the_passage_until_the_end(
    moderator, alice, bob, make_user
):
    carol, olga = make_user("carol"), make_user("olga")
    session, (a, b), (judge,) = judged_session(moderator, [alice, bob], [carol])
    seat = services.join_session(olga, session.invite_token)
    Participant.objects.filter(pk=seat.pk).update(role=Participant.Role.OBSERVER)
    start(session)
    post(a, ARGUMENT + " <script>alert(1)</script>")
    post(b, f"<quote><b>{BAD}</b></quote>")
    html = page(carol, session)
    assert SECRET not in html and 'id="passage-hidden"' in html
    assert f'<q class="quote verified" data-quote="verified">{GOOD}</q>' in html
    assert f'<q class="quote unverified" data-quote="unverified">{BAD}</q>' in html
    # Marks are markup of ours; the text inside and around them stays escaped.
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert f"&lt;b&gt;{BAD}&lt;/b&gt;" in html
    for user in (alice, moderator, olga):
        assert SECRET in page(user, session)
    post(judge, "Verdict.", answer="No", confidence=0.7)
    assert fresh(session).status == DebateSession.Status.FINISHED
    assert SECRET in page(carol, session)


# --- the socket --------------------------------------------------------------------------------
async def drain(comm, seconds: float = 1.0) -> list[str]:
    """Every frame sent until the socket stays quiet for ``seconds``."""
    frames = []
    while not await comm.receive_nothing(timeout=seconds):
        frames.append(await comm.receive_from())
    return frames


async def test_a_judges_socket_never_carries_the_passage(moderator, alice, bob, make_user):
    carol = await database_sync_to_async(make_user)("carol")
    session, (a, b), _ = await database_sync_to_async(judged_session)(
        moderator, [alice, bob], [carol], rounds=2
    )
    async with (
        ws_connect(carol, session.pk, "last_seq=0") as as_json,
        ws_connect(carol, session.pk, "format=html&last_seq=0") as as_html,
        ws_connect(alice, session.pk, "last_seq=0") as debater,
    ):
        for comm in (as_json, as_html, debater):
            assert (await comm.connect())[0]
        await database_sync_to_async(start)(session)
        await database_sync_to_async(post)(a, ARGUMENT + f" {SECRET[:8]}")
        await database_sync_to_async(post)(b, "No quotes from me.")
        json_frames, html_frames = await drain(as_json), await drain(as_html)
        assert json_frames and html_frames
        posts = [json.loads(f)["post"] for f in json_frames if json.loads(f).get("type") == "post"]
        marked = next(p for p in posts if p["text"] == ARGUMENT + f" {SECRET[:8]}")
        assert [q["verified"] for q in marked["data"]["quotes"]] == [True, False]
        assert 'class="quote verified"' in "".join(html_frames)
        for frame in json_frames + html_frames:
            assert SECRET not in frame and "Mora kept it to herself" not in frame
        await drain(debater)


# --- the API -----------------------------------------------------------------------------------
def test_the_api_sets_the_passage_and_hides_it_from_judges_until_the_end(
    moderator, alice, make_user
):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(moderator)
    created = api.post(
        "/api/v1/sessions/",
        {
            "title": "API judged",
            "question": "Had the crew slept?",
            "options": ["No", "Yes"],
            "protocol": "judged",
            "settings": {"rounds": 1},
            "passage": PASSAGE,
            "join_role": "judge",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["passage"] == PASSAGE
    session = DebateSession.objects.get(pk=created.json()["id"])
    assert session.passage == PASSAGE
    api.force_authenticate(alice)
    joined = api.post(
        "/api/v1/sessions/join/", {"invite_token": session.invite_token}, format="json"
    )
    assert joined.status_code == 200 and joined.json()["me"]["role"] == "judge"
    assert joined.json()["passage"] is None
    detail = api.get(f"/api/v1/sessions/{session.pk}/")
    assert detail.json()["passage"] is None and SECRET not in detail.content.decode()
    DebateSession.objects.filter(pk=session.pk).update(status=DebateSession.Status.FINISHED)
    assert api.get(f"/api/v1/sessions/{session.pk}/").json()["passage"] == PASSAGE


# --- several judges ----------------------------------------------------------------------------
def judges_session(moderator, alice, bob, make_user, n, **settings):
    users = [make_user(f"judge{i}") for i in range(n)]
    session, (a, b), judges = judged_session(moderator, [alice, bob], users, **settings)
    start(session)
    return session, a, b, judges


def test_several_judges_final_verdicts_are_a_majority_vote_interim_ones_do_not_count(
    moderator, alice, bob, make_user
):
    session, a, b, judges = judges_session(
        moderator, alice, bob, make_user, 3, rounds=2, judge_every_round=True
    )
    for rnd, verdicts in (
        (1, [("No", 0.9), ("No", 0.9), ("No", 0.9)]),  # interim: all for No
        (2, [("Yes", 0.8), ("No", 0.3), ("No", 0.9)]),  # final: Yes, Yes (0.3 on No), No
    ):
        post(a, f"Round {rnd} for No.")
        post(b, f"Round {rnd} for Yes.")
        for judge, (answer, p) in zip(judges, verdicts, strict=True):
            post(judge, "Verdict.", answer=answer, confidence=p)
    session = fresh(session)
    assert session.status == DebateSession.Status.FINISHED
    rule = session_outcome(session).rules["judge"]
    assert rule.answer == "Yes" and rule.support == pytest.approx(0.6667)
    assert rule.tied == []


def test_a_tie_of_judges_gives_no_answer_and_an_undecided_verdict_is_no_vote(
    moderator, alice, bob, make_user
):
    session, a, b, judges = judges_session(moderator, alice, bob, make_user, 3)
    assert session.protocol_settings["tie_break"] == "none"  # the source's rule
    post(a, "For No.")
    post(b, "For Yes.")
    for judge, (answer, p) in zip(judges, [("Yes", 0.9), ("No", 0.7), ("Yes", 0.5)], strict=True):
        post(judge, "Verdict.", answer=answer, confidence=p)
    rule = session_outcome(fresh(session)).rules["judge"]
    assert rule.answer is None and sorted(rule.tied) == ["No", "Yes"]


def test_a_session_ended_before_the_final_verdicts_has_no_judges_answer(
    moderator, alice, bob, make_user
):
    session, a, b, judges = judges_session(
        moderator, alice, bob, make_user, 1, rounds=2, judge_every_round=True
    )
    post(a, "For No.")
    post(b, "For Yes.")
    post(judges[0], "Interim.", answer="No", confidence=0.9)
    mod = session.participants.get(role=Participant.Role.MODERATOR)
    controls.control(mod, "end")
    assert session_outcome(fresh(session)).rules["judge"].answer is None


# --- where a passage comes from and goes -------------------------------------------------------
def test_the_create_form_sets_the_passage(client, moderator):
    client.force_login(moderator)
    response = client.post(
        reverse("debates:session_create"),
        {
            "title": "From the form",
            "question": "Had the crew slept?",
            "answer_format": "single_choice",
            "options": "No\nYes",
            "protocol": "judged",
            "join_role": "debater",
            "passage": PASSAGE,
            "judged__rounds": 1,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert DebateSession.objects.get(title="From the form").passage == PASSAGE


def test_a_question_sets_passage_column_reaches_the_session(moderator, simulated_agent):
    from deliberation.batches import services as batches

    rows = [
        {"question": "Had the crew slept?", "options": ["No", "Yes"], "passage": PASSAGE},
        {"question": "Without a passage?", "options": ["No", "Yes"]},
    ]
    jsonl = batches.parse_questions(
        "\n".join(json.dumps(r) for r in rows), "set.jsonl", "single_choice"
    )
    csv = batches.parse_questions(
        'question,options,passage\n"Had the crew slept?",No|Yes,"'
        + PASSAGE.replace('"', '""')
        + '"\n',
        "set.csv",
        "single_choice",
    )
    assert [q.passage for q in jsonl] == [PASSAGE, ""] and csv[0].passage == PASSAGE
    with pytest.raises(batches.BatchError):
        batches.parse_questions(
            json.dumps({"question": "Q", "options": ["A", "B"], "passage": 3}),
            "set.jsonl",
            "single_choice",
        )
    quiet = {"simulated": {"token_delay": 0}}
    run = batches.create_run(
        user=moderator,
        name="Passages",
        questions=jsonl[:1],
        protocol="judged",
        protocol_settings={"rounds": 1},
        agents=[simulated_agent(name=f"D{i}", seed=i, parameters=quiet) for i in (1, 2)],
        judge=simulated_agent(name="J", seed=9, parameters=quiet),
    )
    run_locally(lambda: batches.start_run(run))
    session = run.items.get().session
    assert session.passage == PASSAGE
    judge_turn = AgentTurn.objects.get(session=session, participant__role="judge")
    assert SECRET not in json.dumps(judge_turn.prompt)
    assert all(
        SECRET in json.dumps(t.prompt)
        for t in AgentTurn.objects.filter(session=session, participant__role="debater")
    )


def test_an_export_carries_the_passage_and_the_quote_marks_back(moderator, alice, bob, make_user):
    from deliberation.transcripts.exporting import iter_jsonl
    from deliberation.transcripts.importing import import_jsonl

    session, (a, _), _ = judged_session(moderator, [alice, bob], [make_user("carol")])
    start(session)
    post(a, ARGUMENT)
    lines = list(iter_jsonl(DebateSession.objects.filter(pk=session.pk), metrics=False))
    assert json.loads(lines[0])["session"]["passage"] == PASSAGE
    report = import_jsonl(lines)
    assert report.ok, report.errors
    copy = DebateSession.objects.exclude(pk=session.pk).get(title=session.title)
    assert copy.passage == PASSAGE
    original = Post.objects.get(session=session, author=a).data
    assert Post.objects.get(session=copy, kind="argument").data == original
