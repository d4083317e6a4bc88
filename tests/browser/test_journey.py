"""The visitor's journey through the sample site, the waiting room and the protected checkout."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from core import draw

from .conftest import Demo


def pause(demo: Demo) -> None:
    demo.admin("POST", "/events/demo-sale/pause")


def resume(demo: Demo) -> None:
    demo.admin("POST", "/events/demo-sale/resume")


def join_line(page: Any, demo: Demo) -> None:
    """From the landing page to the waiting page."""
    page.goto(demo.site + "/")
    page.get_by_role("button", name="Get tickets").click()
    page.wait_for_url(demo.issuer + "/authorize?*")
    page.wait_for_selector("#wr-position")


def test_visitor_waits_is_admitted_and_completes_a_checkout(demo: Demo, new_page: Any) -> None:
    pause(demo)
    page = new_page()
    page.goto(demo.site + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Spring ticket sale"

    join_line(page, demo)
    assert page.locator("#wr-position").inner_text() == "1"
    assert page.locator("#wr-ahead").inner_text() == "0"
    assert page.get_by_role("status").count() >= 1  # the live region the place is announced in

    resume(demo)  # the periodic strategy lets one visitor in every two seconds
    page.wait_for_url(demo.site + "/checkout.html", timeout=30_000)
    assert page.locator("#signed-in").inner_text() == "Admitted visitor #1"

    access_token = page.evaluate("() => JSON.parse(sessionStorage.getItem('sample-site.tokens')).access_token")
    page.get_by_label("Number of tickets").select_option("3")
    page.get_by_role("button", name="Buy tickets").click()
    page.wait_for_selector("#order-confirmed")
    assert "3 ticket(s)" in page.locator("#result").inner_text()
    assert page.locator("#checkout-form").is_hidden()
    assert page.errors == []

    # The session ended at checkout, so its token no longer opens the API (the gate asks
    # /session_status), and the site forgot it.
    assert page.evaluate("() => sessionStorage.getItem('sample-site.tokens')") is None
    again = requests.post(demo.api + "/checkout", json={"quantity": 1}, timeout=5,
                          headers={"Authorization": f"Bearer {access_token}"})
    assert again.status_code == 401
    assert "completed" in again.json()["message"]
    counts = demo.counts()
    assert counts["issued"] == 1
    assert counts["completed"] == 1  # the checkout API ended the session
    assert counts["active"] == 0


def test_the_checkout_api_refuses_requests_without_a_valid_token(demo: Demo) -> None:
    response = requests.post(demo.api + "/checkout", json={"quantity": 1}, timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    forged = requests.post(
        demo.api + "/checkout", json={"quantity": 1}, headers={"Authorization": "Bearer e30.e30.c2ln"}, timeout=5
    )
    assert forged.status_code == 401


def test_without_javascript_the_visitor_waits_and_returns_to_the_site(demo: Demo, new_page: Any) -> None:
    pause(demo)
    # The shop's sign-in link is built by its script (PKCE); everything after that works without one.
    shop_tab = new_page()
    join_line(shop_tab, demo)
    authorize_url = shop_tab.url
    shop_tab.goto(demo.site + "/")  # leaves the line; its sessionStorage keeps the PKCE verifier

    page = new_page(java_script=False)
    page.goto(authorize_url)
    assert page.locator("#wr-position").inner_text() == "2"  # another browser: a place of its own
    check_again = page.get_by_role("link", name="Check again")
    assert check_again.get_attribute("href") is not None
    check_again.click()
    assert page.locator("#wr-position").inner_text() == "2"  # checking again keeps the place

    resume(demo)
    deadline = time.monotonic() + 30
    while not page.url.startswith(demo.site + "/callback.html"):
        if time.monotonic() > deadline:
            raise TimeoutError("the visitor without JavaScript was never let back to the site")
        time.sleep(1)
        page.get_by_role("link", name="Check again").click()
    query = parse_qs(urlsplit(page.url).query)
    assert query["code"] and query["state"]
    assert query["iss"] == [demo.issuer]
    assert "needs JavaScript" in page.locator("noscript").first.inner_text() or page.get_by_text(
        "needs JavaScript"
    ).count()

    # The code is good: the tab that started the sign-in (it holds the PKCE verifier) redeems it.
    shop_tab.goto(page.url)
    shop_tab.wait_for_url(demo.site + "/checkout.html")
    assert shop_tab.locator("#signed-in").inner_text() == "Admitted visitor #2"


def test_two_visitors_get_different_places_and_are_admitted_in_order(demo_factory: Any, new_page: Any) -> None:
    demo = demo_factory(admit=1, every=3.0)
    pause(demo)
    first, second = new_page(), new_page()
    join_line(first, demo)
    join_line(second, demo)
    assert first.locator("#wr-position").inner_text() == "1"
    assert second.locator("#wr-position").inner_text() == "2"
    assert second.locator("#wr-ahead").inner_text() == "1"

    resume(demo)
    arrived: dict[str, float] = {}
    deadline = time.monotonic() + 40
    while len(arrived) < 2:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not both admitted: {arrived}")
        for name, page in (("first", first), ("second", second)):
            if name not in arrived and page.url.startswith(demo.site + "/checkout.html"):
                arrived[name] = time.monotonic()
        first.wait_for_timeout(100)
    assert arrived["first"] < arrived["second"]
    first.wait_for_selector("#signed-in:not([hidden])")
    second.wait_for_selector("#signed-in:not([hidden])")
    assert first.locator("#signed-in").inner_text() == "Admitted visitor #1"
    assert second.locator("#signed-in").inner_text() == "Admitted visitor #2"


def test_a_fair_opening_draws_the_pre_queue_and_every_visitor_can_check_it(demo_factory: Any, new_page: Any) -> None:
    """`waitingroom demo --fair-opening`: visitors who join before the opening wait without a
    position, the operator opens the sale, each gets the drawn place, reaches the checkout, and the
    visitors' check page agrees with the place they were given."""
    demo = demo_factory(extra=("--fair-opening", "3600"))
    visitors = [new_page() for _ in range(3)]
    tickets = []
    for page in visitors:
        page.goto(demo.site + "/")
        page.get_by_role("button", name="Get tickets").click()
        page.wait_for_url(demo.issuer + "/authorize?*")
        page.wait_for_selector("#wr-countdown")
        assert page.locator("#wr-position").count() == 0
        tickets.append(page.locator(".wr-note code").inner_text())

    opened = demo.admin("POST", "/events/demo-sale/open")["opening"]
    assert opened["draw_state"] == "open" and opened["pre_queue_size"] == 3
    document = requests.get(f"{demo.issuer}/events/demo-sale/draw", timeout=10).json()
    assert sorted(document["tickets"]) == sorted(tickets)
    drawn = draw.verify(document["commitment"], document["secret"], document["tickets"], document["size"])
    assert drawn.ok
    for page, ticket in zip(visitors, tickets, strict=True):  # each page notices the opening by itself
        page.wait_for_url(demo.site + "/checkout.html", timeout=60_000)
        assert page.locator("#signed-in").inner_text() == f"Admitted visitor #{drawn.positions[ticket]}"
        assert page.errors == []
    check = new_page()
    check.goto(f"{demo.issuer}/events/demo-sale/draw/verify?ticket={tickets[1]}")
    check.wait_for_selector("#wr-draw-ok:not([hidden])")
    assert check.locator("#wr-ticket-position").inner_text() in {"1", "2", "3"}
