"""The waiting page in headless Chromium: it updates itself, passes axe, reflows at 200% zoom,
is keyboard usable, and takes the visitor back to the relying party once admitted."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_api
import pytest
from flask import Flask, redirect, request

from tests.support import free_port

from .helpers import EVENT, live_provider, pkce_pair, serve_wsgi

CHROMIUM = os.environ.get("WAITINGROOM_CHROMIUM", "/usr/bin/chromium")
AXE_JS = Path(__file__).resolve().parents[1] / "browser" / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def test_waiting_page_in_chromium(tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium"
    rp_port = free_port()
    callback = f"http://127.0.0.1:{rp_port}/callback"
    rp = Flask("rp")
    rp.add_url_rule("/callback", "cb", lambda: "signed in")
    _verifier, challenge = pkce_pair()
    clients = {"spa": {"event": EVENT, "redirect_uris": [callback]}}
    with live_provider(tmp_path, clients) as provider, serve_wsgi(rp, rp_port):
        url = (f"{provider.url}/authorize?response_type=code&client_id=spa&scope=openid&state=s1"
               f"&redirect_uri={callback}&code_challenge={challenge}&code_challenge_method=S256")
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            try:
                _check_page(browser, url, provider, callback)
            finally:
                browser.close()


def _check_page(browser: Any, url: str, provider: Any, callback: str) -> None:
    others = browser.new_context()
    others.new_page().goto(url)  # one visitor ahead
    # 200% zoom of a 1280 px wide window is a 640 CSS px viewport at twice the pixel density.
    context = browser.new_context(viewport={"width": 640, "height": 480}, device_scale_factor=2)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(url)
    assert page.locator("#wr-position").inner_text() == "2"
    assert page.locator("#wr-ahead").inner_text() == "1"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "horizontal scrolling"
    assert page.locator("#wr-updating").is_visible()  # the script runs under the CSP

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "wr-check"

    if AXE_JS.is_file():
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
        result = page.evaluate("axe.run().then(r => r.violations.map(v => [v.id, v.impact]))")
        assert not [v for v in result if v[1] in ("serious", "critical")], result

    provider.admit(1)  # the visitor ahead: ours moves up without reloading
    playwright_api.expect(page.locator("#wr-ahead")).to_have_text("0", timeout=20_000)
    provider.admit(1)
    page.wait_for_url(callback + "?*", timeout=30_000)
    assert "code=" in page.url and "iss=" in page.url and "state=s1" in page.url
    assert not errors, errors


def form_post_journey(tmp_path: Path, rp: Flask, rp_port: int, state: str, end_url: str) -> tuple[Any, list[str], str]:
    """A visitor of the ``spa`` client (callback ``/callback`` on ``rp_port``) takes a place with
    ``response_mode=form_post``, is admitted and checks again; returns the JSON of the page the
    browser ends on (``end_url``, a glob), its console errors and the provider's URL."""
    callback = f"http://127.0.0.1:{rp_port}/callback"
    _verifier, challenge = pkce_pair()
    clients = {"spa": {"event": EVENT, "redirect_uris": [callback]}}
    with live_provider(tmp_path, clients) as provider, serve_wsgi(rp, rp_port):
        url = (f"{provider.url}/authorize?response_type=code&client_id=spa&scope=openid&state={state}"
               f"&redirect_uri={callback}&code_challenge={challenge}&code_challenge_method=S256"
               "&response_mode=form_post")
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page()
                errors: list[str] = []
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                page.goto(url)  # takes a place
                provider.admit(1)
                page.goto(url, wait_until="commit")
                try:
                    page.wait_for_url(end_url, timeout=30_000)
                except playwright_api.Error:  # a timeout, or the navigation aborted (ERR_ABORTED)
                    pytest.fail(f"the visitor never reached {end_url}: {errors}")
                return json.loads(page.locator("body").inner_text()), errors, provider.url
            finally:
                browser.close()


def test_form_post_response_submits_itself_under_the_csp(tmp_path: Path) -> None:
    """``response_mode=form_post``: the page's external script posts the code to the relying
    party; the CSP allows that form and no inline code."""
    rp_port = free_port()
    rp = Flask("rp")
    rp.add_url_rule("/callback", "cb", lambda: json.dumps(dict(request.form)), methods=["POST"])
    posted, errors, issuer = form_post_journey(tmp_path, rp, rp_port, "s2", f"http://127.0.0.1:{rp_port}/callback")
    assert set(posted) == {"code", "state", "iss"} and posted["state"] == "s2" and posted["iss"] == issuer
    assert not [e for e in errors if "Content Security Policy" in e], errors  # (favicon 404s are not ours)


def test_waiting_page_says_paused_and_reconnecting_in_chromium(tmp_path: Path) -> None:
    """The page follows the event's status document: it says when admission is paused (and drops
    the estimate), and when its polls fail it says it is reconnecting and since when its figures are.
    A first visit's address (the cookie check's marker) is replaced by the plain authorization URL."""
    import requests

    _verifier, challenge = pkce_pair()
    callback = f"http://127.0.0.1:{free_port()}/callback"
    clients = {"spa": {"event": EVENT, "redirect_uris": [callback]}}
    with live_provider(tmp_path, clients) as provider:
        url = (f"{provider.url}/authorize?response_type=code&client_id=spa&scope=openid&state=s1"
               f"&redirect_uri={callback}&code_challenge={challenge}&code_challenge_method=S256")
        admin = {"Authorization": "Bearer test-admin-key"}
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            try:
                context = browser.new_context()
                page = context.new_page()
                page.goto(url)
                assert page.locator("#wr-position").inner_text() == "1"
                assert "wr_cookie_check" not in page.url and page.url.endswith("code_challenge_method=S256")
                assert not page.locator("#wr-paused").is_visible()
                r = requests.post(f"{provider.url}/admin/events/{EVENT}/pause", headers=admin, timeout=5)
                assert r.status_code == 200
                playwright_api.expect(page.locator("#wr-paused")).to_be_visible(timeout=30_000)
                playwright_api.expect(page.locator("#wr-unknown-paused")).to_be_visible()
                assert not page.locator("#wr-reconnecting").is_visible()
                context.set_offline(True)
                playwright_api.expect(page.locator("#wr-reconnecting")).to_be_visible(timeout=40_000)
                assert page.locator("#wr-updated-at").inner_text()
                assert not page.locator("#wr-updating").is_visible()
                context.set_offline(False)
                playwright_api.expect(page.locator("#wr-reconnecting")).to_be_hidden(timeout=60_000)
            finally:
                browser.close()


def test_form_post_reaches_a_relying_party_whose_callback_redirects_to_another_origin(tmp_path: Path) -> None:
    """Chromium applies a page's ``form-action`` to every redirect after the form's submission:
    a relying party whose callback sends the visitor on to another origin (``localhost`` here,
    after ``127.0.0.1``) must still get them there."""
    rp_port = free_port()
    landing = f"http://localhost:{rp_port}/landing"
    rp = Flask("rp")
    rp.add_url_rule("/callback", "cb", lambda: redirect(f"{landing}?state={request.form['state']}"), methods=["POST"])
    rp.add_url_rule("/landing", "landing", lambda: json.dumps(dict(request.args)))
    landed, errors, _issuer = form_post_journey(tmp_path, rp, rp_port, "s3", f"{landing}*")
    assert landed == {"state": "s3"}
    assert not [e for e in errors if "Content Security Policy" in e], errors
