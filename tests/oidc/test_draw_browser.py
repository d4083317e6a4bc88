"""The fair opening in headless Chromium: the draw check page recomputes the draw with WebCrypto and
gets the positions core/draw.py gets; the waiting page counts down in the pre-queue and, after the
opening, shows the drawn place without the visitor doing anything."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_api
import pytest

from core import draw
from core.clock import ManualClock
from core.model import ticket_id_for

from .helpers import ServedApp, live_provider, pkce_pair

CHROMIUM = os.environ.get("WAITINGROOM_CHROMIUM", "/usr/bin/chromium")
AXE_JS = Path(__file__).resolve().parents[1] / "browser" / "node_modules" / "axe-core" / "axe.min.js"
FAIR = "fair-sale"
OPENS_IN = 120

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium"
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[tuple[ServedApp, ManualClock]]:
    clock = ManualClock(start=time.time())
    events = {FAIR: {"name": "Fair sale", "queueing": "random_before_opening", "opens_at": clock.now() + OPENS_IN}}
    clients = {"spa": {"event": FAIR, "redirect_uris": ["http://127.0.0.1:9/callback"]}}
    with live_provider(tmp_path, clients, clock=clock, events=events) as served:
        yield served, clock


def _page(browser: Any) -> tuple[Any, Any, list[str]]:
    context = browser.new_context()
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return context, page, errors


def published(key: str, tickets: list[str | None], **changes: Any) -> dict[str, Any]:
    """An open draw document with secret ``key``, as ``GET /events/<id>/draw`` serves one."""
    document: dict[str, Any] = {
        "event_id": FAIR, "queueing": "random_before_opening", "algorithm": draw.ALGORITHM, "opens_at": 1.8e9,
        "state": "open", "commitment": draw.commitment(key), "secret": key, "size": len(tickets),
        "opened_at": 1.8e9, "tickets": tickets,
    }
    document.update(changes)
    return document


def test_the_scripts_permutation_is_core_draws(browser: Any, provider: tuple[ServedApp, ManualClock]) -> None:
    served, _clock = provider
    context, page, errors = _page(browser)
    page.goto(f"{served.url}/events/{FAIR}/draw/verify")
    for size in (1, 2, 5, 63, 64, 65, 300):
        secret = draw.new_secret()
        got = page.evaluate("""async ([secret, size]) => {
            const out = [];
            for (let i = 1; i <= size; i++) { out.push(await window.WaitingroomDraw.permute(secret, size, i)); }
            return out;
        }""", [secret, size])
        assert got == [draw.permute(secret, size, i) for i in range(1, size + 1)], size
        assert page.evaluate("s => window.WaitingroomDraw.commitment(s)", secret) == draw.commitment(secret)
    # a large draw, where a half holds 18 bits: a few indexes
    secret, size = draw.new_secret(), 40_000_000_000
    for index in (1, 17, 39_999_999_999):
        assert page.evaluate("([s, n, i]) => window.WaitingroomDraw.permute(s, n, i)", [secret, size, index]) \
            == draw.permute(secret, size, index)
    assert not errors, errors
    context.close()


def test_the_check_page_gives_the_visitor_the_drawn_position_and_catches_a_changed_draw(
        browser: Any, provider: tuple[ServedApp, ManualClock]) -> None:
    served, _clock = provider
    secret = draw.new_secret()
    tickets: list[str | None] = [ticket_id_for(f"request-{i:032d}") for i in range(1, 51)]
    tickets[9] = None  # a hole keeps its index
    mine = tickets[20]
    assert mine is not None
    served_document: dict[str, Any] = {"body": published(secret, tickets)}
    context, page, errors = _page(browser)
    page.route(f"{served.url}/events/{FAIR}/draw", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(served_document["body"])))
    url = f"{served.url}/events/{FAIR}/draw/verify?ticket={mine}"

    page.goto(url)
    playwright_api.expect(page.locator("#wr-draw-ok")).to_be_visible()
    playwright_api.expect(page.locator("#wr-ticket-found")).to_be_visible()
    assert page.locator("#wr-ticket-arrival").inner_text() == "21"
    assert page.locator("#wr-ticket-position").inner_text() == str(draw.permute(secret, 50, 21))
    assert page.locator("#wr-draw-secret").inner_text() == secret
    if AXE_JS.is_file():
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
        result = page.evaluate("axe.run().then(r => r.violations.map(v => [v.id, v.impact]))")
        assert not [v for v in result if v[1] in ("serious", "critical")], result

    served_document["body"] = published(secret, tickets, secret=draw.new_secret())  # not the committed secret
    page.goto(url)
    playwright_api.expect(page.locator("#wr-draw-bad-secret")).to_be_visible()
    assert page.locator("#wr-ticket-found").is_hidden()

    served_document["body"] = published(secret, [*tickets[:-1], tickets[0]])  # a ticket named twice
    page.goto(url)
    playwright_api.expect(page.locator("#wr-draw-bad-list")).to_be_visible()

    served_document["body"] = published(secret, tickets[:-1], size=50)  # a place left out
    page.goto(url)
    playwright_api.expect(page.locator("#wr-draw-bad-list")).to_be_visible()

    late = ticket_id_for("entered-after-the-opening")
    served_document["body"] = published(secret, tickets)
    page.goto(f"{served.url}/events/{FAIR}/draw/verify?ticket={late}")
    playwright_api.expect(page.locator("#wr-ticket-absent")).to_be_visible()
    assert not errors, errors
    context.close()


def test_the_pre_queue_page_counts_down_and_shows_the_drawn_place_after_the_opening(
        browser: Any, provider: tuple[ServedApp, ManualClock]) -> None:
    served, clock = provider
    _verifier, challenge = pkce_pair()
    url = (f"{served.url}/authorize?response_type=code&client_id=spa&scope=openid&state=s1"
           f"&redirect_uri=http://127.0.0.1:9/callback&code_challenge={challenge}&code_challenge_method=S256")
    context, page, errors = _page(browser)
    page.goto(url)
    page.wait_for_selector("#wr-countdown")
    assert page.locator("#wr-position").count() == 0
    # The server's UTC text is replaced by the visitor's own time zone, and the countdown ticks.
    playwright_api.expect(page.locator("#wr-opens-at")).not_to_contain_text("UTC")
    playwright_api.expect(page.locator("#wr-countdown")).to_have_text(re.compile(r"^0:0[12]:[0-5]\d$"))
    if AXE_JS.is_file():
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
        result = page.evaluate("axe.run().then(r => r.violations.map(v => [v.id, v.impact]))")
        assert not [v for v in result if v[1] in ("serious", "critical")], result
    first = page.locator("#wr-countdown").inner_text()
    playwright_api.expect(page.locator("#wr-countdown")).not_to_have_text(first, timeout=5_000)
    ticket = page.locator(".wr-note code").inner_text()

    # The check page before the opening: nothing to check yet, the commitment to keep.
    check, check_page, check_errors = _page(browser)
    check_page.goto(f"{served.url}/events/{FAIR}/draw/verify?ticket={ticket}")
    playwright_api.expect(check_page.locator("#wr-draw-not-open")).to_be_visible()
    commitment = check_page.locator("#wr-draw-commitment").inner_text()
    assert len(commitment) == 64

    clock.advance(OPENS_IN + 5)  # the server's clock passes the opening: the status document says "open"
    served.app.extensions["waitingroom"].room.ensure_opened(FAIR)
    page.wait_for_selector("#wr-position", timeout=60_000)  # the page went back to /authorize by itself
    document = check_page.request.get(f"{served.url}/events/{FAIR}/draw").json()
    assert document["commitment"] == commitment and document["tickets"] == [ticket]
    assert page.locator("#wr-position").inner_text() == str(draw.permute(document["secret"], 1, 1))

    check_page.goto(f"{served.url}/events/{FAIR}/draw/verify?ticket={ticket}")
    playwright_api.expect(check_page.locator("#wr-draw-ok")).to_be_visible()
    assert check_page.locator("#wr-ticket-position").inner_text() == "1"
    assert not errors and not check_errors, (errors, check_errors)
    check.close()
    context.close()
