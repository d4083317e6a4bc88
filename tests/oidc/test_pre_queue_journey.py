"""The OpenID Connect journey through a fair opening, with Authlib's client in a Flask relying party
over real HTTP: visitors who arrive before the opening wait on the pre-queue page (no position,
the opening time, their ticket id), get the position the published draw gives them after it, and
are admitted in that order, with tokens that name it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests

from core import draw
from core.clock import ManualClock
from tests.support import free_port

from .helpers import check_again_url, live_provider, serve_wsgi
from .test_authlib_client import SECRET, relying_party

FAIR = "fair-sale"
OPENS_IN = 600
VISITORS = 4
TICKET = re.compile(r"<code>(t_[A-Za-z0-9_-]{24})</code>")
ARRIVAL = re.compile(r'<strong id="wr-arrival">(\d+)</strong>')


@pytest.mark.slow
def test_visitors_wait_in_the_pre_queue_then_are_admitted_in_the_drawn_order(tmp_path: Path) -> None:
    clock = ManualClock(start=time.time() - 2 * OPENS_IN)  # ends near the wall clock Authlib checks against
    rp_port = free_port()
    callback = f"http://127.0.0.1:{rp_port}/callback"
    clients = {"shop": {"event": FAIR, "secret": SECRET, "redirect_uris": [callback]}}
    events = {FAIR: {"name": "Fair sale", "queueing": "random_before_opening", "opens_at": clock.now() + OPENS_IN}}
    with live_provider(tmp_path, clients, clock=clock, events=events) as provider:
        rp = relying_party(provider.url, rp_port, "shop", SECRET, {"token_endpoint_auth_method": "client_secret_basic"})
        with serve_wsgi(rp, rp_port):
            browsers = [requests.Session() for _ in range(VISITORS)]
            pages = [browser.get(f"http://127.0.0.1:{rp_port}/login", timeout=10) for browser in browsers]
            tickets: list[str] = []
            arrivals: list[int] = []
            for page in pages:
                assert page.status_code == 200 and page.url.startswith(f"{provider.url}/authorize")
                assert "The sale opens at" in page.text and "You are in the pre-queue" in page.text
                assert 'id="wr-position"' not in page.text  # no position before the draw
                assert 'data-pre-queue="true"' in page.text
                assert 'data-position=""' in page.text  # nor the arrival index, in the page's data
                assert "Time left: <span" in page.text and "about 10 minutes" in page.text  # without JavaScript
                refresh = int(re.search(r'http-equiv="refresh" content="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
                assert refresh == 120  # without JavaScript it comes back well before the opening, and at it
                tickets.append(TICKET.search(page.text).group(1))  # type: ignore[union-attr]
                # the visitor's receipt: the arrival number the published list must give the ticket
                arrivals.append(int(ARRIVAL.search(page.text).group(1)))  # type: ignore[union-attr]
                assert f"/events/{FAIR}/draw/verify?ticket={tickets[-1]}" in page.text

            status = browsers[0].get(f"{provider.url}/authorize/status", params={"event": FAIR}, timeout=10).json()
            assert status == {"status": "pre_queue", "admitted": False, "position": None,
                              "opens_at": clock.now() + OPENS_IN}
            published = requests.get(f"{provider.url}/events/{FAIR}/draw", timeout=10).json()
            assert published["state"] == "pre_queue" and published["secret"] is None
            clock.advance(OPENS_IN - 30)
            soon = browsers[0].get(check_again_url(pages[0].text, pages[0].url), timeout=10)
            # the page reloads a second after the opening is due (past the 2 s clock-skew allowance)
            assert 'http-equiv="refresh" content="33"' in soon.text

            clock.advance(35)  # past the opening (and the clock-skew allowance): the next step draws
            after = [browser.get(check_again_url(page.text, page.url), timeout=10)
                     for browser, page in zip(browsers, pages, strict=True)]
            document = requests.get(f"{provider.url}/events/{FAIR}/draw", timeout=10).json()
            assert document["commitment"] == published["commitment"]  # committed before anyone entered
            result = draw.verify(document["commitment"], document["secret"], document["tickets"], document["size"])
            assert result.ok and sorted(document["tickets"]) == sorted(tickets)
            assert [document["tickets"].index(ticket) + 1 for ticket in tickets] == arrivals
            positions = [result.positions[ticket] for ticket in tickets]
            assert sorted(positions) == list(range(1, VISITORS + 1))
            for page, position in zip(after, positions, strict=True):
                assert "You are in line" in page.text and "pre-queue" not in page.text
                assert f'<dd id="wr-position">{position}</dd>' in page.text
            status = browsers[0].get(f"{provider.url}/authorize/status", params={"event": FAIR}, timeout=10).json()
            assert status["status"] == "waiting" and status["position"] == positions[0]

            provider.admit(VISITORS, FAIR)
            for browser, page, ticket, position in zip(browsers, after, tickets, positions, strict=True):
                done = browser.get(check_again_url(page.text, page.url), timeout=10)
                assert done.status_code == 200, done.text
                claims = done.json()["id_claims"]
                assert claims["sub"] == ticket and claims["queue_position"] == position


LEADS = {"de": ("Der Verkauf beginnt am", "etwa 3 Stunden"), "fr": ("La vente ouvre le", "environ 3 heures"),
         "es": ("La venta abre el", "unas 3 horas"), "ja": ("販売開始は", "約 3 時間"),
         "ar": ("يبدأ البيع في", "ساعات")}
"""The opening sentence and the time left without JavaScript (three hours), in each language."""


@pytest.mark.slow
def test_the_pre_queue_page_speaks_the_visitors_language(tmp_path: Path) -> None:
    clock = ManualClock()
    callback = "https://rp.example/callback"
    clients = {"shop": {"event": FAIR, "redirect_uris": [callback]}}
    events = {FAIR: {"queueing": "random_before_opening", "opens_at": clock.now() + 3 * 3600}}
    with live_provider(tmp_path, clients, clock=clock, events=events) as provider:
        for tag, (lead, left) in LEADS.items():
            browser = requests.Session()
            page = browser.get(f"{provider.url}/authorize", headers={"Accept-Language": tag}, timeout=10, params={
                "client_id": "shop", "response_type": "code", "redirect_uri": callback, "scope": "openid",
                "code_challenge": "x" * 43, "code_challenge_method": "S256"})
            assert page.status_code == 200 and f'lang="{tag}"' in page.text
            assert lead in page.text, tag
            assert "The sale opens" not in page.text and "pre-queue." not in page.text, tag
            assert left in page.text, tag
