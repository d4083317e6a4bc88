"""The waiting page says what the line does: paused, not open yet, or moving at a measured rate."""

from __future__ import annotations

import re
import time
from pathlib import Path

from flask import Flask

from core.clock import ManualClock
from oidc_adaptor.app import create_app
from tests.conftest import make_settings

from .conftest import CLIENTS, Flow
from .helpers import EVENT


def visible_estimate(html: str) -> str:
    """The text of the estimate spans that are not hidden."""
    spans = re.findall(r'<span id="wr-estimate-(range|soon|unknown)"( hidden)?>(.*?)</span>\s*(?=<span id|</dd>)',
                       html, re.S)
    return " ".join(" ".join(re.sub(r"<[^>]+>", " ", text).split()) for _n, hidden, text in spans if not hidden)


def test_a_paused_line_says_so_and_gives_no_estimate(app: Flask, flow: Flow, clock: ManualClock) -> None:
    room = flow.room
    for _ in range(5):
        room.enter(EVENT)
    for _ in range(4):  # visitors were let in steadily, one a minute: a rate is known
        room.advance(EVENT, 1)
        clock.advance(60)
    room.set_paused(EVENT, True)
    html = flow.authorize().get_data(as_text=True)
    assert "Admission is paused for now" in html
    assert visible_estimate(html) == "none while admission is paused"
    room.set_paused(EVENT, False)
    html = flow.authorize().get_data(as_text=True)
    assert "Admission is paused" not in html
    assert visible_estimate(html).startswith("between")
    assert "from the rate visitors were let in over the last 5 minutes" in visible_estimate(html)


def test_before_a_scheduled_opening_the_page_shows_the_opening_time(tmp_path: Path) -> None:
    now = time.time()
    opens = now + 3 * 24 * 3600
    events = {EVENT: {"admission": {"strategy": "periodic", "increment_by": 5, "every": 10, "start_at": opens}}}
    app = create_app(make_settings(tmp_path, clients=CLIENTS, events=events), clock=ManualClock(now),
                     start_scheduler=False)
    html = Flow(app).authorize().get_data(as_text=True)
    assert "The line opens at" in html and time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(opens)) in html
    assert visible_estimate(html) == "none before the line opens"


def test_the_visitor_at_the_front_is_told_they_are_next(flow: Flow) -> None:
    html = flow.authorize().get_data(as_text=True)  # a manual event, nobody ahead
    assert visible_estimate(html) == "you are next in line"
    second = Flow(flow.app).authorize().get_data(as_text=True)
    assert "too few visitors were let in" in visible_estimate(second)


def test_without_javascript_the_page_checks_again_well_within_the_claim_window(tmp_path: Path) -> None:
    events = {EVENT: {"queue_position_expiry": 30}}
    settings = make_settings(tmp_path, clients=CLIENTS, events=events, server={"clock_skew": 0})
    app = create_app(settings, clock=ManualClock(time.time()), start_scheduler=False)
    html = Flow(app).authorize().get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="10">' in html  # was 120: admitted and expired in between
    settings = make_settings(tmp_path / "never", clients=CLIENTS, events={EVENT: {"queue_position_expiry": 0}})
    app = create_app(settings, clock=ManualClock(time.time()), start_scheduler=False)
    assert '<meta http-equiv="refresh" content="120">' in Flow(app).authorize().get_data(as_text=True)


def test_the_pages_have_a_favicon(flow: Flow) -> None:
    html = flow.authorize().get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    icon = flow.browser.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
