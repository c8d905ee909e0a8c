"""End to end in headless Chromium: the real server (daphne), a real Celery worker, real browsers.

* People and an agent debate live: a moderator starts a session from the browser (htmx control
  button); alice and bob, each in a browser of their own, post in turn and see each other's posts
  arrive over the WebSocket without reloading; a simulated agent's reply streams into alice's
  page token by token, and the final post replaces the streaming box in the transcript.
* Every protocol of the registry runs live with a person and two agents: the moderator starts
  it, alice takes her turns through the form (answer, confidence slider, text; scores in peer
  review; the verdict in a judged debate), and the session runs to "finished" without a reload,
  with the final answer pushed over the WebSocket. In sealed protocols alice first sees the
  agents' answers of the round as placeholders, revealed in place when the round closes.
* A person's deadline: the countdown ticks, the real Celery ETA task records an abstention and
  the session moves on.
* Moderator controls: pause, resume, skip, close round and end, each recorded in the transcript.

The server and the worker run as subprocesses against the pytest-django test database (the tests
are transactional, so what they create is committed and visible to them), on the same Redis, with
a Celery queue, a broker key prefix and a channel-layer prefix of their own. They are started once
for the module; each test flushes the tables afterwards as usual.

Screenshots go to ``test-artifacts/`` (``BROWSER_SCREENSHOTS=/some/dir`` to put them elsewhere).

Needs Debian's Chromium (``apt-get install chromium chromium-driver``; ``make test`` installs it
when run as root); skipped without it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import pytest

from deliberation.agents.models import AgentProfile
from deliberation.debates import services
from deliberation.debates.models import Participant
from deliberation.protocols.registry import PROTOCOLS
from tests.live_server import CHROMIUM, chromium, log_in, run_servers, screenshot

if CHROMIUM is None:
    pytest.skip(
        "Chromium is not installed: `apt-get install chromium chromium-driver` "
        "(or run `make test` as root, which installs it)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 15_000
SESSION_TIMEOUT_MS = 60_000  # a whole session, from start to finished


# --- the server and the worker -----------------------------------------------------------------
@pytest.fixture(scope="module")
def servers(django_db_setup, tmp_path_factory):
    """daphne and a Celery worker in subprocesses on the test database, once for the module."""
    with run_servers(
        tmp_path_factory.mktemp("browser-servers"), SIMULATED_TOKEN_DELAY="0.05"
    ) as running:
        yield running


@pytest.fixture
def app_server(servers, transactional_db):
    """The shared server's base URL for one test; the server logs of the test when it fails."""
    servers.check_alive()
    offsets = servers.log_offsets()
    yield servers.base_url
    servers.print_logs(offsets)


def _log_in(browser, base_url: str, username: str, next_path: str):
    """Logged in at ``next_path``, with the session's WebSocket open."""
    page = log_in(browser, base_url, username, next_path, timeout_ms=TIMEOUT_MS)
    # The WebSocket is up, so no broadcast from now on is missed.
    expect(page.locator("#connection")).to_have_attribute("data-state", "open", timeout=TIMEOUT_MS)
    # A marker that a reload would wipe: posts must arrive without one.
    page.evaluate("window.__notReloaded = true")
    return page


# Records every text the streaming box of an agent's turn shows as it grows, and whether the
# agent's final post was in the transcript yet.
WATCH_STREAM = """() => {
  window.__streamed = [];
  const live = document.getElementById("live-turns");
  new MutationObserver(() => {
    const box = live.querySelector("article.streaming .text");
    if (box) window.__streamed.push({
      text: box.textContent,
      posted: document.querySelector("#transcript article.by-agent") !== null,
    });
  }).observe(live, {childList: true, subtree: true, characterData: true});
}"""


def _submit(page, text: str) -> None:
    """Type ``text``, post it, and wait for the server's answer: a fresh, empty post box (the
    acknowledgement), or an error, which fails the test with its message."""
    page.fill("#post-text", text)
    page.click("#post-submit")
    page.wait_for_function(
        """() => document.querySelector("#post-text").value === ""
                 || document.querySelector("#errors .error") !== null"""
    )
    errors = page.locator("#errors .error")
    assert errors.count() == 0, f"the post was refused: {errors.all_inner_texts()}"


def _post(page, text: str, answer: str, confidence: str) -> None:
    expect(page.locator("#your-turn")).to_be_visible(timeout=TIMEOUT_MS)
    page.select_option("#post-answer", answer)
    page.fill("#post-confidence", confidence)
    _submit(page, text)


def _status(page, status: str, timeout: int = TIMEOUT_MS) -> None:
    expect(page.locator("#session-status")).to_have_attribute(
        "data-status", status, timeout=timeout
    )


# --- people and an agent -----------------------------------------------------------------------
@pytest.fixture
def scenario(moderator, alice, bob, simulated_agent, debate):
    """A draft one-round session: alice speaks first, bob second, the agent last."""
    agent = simulated_agent(name="Sim Sage", seed=7)
    session = debate(agents=[agent], rounds=1, title="Browser debate")
    services.join_session(alice, session.invite_token)
    services.join_session(bob, session.invite_token)
    # Agents added at creation speak first; let the people speak first, the agent last.
    Participant.objects.filter(session=session, kind=Participant.Kind.AGENT).update(position=99)
    return session


def test_people_and_an_agent_debate_live_in_the_browser(app_server, scenario):
    path = f"/sessions/{scenario.pk}/"
    with chromium() as browser:
        mod_page = _log_in(browser, app_server, "mod", path)
        alice_page = _log_in(browser, app_server, "alice", path)
        bob_page = _log_in(browser, app_server, "bob", path)

        # The moderator starts the session with the htmx control; the new state reaches all.
        mod_page.click("#control-start")
        for page in (mod_page, alice_page, bob_page):
            _status(page, "running")
        expect(alice_page.locator("#your-turn")).to_be_visible(timeout=TIMEOUT_MS)
        expect(bob_page.locator("#expected")).to_contain_text("alice")
        expect(bob_page.locator("#participants li.speaking")).to_have_text(re.compile("alice"))

        # alice posts; bob sees it arrive.
        alice_text = "Rayleigh scattering makes the daytime sky look blue."
        _post(alice_page, alice_text, "Yes", "0.9")
        alice_post = bob_page.locator("#transcript article.by-human", has_text=alice_text)
        expect(alice_post).to_be_visible(timeout=TIMEOUT_MS)
        expect(alice_post.locator(".author")).to_have_text("alice")
        expect(alice_post.locator(".answer")).to_contain_text("Answer: Yes · confidence 0.90")
        expect(alice_page.locator("#transcript article.mine", has_text=alice_text)).to_be_visible()

        # bob answers; then it is the agent's turn, which alice watches stream in.
        alice_page.evaluate(WATCH_STREAM)
        bob_text = "At sunset it is red, so the answer depends on the time of day."
        _post(bob_page, bob_text, "No", "0.55")
        expect(alice_page.locator("#transcript", has_text=bob_text)).to_be_visible()

        streaming = alice_page.locator("#live-turns article.streaming")
        expect(streaming).to_be_visible(timeout=TIMEOUT_MS)
        expect(streaming.locator(".author")).to_have_text("Sim Sage")
        expect(streaming.locator(".text")).not_to_be_empty(timeout=TIMEOUT_MS)

        agent_post = alice_page.locator("#transcript article.by-agent")
        expect(agent_post).to_be_visible(timeout=TIMEOUT_MS)
        expect(agent_post.locator(".author")).to_have_text("Sim Sage")
        expect(agent_post.locator(".badge.agent")).to_have_text("agent")
        expect(streaming).to_have_count(0, timeout=TIMEOUT_MS)
        # The post shows the rationale; its closing ANSWER/CONFIDENCE lines became the footer.
        final_text = agent_post.locator(".text").inner_text()
        assert "ANSWER:" not in final_text
        expect(agent_post.locator(".answer")).to_contain_text(re.compile(r"Answer: (Yes|No)"))

        # Before the post landed, the streaming box grew through several partial texts of the
        # raw reply: the rationale, then its closing lines.
        samples = alice_page.evaluate("window.__streamed")
        streamed = [" ".join(s["text"].split()) for s in samples if not s["posted"]]
        streamed = [t for t in streamed if t]
        assert len({len(t) for t in streamed}) >= 3, samples
        reply = " ".join(final_text.split())
        assert all(reply.startswith(t) or t.startswith(reply) for t in streamed), (streamed, reply)
        assert len(streamed[0]) < len(reply)
        assert "ANSWER:" in streamed[-1]

        # The round, and with it the one-round session, is over; the post reached bob too.
        expect(bob_page.locator("#transcript article.by-agent .author")).to_have_text("Sim Sage")
        for page in (mod_page, alice_page, bob_page):
            _status(page, "finished")
            expect(page.locator("#final-answer")).to_be_visible()
            assert page.evaluate("window.__notReloaded === true")
        screenshot(alice_page, "session")


# --- every protocol, with a person and two agents ----------------------------------------------
@dataclass(frozen=True)
class Case:
    settings: dict = field(default_factory=dict)
    alice_role: str = "debater"  # the role alice joins with


CASES = {
    "round_robin": Case({"rounds": 2}),
    # The moderator gives alice the floor first through the live "order" setting.
    "free_debate": Case({"rounds": 2}),
    "simultaneous": Case({"rounds": 2}),
    "round_table": Case({"rounds": 2}),
    "peer_review": Case({"cycles": 1}),
    # Exactly two debaters: the agents argue, the moderator changes the contentiousness live,
    # alice watches.
    "socratic": Case({"rounds": 2}, alice_role="observer"),
    "vote_only": Case(),
    # The agents debate, alice judges.
    "judged": Case({"rounds": 2}, alice_role="judge"),
}
SEALED = {name for name, protocol in PROTOCOLS.items() if getattr(protocol, "sealed", False)}


def test_every_protocol_has_a_browser_case():
    assert set(CASES) == set(PROTOCOLS)
    assert sorted(SEALED) == ["peer_review", "round_table", "simultaneous", "vote_only"]


@dataclass
class Scene:
    session_id: int
    protocol: str
    alice_id: int
    agents: dict[str, int]  # name -> participant id, in speaking position order


def _agent_profiles() -> list[AgentProfile]:
    """Two quick simulated agents."""
    quick = {"simulated": {"token_delay": 0.01}}
    return [
        AgentProfile.objects.create(name=name, backend="simulated", seed=seed, parameters=quick)
        for name, seed in (("Ada", 3), ("Bo", 11))
    ]


def _protocol_scene(protocol: str, moderator, alice) -> Scene:
    case = CASES[protocol]
    session = services.create_session(
        moderator=moderator,
        title=f"Live {protocol.replace('_', ' ')}",
        question="Is the sky blue on a clear day at noon?",
        options=["Yes", "No"],
        protocol=protocol,
        protocol_settings=case.settings,
        join_role=case.alice_role,
        agent_profiles=_agent_profiles(),
    )
    me = services.join_session(alice, session.invite_token)
    agents = Participant.objects.filter(session=session, kind=Participant.Kind.AGENT)
    return Scene(session.pk, protocol, me.pk, {a.display_name: a.pk for a in agents})


# The round and, in a review, the target: what identifies one of alice's turns on her page.
_KEY_BODY = """
  const label = document.getElementById("round-label");
  const target = document.querySelector("#turn-fields input[name=target]");
  return (label ? label.textContent.trim() : "") + "|" + (target ? target.value : "");
"""
TURN_KEY = f"() => {{{_KEY_BODY}}}"
TURN_OR_FINISHED = """() => document.getElementById("your-turn") !== null
  || document.getElementById("session-status").dataset.status === "finished" """
TURN_OVER = (
    f'(key) => document.getElementById("your-turn") === null || (() => {{{_KEY_BODY}}})() !== key'
)


def _take_turns(page, take_turn, timeout_ms: int = SESSION_TIMEOUT_MS) -> list[str]:
    """Take each turn the protocol gives the page's person until the session finishes."""
    taken: list[str] = []
    while True:
        page.wait_for_function(TURN_OR_FINISHED, timeout=timeout_ms)
        if page.locator("#your-turn").count() == 0:
            return taken  # finished
        key = page.evaluate(TURN_KEY)
        assert key not in taken, f"asked twice for the same turn {key}"
        take_turn(len(taken), key)
        taken.append(key)
        # The next state no longer asks for this turn (the round, or the review target, moved on).
        page.wait_for_function(TURN_OVER, arg=key, timeout=TIMEOUT_MS)


def _seqs(locator) -> list[int]:
    return [int(s) for s in locator.evaluate_all("els => els.map(e => e.dataset.seq)")]


@pytest.mark.parametrize("protocol", list(CASES))
def test_protocol_runs_live_with_a_person_and_two_agents(app_server, moderator, alice, protocol):
    scene = _protocol_scene(protocol, moderator, alice)
    role = CASES[protocol].alice_role
    path = f"/sessions/{scene.session_id}/"
    ada, bo = scene.agents["Ada"], scene.agents["Bo"]
    with chromium() as browser:
        mod_page = _log_in(browser, app_server, "mod", path)
        alice_page = _log_in(browser, app_server, "alice", path)

        if protocol == "free_debate":
            # Before the start, the moderator gives alice the floor first, then Bo, then Ada.
            _set_live(mod_page, "order", f"{scene.alice_id}, {bo}, {ada}")
            expect(alice_page.locator("#transcript article.kind-event")).to_contain_text(
                f"to [{scene.alice_id}, {bo}, {ada}]"
            )

        mod_page.click("#control-start")
        for page in (mod_page, alice_page):
            _status(page, "running")

        if protocol == "socratic":
            # Live: the moderator cools the debate down while the agents argue. What they type
            # survives the new states that the agents' posts bring meanwhile.
            mod_page.select_option("#live-name", "contentiousness")
            mod_page.fill("#live-value", "0.3")
            agent_posts = mod_page.locator("#transcript article.by-agent")
            expect(agent_posts).to_have_count(agent_posts.count() + 1, timeout=TIMEOUT_MS)
            expect(mod_page.locator("#live-value")).to_have_value("0.3")
            mod_page.click("#live-settings button[type=submit]")
            expect(alice_page.locator("#transcript article.kind-event").last).to_contain_text(
                "to 0.3"
            )
            expect(mod_page.locator("#live-name")).to_contain_text("(now 0.3)")
            expect(mod_page.locator("#live-value")).to_have_value("")

        revealed: list[int] = []

        def take_turn(n: int, key: str) -> None:
            nonlocal revealed
            page = alice_page
            if n == 0 and protocol in SEALED:
                # The agents' answers of the round are in, but alice sees only placeholders.
                sealed_posts = page.locator("#transcript article.kind-sealed")
                expect(sealed_posts).to_have_count(2, timeout=TIMEOUT_MS)
                expect(sealed_posts.locator(".text.sealed")).to_have_count(2)
                expect(sealed_posts.first).to_contain_text("Hidden until")
                revealed = _seqs(sealed_posts)
                # The moderator sees them as they are.
                for seq in revealed:
                    expect(mod_page.locator(f"#post-{seq}.by-agent .answer")).to_be_visible()
                    expect(mod_page.locator(f"#post-{seq} .text.sealed")).to_have_count(0)
            if n == 0:
                if protocol == "free_debate":  # the moderator's order: alice speaks first
                    expect(page.locator("#transcript article.kind-argument")).to_have_count(0)
                elif protocol == "round_robin":  # alice joined last, so speaks last
                    expect(page.locator("#transcript article.kind-argument")).to_have_count(2)
                elif protocol == "judged":  # the judge speaks after the last round's debate
                    expect(page.locator("#transcript article.kind-argument")).to_have_count(4)
                screenshot(page, f"{protocol}-mid")
            if page.locator("#post-score").count():
                # A peer review of one agent's solution: a score from the select, no answer.
                target = page.locator("#turn-fields input[name=target]").get_attribute("value")
                name = next(k for k, v in scene.agents.items() if str(v) == target)
                expect(page.locator("#your-turn")).to_contain_text(f"review {name}'s solution")
                expect(page.locator("#post-form .answer-fields")).to_be_hidden()
                page.select_option("#post-score", "7")
                # The agents' reviews arrive meanwhile, sealed, each with a new state that
                # re-renders the turn fields: the chosen score stays.
                expect(page.locator("#transcript article.kind-sealed")).to_have_count(
                    4, timeout=TIMEOUT_MS
                )
                expect(page.locator("#post-score")).to_have_value("7")
                if n == 1:
                    screenshot(page, f"{protocol}-review")
                _submit(page, f"Review {n} by alice: {name}'s reasoning holds up; minor gaps.")
                return
            if role == "judge":
                expect(page.locator("label[for=post-answer]")).to_have_text("Most likely correct")
                expect(page.locator("#post-text")).to_have_attribute(
                    "placeholder", "Explain your verdict…"
                )
                answer, confidence = "No", "0.8"
            else:
                answer, confidence = ("Yes", "0.85") if n % 2 == 0 else ("No", "0.6")
            page.select_option("#post-answer", answer)
            # Move the slider with the keyboard, then set it exactly.
            before = float(page.input_value("#post-confidence"))
            page.focus("#post-confidence")
            page.keyboard.press("ArrowLeft")
            expect(page.locator('output[data-for="post-confidence"]')).to_have_text(
                f"{max(before - 0.05, 0):.2f}"
            )
            page.fill("#post-confidence", confidence)
            expect(page.locator('output[data-for="post-confidence"]')).to_have_text(
                f"{float(confidence):.2f}"
            )
            _submit(page, f"Turn {n + 1} of alice in {protocol}: I say {answer}.")
            expect(page.locator("#transcript article.mine").last).to_contain_text(
                f"Turn {n + 1} of alice"
            )
            # Her answer was the round's last: it closes, and the sealed answers are revealed
            # where their placeholders were.
            for seq in revealed if n == 0 else ():
                expect(page.locator(f"#post-{seq} .text.sealed")).to_have_count(0)
                expect(page.locator(f"#post-{seq}.by-agent .answer")).to_contain_text("Answer:")

        if role == "observer":
            expect(alice_page.locator("#post-form")).to_have_count(0)
            expect(alice_page.locator("#transcript article.by-agent").first).to_be_visible()
            screenshot(mod_page, f"{protocol}-mid-moderator")
            turns = []
        else:
            turns = _take_turns(alice_page, take_turn)
            assert turns, "alice was never asked to speak"

        for page in (alice_page, mod_page):
            _status(page, "finished", timeout=SESSION_TIMEOUT_MS)
            # The final answer was pushed with the finished state.
            expect(page.locator("#final-answer")).to_be_visible()
            expect(page.locator("#transcript .text.sealed")).to_have_count(0)
            expect(page.locator("#live-turns article")).to_have_count(0)
            assert page.evaluate("window.__notReloaded === true")

        # The sealed answers alice saw were revealed in place: same element, same position.
        for seq in revealed:
            post = alice_page.locator(f"#post-{seq}")
            expect(post).to_have_count(1)
            expect(post).to_have_class(re.compile(r"\bby-agent\b"))
            expect(post.locator(".answer")).to_contain_text("Answer:")
        seqs = _seqs(alice_page.locator("#transcript article.post"))
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), seqs

        # Both agents and alice took part; everyone sees everything once the session finished.
        agent_posts = mod_page.locator("#transcript article.kind-argument.by-agent")
        assert set(agent_posts.locator(".author").all_inner_texts()) == {"Ada", "Bo"}
        alice_posts = mod_page.locator("#transcript article.kind-argument.by-human")
        expect(alice_posts).to_have_count(len(turns))
        for page in (alice_page, mod_page):
            assert page.locator("#transcript article.kind-argument").count() == (
                agent_posts.count() + len(turns)
            )
        expect(alice_page.locator("#transcript article.mine.kind-argument")).to_have_count(
            len(turns)
        )

        if protocol == "peer_review":
            # The paper's score: the reviewer's confidence in their own feedback.
            reviews = mod_page.locator(
                "#transcript article.by-human", has_text="Confidence in this feedback"
            )
            expect(reviews).to_have_count(2)
            expect(reviews.locator(".answer")).to_have_text(
                ["Confidence in this feedback: 7/10"] * 2
            )
            expect(reviews.locator("header")).to_contain_text(["reviews Ada", "reviews Bo"])
        if protocol == "judged":
            # alice read the debaters under aliases (herself under her name); the verdict is hers.
            authors = alice_page.locator("#transcript article.by-anonymous .author")
            assert set(authors.all_inner_texts()) == {"Participant A", "Participant B"}
            expect(alice_page.locator("#transcript article.mine .author")).to_have_text("alice")
            expect(alice_page.locator("#participants")).not_to_contain_text("Ada")
            verdict = mod_page.locator("#transcript article.by-human .answer")
            expect(verdict).to_have_text("Verdict: No · probability 0.80")
            expect(alice_page.locator("#final-answer")).to_have_text("No")
        screenshot(alice_page, f"{protocol}-end")
        screenshot(mod_page, f"{protocol}-end-moderator")


def _set_live(page, name: str, value: str) -> None:
    """Change a live setting through the moderator's form."""
    page.select_option("#live-name", name)
    page.fill("#live-value", value)
    page.click("#live-settings button[type=submit]")


# --- a person's deadline -----------------------------------------------------------------------
def _countdown_seconds(text: str) -> int:
    minutes, seconds = text.strip().split(":")
    return int(minutes) * 60 + int(seconds)


def test_a_persons_deadline_passes_and_the_session_moves_on(app_server, moderator, alice):
    session = services.create_session(
        moderator=moderator,
        title="Deadline",
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol="round_robin",
        protocol_settings={"rounds": 1, "turn_seconds": 10},
        agent_profiles=_agent_profiles(),
    )
    services.join_session(alice, session.invite_token)
    # alice speaks first, so that the agents' turns come after her abstention.
    Participant.objects.filter(session=session, kind=Participant.Kind.AGENT).update(position=99)
    path = f"/sessions/{session.pk}/"
    with chromium() as browser:
        mod_page = _log_in(browser, app_server, "mod", path)
        alice_page = _log_in(browser, app_server, "alice", path)
        mod_page.click("#control-start")
        _status(alice_page, "running")

        countdown = alice_page.locator("#your-turn .countdown")
        expect(countdown).to_have_text(re.compile(r"^0:(10|0\d)$"))
        first = _countdown_seconds(countdown.inner_text())
        expect(mod_page.locator("#expected .countdown")).to_have_text(re.compile(r"^0:\d\d$"))
        time.sleep(2.2)
        later = _countdown_seconds(countdown.inner_text())
        assert 1 <= first - later <= 3, (first, later)
        expect(countdown).to_have_class(re.compile(r"\burgent\b"))
        screenshot(alice_page, "deadline-countdown")

        # The Celery ETA task fires at the deadline: an abstention, and the agents go on.
        abstention = alice_page.locator(
            "#transcript article.kind-event", has_text="did not answer in time"
        )
        expect(abstention).to_be_visible(timeout=20_000)
        expect(abstention.locator(".author")).to_have_text("alice")
        expect(alice_page.locator("#your-turn")).to_have_count(0)
        for page in (alice_page, mod_page):
            _status(page, "finished", timeout=SESSION_TIMEOUT_MS)
            expect(page.locator("#final-answer")).to_be_visible()
            assert page.evaluate("window.__notReloaded === true")
        agent_posts = alice_page.locator("#transcript article.kind-argument.by-agent")
        expect(agent_posts).to_have_count(2)
        # The abstention came first, the agents spoke after it.
        assert _seqs(abstention)[0] < min(_seqs(agent_posts))
        expect(alice_page.locator("#transcript article.mine.kind-argument")).to_have_count(0)


# --- the moderator's controls ------------------------------------------------------------------
def test_moderator_controls_are_recorded_in_the_transcript(app_server, moderator, alice):
    session = services.create_session(
        moderator=moderator,
        title="Controls",
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol="free_debate",  # it has a live setting: the speaking order
        protocol_settings={"rounds": 3},
        agent_profiles=_agent_profiles(),
    )
    me = services.join_session(alice, session.invite_token)
    Participant.objects.filter(session=session, kind=Participant.Kind.AGENT).update(position=99)
    path = f"/sessions/{session.pk}/"
    with chromium() as browser:
        mod_page = _log_in(browser, app_server, "mod", path)
        alice_page = _log_in(browser, app_server, "alice", path)
        events = alice_page.locator("#transcript article.kind-event")

        mod_page.click("#control-start")
        expect(alice_page.locator("#your-turn")).to_be_visible()

        # A value the server refuses: the moderator is told why, and nothing changes.
        _set_live(mod_page, "order", "999999")
        expect(mod_page.locator("#control-error")).to_have_text(
            "The order lists someone who is not in this session."
        )
        expect(events).to_have_count(1)  # the start

        mod_page.click("#control-pause")
        expect(mod_page.locator("#control-error")).to_be_hidden()
        expect(events.last).to_contain_text("The moderator paused the session.")
        _status(alice_page, "paused")
        expect(alice_page.locator("#your-turn")).to_have_count(0)
        expect(mod_page.locator("#control-resume")).to_be_visible()

        mod_page.click("#control-resume")
        expect(events.last).to_contain_text("The moderator resumed the session.")
        _status(alice_page, "running")
        expect(alice_page.locator("#your-turn")).to_be_visible()

        mod_page.click(f"#skip-{me.pk}")
        expect(events.filter(has_text="The moderator skipped alice.")).to_have_count(1)
        expect(events.filter(has_text="skipped alice's turn")).to_have_count(1)

        # The agents speak; round 2 gives alice the floor again, and the moderator closes it.
        expect(alice_page.locator("#round-label")).to_contain_text("Round 2", timeout=TIMEOUT_MS)
        expect(alice_page.locator("#your-turn")).to_be_visible()
        mod_page.click("#control-advance")
        expect(events.filter(has_text="The moderator closed round 2.")).to_have_count(1)

        # Round 3: the moderator ends the session (after confirming).
        expect(alice_page.locator("#round-label")).to_contain_text("Round 3", timeout=TIMEOUT_MS)
        mod_page.once("dialog", lambda dialog: dialog.accept())
        mod_page.click("#control-end")
        expect(events.filter(has_text="The moderator ended the session.")).to_have_count(1)
        for page in (alice_page, mod_page):
            _status(page, "finished")
            expect(page.locator("#session-state")).to_contain_text("ended by the moderator")
            expect(page.locator("#transcript article.kind-event")).to_have_count(7)
            assert page.evaluate("window.__notReloaded === true")
        expect(mod_page.locator("#controls button")).to_have_count(0)
        screenshot(mod_page, "controls-end-moderator")
