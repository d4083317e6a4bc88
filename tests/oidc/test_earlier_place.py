"""A visitor whose place expired or whose session ended is told so with the new place, never
silently re-queued."""

from __future__ import annotations

import time

import jwt

from core.clock import ManualClock

from .conftest import Flow
from .helpers import EVENT


def test_an_expired_place_is_explained_with_the_new_one(flow: Flow, clock: ManualClock) -> None:
    assert flow.authorize().status_code == 200  # place 1, waiting
    flow.room.enter(EVENT)  # someone else, so the line goes on
    flow.admit(1)
    admitted_at = clock.now()
    clock.advance(65)  # the claim window is 60 s (and the clock skew allowed); the visitor was away
    page = flow.authorize()  # before any sweep marked the place expired: told all the same
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    expired_at = time.strftime("%H:%M UTC", time.gmtime(admitted_at + 60))
    assert "Your earlier place in line (number 1) expired at" in text and expired_at in text
    assert "not used within 1 minute." in text and "This is a new place at the back of the line." in text
    assert 'id="wr-position">3<' in text
    again = flow.authorize().get_data(as_text=True)  # told once: a reload shows just the new place
    assert "wr-previous" not in again and 'id="wr-position">3<' in again


def test_an_ended_session_is_explained_with_the_new_place(flow: Flow, clock: ManualClock) -> None:
    flow.authorize()
    flow.admit(1)
    tokens = flow.redeem(flow.code()).json
    jti = jwt.decode(tokens["access_token"], options={"verify_signature": False})["jti"]
    flow.room.end_session_by_jti(EVENT, jti, "completed")
    clock.advance(5)
    text = flow.authorize().get_data(as_text=True)
    assert "Your earlier visit (place 1) ended at" in text and "This is a new place" in text
    assert 'id="wr-position">2<' in text
