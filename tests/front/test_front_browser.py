"""The waiting page in headless Chromium through the nginx front: it waits, follows the line as
it moves by polling only the event's cached status document, is taken back to the relying party
once admitted, and works with JavaScript off."""

from __future__ import annotations

import os
from pathlib import Path

import playwright.sync_api as playwright_api
import pytest
from flask import Flask

from tests.oidc.helpers import pkce_pair, serve_wsgi

from .conftest import EVENT, Stack

CHROMIUM = os.environ.get("WAITINGROOM_CHROMIUM", "/usr/bin/chromium")

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

MOVE_TIMEOUT_MS = 45_000
"""The page backs off to 30 s between polls while nothing moves; a busy machine gets the rest."""


def test_waiting_page_through_the_front_in_chromium(stack: Stack) -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium"
    callback = f"http://127.0.0.1:{stack.rp_port}/callback"
    rp = Flask("rp")
    rp.add_url_rule("/callback", "cb", lambda: "signed in")
    _verifier, challenge = pkce_pair()
    url = (f"{stack.url}/authorize?response_type=code&client_id=spa&scope=openid&state=s1"
           f"&redirect_uri={callback}&code_challenge={challenge}&code_challenge_method=S256")
    with serve_wsgi(rp, stack.rp_port), playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            for _ in range(2):  # two visitors ahead
                browser.new_context(java_script_enabled=False).new_page().goto(url)
            context = browser.new_context()
            page = context.new_page()
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            position = int(page.locator("#wr-position").inner_text())
            ahead = int(page.locator("#wr-ahead").inner_text())
            assert ahead >= 2 and page.locator("#wr-updating").is_visible()

            no_js = browser.new_context(java_script_enabled=False).new_page()
            no_js.goto(url)
            later = int(no_js.locator("#wr-position").inner_text())
            assert later == position + 1 and not no_js.locator("#wr-updating").is_visible()

            stack.admit(1)  # the line moves: the page shows it without a reload
            playwright_api.expect(page.locator("#wr-ahead")).to_have_text(str(ahead - 1), timeout=MOVE_TIMEOUT_MS)
            stack.admit(ahead - 1)
            playwright_api.expect(page.locator("#wr-ahead")).to_have_text("0", timeout=MOVE_TIMEOUT_MS)
            assert page.url.startswith(f"{stack.url}/authorize"), "the page left before its turn"
            stack.admit(1)
            page.wait_for_url(callback + "?*", timeout=MOVE_TIMEOUT_MS)
            assert "code=" in page.url and "state=s1" in page.url and "iss=" in page.url

            polls = [u for u in requested if "status" in u.split("?")[0]]
            assert polls, "the page never polled"
            assert {u.split("?")[0] for u in polls} == {f"{stack.url}/events/{EVENT}/status"}, polls

            stack.admit(1)  # JavaScript off: "Check again" takes the admitted visitor on
            no_js.click("#wr-check")
            no_js.wait_for_url(callback + "?*", timeout=MOVE_TIMEOUT_MS)
            assert "code=" in no_js.url
            assert not errors, errors
        finally:
            browser.close()
