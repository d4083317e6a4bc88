"""The waiting page says what the line does: paused, not open yet, or moving at a measured rate."""

from __future__ import annotations

import time
from html.parser import HTMLParser
from pathlib import Path

from flask import Flask

from core.clock import ManualClock
from oidc_adaptor.app import create_app
from tests.conftest import make_settings

from .conftest import CLIENTS, Flow
from .helpers import EVENT


class _Visible(HTMLParser):
    """The visible text inside the element with a given id (nothing if it or a parent is hidden)."""

    VOID = {"meta", "link", "br", "img", "input"}

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id, self.depth, self.hidden_at, self.parts = element_id, 0, None, []  # type: ignore[var-annotated]
        self.inside_at: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        self.depth += 1
        names = dict(attrs)
        if self.inside_at is None and names.get("id") == self.element_id:
            self.inside_at = self.depth
        if self.inside_at is not None and self.hidden_at is None and "hidden" in names:
            self.hidden_at = self.depth

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if self.hidden_at == self.depth:
            self.hidden_at = None
        if self.inside_at == self.depth:
            self.inside_at = None
        self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.inside_at is not None and self.hidden_at is None:
            self.parts.append(data)


def visible(html: str, element_id: str) -> str:
    parser = _Visible(element_id)
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def visible_estimate(html: str) -> str:
    """The estimate as a visitor reads it (hidden parts left out)."""
    return " ".join(visible(html, f"wr-estimate-{name}") for name in ("range", "soon", "unknown")).strip()


def test_a_paused_line_says_so_and_gives_no_estimate(app: Flask, flow: Flow, clock: ManualClock) -> None:
    room = flow.room
    for _ in range(5):
        room.enter(EVENT)
    for _ in range(4):  # visitors were let in steadily, one a minute: a rate is known
        room.advance(EVENT, 1)
        clock.advance(60)
    room.set_paused(EVENT, True)
    html = flow.authorize().get_data(as_text=True)
    assert "Admission is paused for now" in visible(html, "wr-paused")
    assert visible_estimate(html) == "none while admission is paused"
    room.set_paused(EVENT, False)
    html = flow.authorize().get_data(as_text=True)
    assert visible(html, "wr-paused") == ""
    assert visible_estimate(html).startswith("between")
    assert "from the rate visitors were let in over the last 5 minutes" in visible_estimate(html)


def test_before_a_scheduled_opening_the_page_shows_the_opening_time(tmp_path: Path) -> None:
    now = time.time()
    opens = now + 3 * 24 * 3600
    events = {EVENT: {"admission": {"strategy": "periodic", "increment_by": 5, "every": 10, "start_at": opens}}}
    app = create_app(make_settings(tmp_path, clients=CLIENTS, events=events), clock=ManualClock(now),
                     start_scheduler=False)
    html = Flow(app).authorize().get_data(as_text=True)
    assert visible(html, "wr-opens").startswith("The line opens at")
    assert time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(opens)) in visible(html, "wr-opens")
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
