"""An operator's message reaches a visitor who is already waiting, through the polls the page makes
anyway, and the live region announces it once."""

from __future__ import annotations

import time
from typing import Any

from .conftest import Demo
from .test_journey import join_line, pause
from .test_panel import sign_in, wait_for_stat

EVENT = "demo-sale"


def status_polls(page: Any) -> list[str]:
    """URLs of the status documents the page fetches (the list grows as it polls)."""
    seen: list[str] = []
    page.on("requestfinished", lambda request: seen.append(request.url) if "/status" in request.url else None)
    return seen


def test_a_message_appears_while_the_visitor_waits_and_is_announced_once(demo: Demo, new_page: Any) -> None:
    pause(demo)
    page = new_page()
    polls = status_polls(page)
    join_line(page, demo)
    box = page.locator("#wr-message-box")
    assert box.is_hidden()
    # Count every change of the message's live region: each one is an announcement.
    page.evaluate("""() => {
        window.messageChanges = 0;
        new MutationObserver(() => { window.messageChanges += 1; })
            .observe(document.getElementById("wr-message"), { childList: true, characterData: true, subtree: true });
    }""")

    demo.admin("POST", f"/events/{EVENT}/message", json={"text": "Tickets for Friday are sold out."})
    page.wait_for_function("() => !document.getElementById('wr-message-box').hidden", timeout=30_000)
    message = page.locator("#wr-message")
    assert message.inner_text() == "Tickets for Friday are sold out."
    assert message.get_attribute("aria-live") == "polite"
    assert page.get_by_role("heading", name="Message from the organiser").is_visible()

    # More polls bring the same message: the region is left alone, so nothing is announced again.
    seen = len(polls)
    deadline = time.monotonic() + 40
    while len(polls) < seen + 2:
        assert time.monotonic() < deadline, "the page stopped polling its status document"
        page.wait_for_timeout(250)
    assert page.evaluate("() => window.messageChanges") == 1
    assert page.locator("#wr-position").inner_text() == "1"  # still waiting, same place

    demo.admin("POST", f"/events/{EVENT}/message", json={"text": ""})
    page.wait_for_function("() => document.getElementById('wr-message-box').hidden", timeout=30_000)
    assert page.errors == []


def test_the_control_panel_sets_and_clears_the_message(demo: Demo, new_page: Any) -> None:
    pause(demo)
    visitor = new_page()
    join_line(visitor, demo)
    panel = new_page()
    card = sign_in(panel, demo)
    card.get_by_label("Text").fill("Doors open at noon.")
    card.get_by_label("Show for (minutes)").fill("30")
    card.get_by_role("button", name="Set message").click()
    panel.wait_for_function(
        "() => document.querySelector('[data-field=\"message-current\"]').textContent.startsWith('Shown now')")
    stored = demo.counts()["message"]
    assert stored["text"] == "Doors open at noon."
    assert 29 * 60 <= stored["expires_at"] - time.time() <= 31 * 60
    visitor.wait_for_function("() => document.getElementById('wr-message').textContent === 'Doors open at noon.'",
                              timeout=30_000)

    card.get_by_label("Text").fill("")
    card.get_by_role("button", name="Set message").click()
    wait_for_stat(card, "message-current", "No message.")
    assert demo.counts()["message"] is None
    visitor.wait_for_function("() => document.getElementById('wr-message-box').hidden", timeout=30_000)
    assert panel.errors == [] and visitor.errors == []
