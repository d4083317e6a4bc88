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


def test_a_copy_older_than_its_counters_does_not_send_the_page_to_authorize(stack: Stack) -> None:
    """A status document carries its render time in whole seconds, and a worker renders it from
    counters up to half a second old: a copy stamped with the page's own second may predate the
    visitor's entry and show a last position below theirs. That is not a reset of the line, and the
    page must not bounce to /authorize on it (a surge of arrivals would come back to the server
    twice); a copy two seconds newer than the page does know the place, and still takes it on."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium"
    callback = f"http://127.0.0.1:{stack.rp_port}/callback"
    _verifier, challenge = pkce_pair()
    url = (f"{stack.url}/authorize?response_type=code&client_id=spa&scope=openid&state=s2"
           f"&redirect_uri={callback}&code_challenge={challenge}&code_challenge_method=S256")
    served: list[int] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_context().new_page()
            page.goto(url)
            main = page.locator("#wr-main")
            position = int(main.get_attribute("data-position") or 0)
            rendered_at = int(main.get_attribute("data-rendered-at") or 0)
            skew = {"seconds": 0}

            def status(route: playwright_api.Route) -> None:
                served.append(skew["seconds"])
                route.fulfill(status=200, content_type="application/json", json={
                    "event_id": EVENT, "serving_counter": 0, "last_position": position - 1, "waiting": position - 1,
                    "admission_rate": 0.0, "paused": False, "start_at": None, "end_at": None,
                    "server_time": rendered_at + skew["seconds"]})

            page.route(f"{stack.url}/events/{EVENT}/status", status)
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            deadline_ms = MOVE_TIMEOUT_MS
            while len(served) < 2 and deadline_ms > 0:
                page.wait_for_timeout(250)
                deadline_ms -= 250
            assert len(served) >= 2, "timed out: the page did not poll twice"
            assert navigations == [], navigations
            skew["seconds"] = 2
            page.wait_for_event("framenavigated", timeout=MOVE_TIMEOUT_MS)
            assert page.url.startswith(f"{stack.url}/authorize")
        finally:
            browser.close()


def test_a_serving_counter_that_went_back_sends_the_page_to_the_server(stack: Stack) -> None:
    """After a reset the line starts again: the serving counter goes back and new arrivals soon pass
    this visitor's old position, so last_position alone does not show it. A copy two seconds newer
    than one with a higher counter shows the counter went back: the page asks the server (which
    tells a visitor whose place ended so) instead of waiting for a counter that may never come."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium"
    callback = f"http://127.0.0.1:{stack.rp_port}/callback"
    _verifier, challenge = pkce_pair()
    url = (f"{stack.url}/authorize?response_type=code&client_id=spa&scope=openid&state=s3"
           f"&redirect_uri={callback}&code_challenge={challenge}&code_challenge_method=S256")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            for _ in range(4):  # people ahead, so the counters below stay under this visitor's place
                browser.new_context(java_script_enabled=False).new_page().goto(url)
            page = browser.new_context().new_page()
            page.goto(url)
            main = page.locator("#wr-main")
            position = int(main.get_attribute("data-position") or 0)
            rendered_at = int(main.get_attribute("data-rendered-at") or 0)
            assert position >= 5
            copies = iter([(2, position - 2), (3, position - 3), (5, 1)])  # (seconds after the page, serving)
            served: list[int] = []

            def status(route: playwright_api.Route) -> None:
                seconds, serving = next(copies, (6, 1))
                served.append(serving)
                route.fulfill(status=200, content_type="application/json", json={
                    "event_id": EVENT, "serving_counter": serving, "last_position": position + 100,
                    "waiting": 100, "admission_rate": 0.0, "paused": False, "start_at": None, "end_at": None,
                    "server_time": rendered_at + seconds})

            page.route(f"{stack.url}/events/{EVENT}/status", status)
            with page.expect_navigation(timeout=MOVE_TIMEOUT_MS):
                pass
            assert page.url.startswith(f"{stack.url}/authorize")
            assert served[:3] == [position - 2, position - 3, 1], served  # not before the counter went back
        finally:
            browser.close()
