"""The Content-Security-Policy in Chromium: the pages work under it and it is never violated.

A moderator, a debater and an annotator, each in a browser of their own against the real server
(daphne), go through the main pages. An init script records every ``securitypolicyviolation``
event and the console is watched for CSP refusals; both must stay empty while the pages do
their work: the moderator starts the session with an htmx button, the debater posts over the
WebSocket and the moderator sees the post arrive, the new-session form switches protocol
settings, the invite link selects itself, the moderator's metrics socket connects, Swagger UI
renders the API, the admin works, and the annotator labels with the keyboard. Every page answers
with the policy and without a ``Server`` banner.

Needs Debian's Chromium; skipped without it.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model

from deliberation.annotation.models import Item, Label, Project
from deliberation.debates import services
from tests.live_server import CHROMIUM, PASSWORD, chromium, daphne_only

if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 15_000

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  var v = e.effectiveDirective + " blocked " + (e.blockedURI || "inline") + " at "
    + e.sourceFile + ":" + e.lineNumber + " " + (e.sample || "");
  window.__csp.push(v);
  console.error("CSP violation: " + v);
});
"""


class Person:
    """A logged-in browser context that records CSP violations and checks every document."""

    def __init__(self, browser, base_url: str, username: str):
        self.violations: list[str] = []
        self.documents: list[tuple[str, dict]] = []
        self.context = browser.new_context(
            base_url=base_url, viewport={"width": 1280, "height": 900}
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.add_init_script(RECORD_VIOLATIONS)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("response", self._response)
        self.page.goto("/accounts/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", PASSWORD)
        with self.page.expect_navigation():
            self.page.click("form button[type=submit]")

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text or "CSP violation" in text:
            self.violations.append(f"{self.page.url}: {text}")

    def _response(self, response) -> None:
        if response.request.resource_type == "document":
            self.documents.append((response.url, response.headers))

    def visit(self, path: str):
        response = self.page.goto(path)
        assert response.status == 200, (path, response.status)
        return self.page

    def check(self) -> None:
        seen = self.page.evaluate("window.__csp || []")
        assert not self.violations and not seen, self.violations + seen
        assert self.documents
        for url, headers in self.documents:
            csp = headers.get("content-security-policy", "")
            assert "script-src 'self'" in csp and "unsafe" not in csp.split("style-src")[0], (
                url,
                csp,
            )
            assert "server" not in headers, (url, headers.get("server"))


@pytest.fixture
def server(transactional_db, tmp_path):
    with daphne_only(tmp_path) as base_url:
        yield base_url


@pytest.fixture
def world(moderator, alice):
    root = get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)
    session = services.create_session(
        moderator=moderator,
        title="Under the policy",
        question="Is the sky blue?",
        options=["Yes", "No"],
        protocol="round_robin",
        protocol_settings={"rounds": 1},
    )
    services.join_session(alice, session.invite_token)
    project = Project.objects.create(
        name="Policy labels",
        label_format="single_choice",
        options=["0", "1"],
        labels_per_item=1,
        owner=moderator,
    )
    Item.objects.bulk_create(
        Item(project=project, external_id=f"t{i}", position=i, data={"text": f"item {i}"})
        for i in range(2)
    )
    return root, session, project


def test_the_main_pages_work_without_violating_the_policy(server, world, moderator, alice):
    _, session, project = world
    path = f"/sessions/{session.pk}/"
    with chromium() as browser:
        mod = Person(browser, server, "mod")
        debater = Person(browser, server, "alice")

        # The new-session form's script switches the protocol settings.
        page = mod.visit("/sessions/new/")
        page.select_option("#id_protocol", "round_table")
        expect(page.locator("#settings-round_table")).to_be_visible()
        expect(page.locator("#settings-simultaneous")).to_be_hidden()
        assert page.locator("#settings-simultaneous input").first.is_disabled()

        # The session page: sockets open, the moderator starts it (htmx), alice posts over
        # the WebSocket, and the moderator sees the post arrive without a reload.
        mod_page = mod.visit(path)
        debater_page = debater.visit(path)
        for p in (mod_page, debater_page):
            expect(p.locator("#connection")).to_have_attribute("data-state", "open")
        mod_page.evaluate("window.__notReloaded = true")
        mod_page.click("#invite-url")
        assert mod_page.evaluate(
            "(() => { const el = document.getElementById('invite-url');"
            " return el.selectionStart === 0 && el.selectionEnd === el.value.length"
            " && el.value.length > 0; })()"
        )
        mod_page.click("#control-start")
        expect(debater_page.locator("#your-turn")).to_be_visible()
        debater_page.select_option("#post-answer", "Yes")
        debater_page.fill("#post-confidence", "0.8")
        text = "Rayleigh scattering, under a strict policy."
        debater_page.fill("#post-text", text)
        debater_page.click("#post-submit")
        expect(mod_page.locator("#transcript article.by-human", has_text=text)).to_be_visible()
        assert mod_page.evaluate("window.__notReloaded === true")
        expect(mod_page.locator("#session-status")).to_have_attribute("data-status", "finished")

        # The moderator's live metrics page connects its socket and draws the charts.
        page = mod.visit(f"/moderation/sessions/{session.pk}/")
        expect(page.locator("#metrics-connection")).to_have_attribute("data-state", "open")
        for other in (
            "/",
            f"/review/sessions/{session.pk}/replay/",
            "/batches/",
            "/webhooks/",
            "/api/tokens/",
            "/annotation/",
            f"/annotation/{project.pk}/",
            "/moderation/",
        ):
            mod.visit(other)
        mod.check()

        # The annotator labels with the keyboard: a digit picks, Enter submits.
        page = debater.visit(f"/annotation/{project.pk}/label/")
        item = page.locator("#labelling").get_attribute("data-item")
        page.locator("body").press("2")
        expect(page.locator('#choices input[data-key="2"]')).to_be_checked()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        debater.check()

        # Staff: Swagger UI renders the API from its nonce'd inline script; the admin works.
        admin = Person(browser, server, "root")
        page = admin.visit("/api/v1/docs/")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("deliberation API")
        expect(page.locator(".opblock").first).to_be_visible()
        page = admin.visit("/admin/")
        expect(page.locator("#site-name")).to_be_visible()
        page = admin.visit(f"/admin/debates/debatesession/{session.pk}/change/")
        expect(page.locator("#debatesession_form")).to_be_visible()
        admin.visit("/admin/debates/post/?q=" + quote("Rayleigh"))
        admin.check()

        # The watch works, and the policy bites: an injected inline script does not run.
        page.evaluate(
            "document.body.appendChild(Object.assign(document.createElement('script'),"
            " {textContent: 'window.__ran = true'}))"
        )
        page.wait_for_function("window.__csp.length > 0")
        assert page.evaluate("window.__ran === undefined")
        assert "script-src" in page.evaluate("window.__csp[0]")

    label = Label.objects.get(item__project=project, annotator__user=alice)
    assert (label.item.external_id, label.value) == (item, "1")
