"""In Chromium: a person makes a token on the tokens page, a script uses it, then it is revoked.

Needs Debian's Chromium (``apt-get install chromium chromium-driver``); skipped without it.
"""

from __future__ import annotations

import httpx
import pytest

from tests.live_server import CHROMIUM, chromium, daphne_only, log_in, screenshot

if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_token_made_in_the_browser_works_until_revoked(tmp_path, alice):
    with daphne_only(tmp_path) as base_url, chromium() as browser:
        page = log_in(browser, base_url, "alice", "/api/tokens/")
        page.fill("#token-name", "notebook")
        page.click("#token-form button[type=submit]")
        key = page.locator("#new-token-key").inner_text().strip()
        assert key.startswith("dlb_")
        expect(page.locator("#token-list")).to_contain_text("notebook")
        screenshot(page, "api-tokens")

        api = httpx.Client(
            base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {key}"}
        )
        assert api.get("/me/").json()["username"] == "alice"
        created = api.post(
            "/sessions/", json={"title": "From a script", "question": "Q?", "options": ["a", "b"]}
        )
        assert created.status_code == 201

        page.reload()  # the key is not shown again; the session is listed in the pages
        expect(page.locator("#new-token-key")).to_have_count(0)
        expect(page.locator("#token-list")).not_to_contain_text("never")  # it was used
        page.click("#token-list button:has-text('Revoke')")
        expect(page.locator("#token-list .token-status")).to_contain_text("revoked")
        assert api.get("/me/").status_code == 401
        page.goto("/")
        expect(page.locator("body")).to_contain_text("From a script")


def test_the_api_explorer_lists_every_operation_from_our_own_files(tmp_path, alice):
    with daphne_only(tmp_path) as base_url, chromium() as browser:
        page = log_in(browser, base_url, "alice", "/api/tokens/")
        outside = []
        page.on(
            "request",
            lambda r: outside.append(r.url) if not r.url.startswith(base_url) else None,
        )
        page.click("#api-explorer")
        expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
        paths = page.locator(".swagger-ui .opblock-summary-path").all_inner_texts()
        assert "/api/v1/sessions/{id}/posts/" in [p.replace("\u200b", "") for p in paths]
        page.locator(".opblock-summary-path", has_text="/api/v1/me/").first.click()
        page.click("button.try-out__btn")
        page.click("button.execute")
        expect(
            page.locator(".live-responses-table tbody .response-col_status").first
        ).to_contain_text("200")
        screenshot(page, "api-explorer")
        assert outside == []  # no CDN
