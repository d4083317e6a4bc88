"""The operator's control panel in the browser, and accessibility of the pages visitors and operators use."""

from __future__ import annotations

from typing import Any

from .conftest import Demo, serious_violations
from .test_journey import join_line, pause


def sign_in(page: Any, demo: Demo) -> Any:
    page.goto(demo.panel)
    page.get_by_label("Admin API key").fill(demo.admin_key)
    page.get_by_role("button", name="Sign in").click()
    card = page.locator('section.event[data-event-id="demo-sale"]')
    card.wait_for()
    return card


def stat(card: Any, name: str) -> str:
    return str(card.locator(f'[data-field="{name}"]').inner_text())


def wait_for_stat(card: Any, name: str, value: str, timeout: float = 15_000) -> None:
    card.page.wait_for_function(
        "([sel, v]) => document.querySelector(sel).textContent === v",
        arg=[f'section.event[data-event-id="demo-sale"] [data-field="{name}"]', value],
        timeout=timeout,
    )


def test_panel_shows_counts_changing_and_lets_visitors_in(demo: Demo, new_page: Any) -> None:
    panel = new_page()
    card = sign_in(panel, demo)
    card.get_by_role("button", name="Pause").click()
    wait_for_stat(card, "state", "paused")
    assert demo.counts()["paused"] is True

    visitors = [new_page() for _ in range(3)]
    for visitor in visitors:
        join_line(visitor, demo)
    wait_for_stat(card, "last_position", "3")
    wait_for_stat(card, "waiting", "3")
    assert stat(card, "serving_counter") == "0"

    card.get_by_label("How many").fill("2")
    card.get_by_role("button", name="Let them in").click()
    wait_for_stat(card, "serving_counter", "2")
    wait_for_stat(card, "waiting", "1")
    for visitor in visitors[:2]:
        visitor.wait_for_url(demo.site + "/checkout.html", timeout=40_000)
    assert visitors[2].url.startswith(demo.issuer + "/authorize")
    wait_for_stat(card, "active", "2")

    # The chart draws both series; the admitted line has reached 2.
    assert card.locator("svg path.line.admitted").get_attribute("d")
    assert card.locator("svg path.line.waiting").get_attribute("d")
    assert "2 admitted" in (card.locator("svg").get_attribute("aria-label") or "")

    card.get_by_role("button", name="Resume").click()
    wait_for_stat(card, "state", "admitting")
    assert panel.errors == []


def test_panel_changes_the_rate_and_resets_with_a_confirmation(demo: Demo, new_page: Any) -> None:
    pause(demo)
    visitor = new_page()
    join_line(visitor, demo)
    panel = new_page()
    card = sign_in(panel, demo)
    wait_for_stat(card, "last_position", "1")

    card.get_by_label("Visitors per step").fill("7")
    card.get_by_label("Every (seconds)").fill("4")
    card.get_by_role("button", name="Change rate").click()
    card.locator('[data-field="policy"]', has_text="7 visitor(s) every 4 s").wait_for()
    assert demo.counts()["policy"]["increment_by"] == 7
    card.locator('[data-field="confirmation"]', has_text="7 visitor(s) every 4 s").wait_for()  # visible, in the card
    assert card.locator('[data-field="confirmation"]').inner_text().startswith("Done at ")
    card.locator('[data-field="override-hint"]', has_text="increment_by 7 (file: ").wait_for()
    card.get_by_role("button", name="Return to configured values").click()
    card.locator('[data-field="override-hint"]', has_text="The configuration file's values apply.").wait_for()
    assert demo.counts()["overrides"] == {}
    assert demo.counts()["policy"] == demo.counts()["configured_policy"]

    card.get_by_role("button", name="Reset…").click()
    dialog = panel.get_by_role("dialog")
    assert dialog.is_visible()
    dialog.get_by_role("button", name="Cancel").click()
    assert demo.counts()["last_position"] == 1  # cancelled: nothing forgotten

    card.get_by_label("Opens again at").fill("2099-06-01T10:30")  # the reset takes the new opening time along
    card.get_by_role("button", name="Reset…").click()
    dialog.get_by_role("button", name="Reset event").click()
    wait_for_stat(card, "last_position", "0")
    counts = demo.counts()
    assert counts["last_position"] == 0 and counts["opening"]["draw_state"] == "pre_queue"
    assert counts["opening"]["opens_at"] == panel.evaluate("new Date('2099-06-01T10:30').getTime() / 1000")


def test_the_panel_ends_a_session_by_the_token_id_a_site_has(demo: Demo, new_page: Any) -> None:
    import jwt
    import requests

    pause(demo)
    place = requests.post(demo.issuer + "/assign_queue_num", json={"event_id": "demo-sale"}, timeout=5).json()
    demo.admin("POST", "/increment_serving_counter", json={"event_id": "demo-sale", "increment_by": 1})
    tokens = requests.post(demo.issuer + "/generate_token",
                           json={"event_id": "demo-sale", "request_id": place["request_id"]}, timeout=5).json()
    jti = jwt.decode(tokens["access_token"], options={"verify_signature": False})["jti"]
    panel = new_page()
    card = sign_in(panel, demo)
    card.get_by_label("Token id").fill(jti)
    card.get_by_role("button", name="End session").click()
    card.locator('[data-field="confirmation"]', has_text="Session marked completed.").wait_for()
    assert demo.counts()["completed"] == 1


def test_a_wrong_admin_key_is_refused(demo: Demo, new_page: Any) -> None:
    page = new_page()
    page.goto(demo.panel)
    page.get_by_label("Admin API key").fill("not-the-key")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").wait_for()
    assert "refused" in page.get_by_role("alert").inner_text()
    assert page.locator("section.event").count() == 0


def test_waiting_page_panel_and_shop_have_no_serious_accessibility_violations(
    demo: Demo, new_page: Any, axe_source: str
) -> None:
    pause(demo)
    visitor = new_page()
    join_line(visitor, demo)
    assert serious_violations(visitor, axe_source) == []

    panel = new_page()
    sign_in(panel, demo)
    wait_for_stat(panel.locator('section.event[data-event-id="demo-sale"]'), "last_position", "1")
    assert serious_violations(panel, axe_source) == []

    shop = new_page()
    shop.goto(demo.site + "/")
    assert serious_violations(shop, axe_source) == []


def test_panel_moves_the_opening_and_opens_now(demo: Demo, new_page: Any) -> None:
    """An opening time set from the panel holds admission (the card says so, with the pre-queue's
    size); "Open now" lets the line move again. The demo's event keeps arrival order (fifo)."""
    panel = new_page()
    card = sign_in(panel, demo)
    card.get_by_label("Opening time").fill("2099-06-01T10:30")  # the browser's time zone
    card.get_by_role("button", name="Move opening").click()
    panel.wait_for_function(
        "sel => document.querySelector(sel).textContent.startsWith('pre-queue until')",
        arg='section.event[data-event-id="demo-sale"] [data-field="state"]', timeout=15_000)
    assert "arrival order" in stat(card, "opening") and "Pre-queue: 0" in stat(card, "opening")
    listed = demo.admin("GET", "/events")["events"][0]
    assert listed["opening"]["draw_state"] == "pre_queue"
    assert listed["opening"]["opens_at"] == panel.evaluate("new Date('2099-06-01T10:30').getTime() / 1000")

    visitor = new_page()
    join_line(visitor, demo)  # before the opening nobody is admitted, not even at the door
    wait_for_stat(card, "last_position", "1")
    panel.wait_for_function("sel => document.querySelector(sel).textContent.includes('Pre-queue: 1')",
                            arg='section.event[data-event-id="demo-sale"] [data-field="opening"]')
    assert stat(card, "serving_counter") == "0"

    card.get_by_role("button", name="Open now").click()
    panel.wait_for_function("sel => document.querySelector(sel).textContent.startsWith('Opened')",
                            arg='section.event[data-event-id="demo-sale"] [data-field="opening"]', timeout=15_000)
    assert demo.admin("GET", "/events/demo-sale/counts")["opening"]["draw_state"] == "open"
    visitor.wait_for_url(demo.site + "/checkout.html", timeout=40_000)  # the line moves again
    assert card.get_by_role("button", name="Open now").is_disabled()
