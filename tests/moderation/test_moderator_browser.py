"""The moderator page updates live in headless Chromium as a debater posts (no reload).

The real server (daphne) runs as a subprocess on the pytest-django test database, as in
tests/test_browser.py; the session has people only, so no Celery worker is needed. The debater
posts from their own logged-in browser through the session WebSocket's JSON protocol; the
moderator's page, connected to ``/ws/sessions/<id>/moderator/?format=html``, swaps in the new
metrics panel (counts, charts) each time.

Needs Debian's Chromium (``apt-get install chromium``); skipped without it.
"""

from __future__ import annotations

import pytest

from deliberation.debates import controls, services
from deliberation.debates.models import Participant
from tests.live_server import CHROMIUM, chromium, daphne_only, log_in, screenshot

if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 15_000


@pytest.fixture
def server(transactional_db, tmp_path):
    """daphne only (people only, no worker); yields the base URL; its log is printed after."""
    with daphne_only(tmp_path) as base_url:
        yield base_url


@pytest.fixture
def scenario(moderator, alice, bob):
    """A running two-round session of alice and bob (simultaneous rounds)."""
    session = services.create_session(
        moderator=moderator,
        title="Watched live",
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol="simultaneous",
        protocol_settings={"rounds": 2, "turn_seconds": 3600},
    )
    services.join_session(alice, session.invite_token)
    services.join_session(bob, session.invite_token)
    controls.control(session.participants.get(role=Participant.Role.MODERATOR), "start")
    return session


# Post as this browser's user through the session socket (the documented JSON protocol), and
# resolve once the server acknowledges the stored post.
POST = """async ([sessionId, text, answer, confidence]) => {
  const ws = new WebSocket(`ws://${location.host}/ws/sessions/${sessionId}/?format=json`);
  return await new Promise((resolve, reject) => {
    ws.onopen = () => ws.send(JSON.stringify(
      {type: "post", text, answer, confidence, client_msg_id: crypto.randomUUID()}));
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "ack") { ws.close(); resolve(m.seq); }
      if (m.type === "error") { ws.close(); reject(new Error(m.message)); }
    };
    ws.onerror = () => reject(new Error("socket error"));
  });
}"""


def test_the_moderator_page_updates_live_as_debaters_post(server, scenario):
    path = f"/moderation/sessions/{scenario.pk}/"
    with chromium() as browser:
        mod = log_in(browser, server, "mod", path)
        expect(mod.locator("#metrics-connection")).to_have_attribute("data-state", "open")
        mod.evaluate("window.__notReloaded = true")
        answers = mod.locator('[data-metric="answers-1"]')
        expect(answers).to_have_text("0")
        alice = log_in(browser, server, "alice", f"/sessions/{scenario.pk}/")
        bob = log_in(browser, server, "bob", f"/sessions/{scenario.pk}/")

        alice.evaluate(POST, [scenario.pk, "Rayleigh scattering.", "Yes", 0.9])
        expect(answers).to_have_text("1")
        bars = mod.locator('#chart-distribution g[data-round="1"] rect')
        expect(bars).to_have_count(1)
        expect(mod.locator('[data-metric="top-share-1"]')).to_have_text("1.000")

        bob.evaluate(POST, [scenario.pk, "Sunsets are red.", "No", 0.6])
        expect(answers).to_have_text("2")
        expect(bars).to_have_count(2)
        expect(mod.locator('[data-metric="entropy-1"]')).to_have_text("1.000")
        # Round 2 opened; plurality ties while ReConcile picks the confident "Yes".
        expect(mod.locator('tr[data-round="2"]')).to_be_visible()
        expect(mod.locator("#rules-disagree")).to_be_visible()
        points = mod.locator('#chart-agreement g[data-series="normalised_entropy"] circle')
        expect(points).to_have_count(1)
        assert mod.evaluate("window.__notReloaded === true")
        screenshot(mod, "moderator")
