"""A site that keeps the waiting room always on costs its visitors nothing while there is room:
/authorize admits at the door and redirects straight back with a code."""

from __future__ import annotations

import time
from pathlib import Path

from core.clock import ManualClock
from oidc_adaptor.app import create_app
from oidc_adaptor.oidc.places import PLACE_TTL
from tests.conftest import make_settings

from .conftest import CLIENTS, Flow, redirect_params
from .helpers import EVENT


def test_authorize_redirects_at_once_while_a_slot_is_free(tmp_path: Path) -> None:
    events = {EVENT: {"queue_position_expiry": 60, "admission": {"strategy": "max_active", "max_active": 2}}}
    app = create_app(make_settings(tmp_path, clients=CLIENTS, events=events), clock=ManualClock(time.time()),
                     start_scheduler=False)
    first, second, third = Flow(app), Flow(app), Flow(app)
    assert first.redeem(first.code()).status_code == 200
    assert "code" in redirect_params(second.authorize())
    waiting = third.authorize()
    assert waiting.status_code == 200 and "in line" in waiting.get_data(as_text=True)
    assert app.extensions["waitingroom"].room.counters(EVENT).serving == 2


def test_a_place_taken_at_the_door_renews_the_cookie_with_it(tmp_path: Path) -> None:
    """A place is remembered for PLACE_TTL from when it is taken; a sign-in that takes one at the
    door (straight back with a code, no waiting page) sets the place cookie for as long, or the
    browser would drop the cookie, and lose its place, before the place itself ends. A sign-in
    that finds its place sets nothing."""
    clock = ManualClock(time.time())
    events = {EVENT: {"queue_position_expiry": 60, "admission": {"strategy": "max_active", "max_active": 2}}}
    app = create_app(make_settings(tmp_path, clients=CLIENTS, events=events), clock=clock, start_scheduler=False)
    flow = Flow(app)
    assert "code" in redirect_params(flow.authorize())  # the cookie came with the cookie check just before
    clock.advance(PLACE_TTL * 0.9)
    again = flow.authorize(prompt="login")  # re-authentication: a new place, taken at the door
    assert "code" in redirect_params(again)
    assert f"Max-Age={PLACE_TTL}" in again.headers.get("Set-Cookie", ""), again.headers
    same = flow.authorize()
    assert "code" in redirect_params(same) and "Set-Cookie" not in same.headers
