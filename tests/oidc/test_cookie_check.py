"""A place in line only for a browser that has shown it returns the place cookie."""

from __future__ import annotations

from flask import Flask

from core.clock import ManualClock

from .conftest import Flow
from .helpers import EVENT


def test_a_browser_that_keeps_no_cookies_never_takes_a_place(app: Flask, flow: Flow, clock: ManualClock) -> None:
    browser = app.test_client(use_cookies=False)
    url = "/authorize?" + "&".join(f"{k}={v}" for k, v in flow.params().items())
    for _ in range(10):  # what the page's script and reloads did: a new place each time, before
        first = browser.get(url)
        assert first.status_code == 303 and "wr_place=" in first.headers["Set-Cookie"]
        assert first.headers["Location"].endswith(f"&wr_cookie_check={int(clock.now())}")
        page = browser.get(first.headers["Location"])
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "Cookies are needed to wait in line" in text and "No place was taken" in text
        assert 'href="/authorize?' in text and "wr_cookie_check" not in text  # try again: the plain URL
    assert flow.room.counters(EVENT).last_position == 0


def test_a_browser_that_returns_the_cookie_takes_one_place(app: Flask, flow: Flow) -> None:
    page = flow.authorize()  # the cookie round trip, then the waiting page
    assert page.status_code == 200 and "Your place in line" in page.get_data(as_text=True)
    assert 'href="/authorize?' in page.get_data(as_text=True)
    assert "wr_cookie_check" not in page.get_data(as_text=True)
    again = flow.browser.get(page.request.full_path)  # a reload, marker and all: the same place
    assert again.status_code == 200
    assert flow.room.counters(EVENT).last_position == 1


def test_a_copied_address_with_an_old_marker_asks_the_new_browser_for_the_cookie(
    app: Flask, flow: Flow, clock: ManualClock
) -> None:
    page = flow.authorize()
    copied = page.request.full_path  # the address bar of the first browser, marker included
    assert "wr_cookie_check=" in copied
    clock.advance(60)
    other = app.test_client()
    first = other.get(copied)
    assert first.status_code == 303 and first.headers["Location"].endswith(f"wr_cookie_check={int(clock.now())}")
    assert other.get(first.headers["Location"]).status_code == 200  # its own place
    assert flow.room.counters(EVENT).last_position == 2
