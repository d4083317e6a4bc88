"""Workers whose clocks differ by up to 2 seconds (``[server] clock_skew``, default 2) share one
store. Nobody is admitted before the admission window opens or before a tick is due, nobody's
place expires before the expiry period has passed in true time, and admission itself depends
only on the serving counter. A control run without the allowance shows the early expiry it
prevents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from core.clock import ManualClock
from core.model import Status
from oidc_adaptor.app import create_app
from oidc_adaptor.background.scheduler import AdmissionScheduler
from tests.conftest import make_settings

EVENT = "spring-sale"
EXPIRY = 60
START = 1_800_000_000.0  # a multiple of every tick length used here


@dataclass
class SkewedClock:
    """A worker's clock: the true time plus a fixed offset."""

    true: ManualClock
    offset: float

    def now(self) -> float:
        return self.true.now() + self.offset


def _workers(tmp_path: Path, true: ManualClock, *, clock_skew: float, **event: object) -> list[Flask]:
    settings = make_settings(tmp_path, server={"clock_skew": clock_skew},
                             events={EVENT: {"queue_position_expiry": EXPIRY, **event}})
    return [create_app(settings, clock=SkewedClock(true, offset), start_scheduler=False) for offset in (+1.0, -1.0)]


def _schedulers(apps: list[Flask]) -> list[AdmissionScheduler]:
    return [AdmissionScheduler(app.extensions["waitingroom"].room) for app in apps]


def _expired_at(tmp_path: Path, clock_skew: float) -> float:
    """True seconds after admission at which a place admitted by the slow worker expired,
    with the fast worker sweeping every quarter second."""
    true = ManualClock(START)
    fast, slow = _workers(tmp_path, true, clock_skew=clock_skew)
    slow_room, fast_room = slow.extensions["waitingroom"].room, fast.extensions["waitingroom"].room
    place = slow_room.enter(EVENT)
    slow_room.advance(EVENT, 1)  # admitted at true START, recorded as START - 1
    fast_scheduler = AdmissionScheduler(fast_room)
    while true.now() < START + EXPIRY + 10:
        true.advance(0.25)
        fast_scheduler.run_once()
        if fast_room.ticket(EVENT, place.request_id).status is Status.EXPIRED:
            return true.now() - START
    raise AssertionError("the place never expired")


def test_no_place_expires_early_under_skew(tmp_path: Path) -> None:
    expired_after = _expired_at(tmp_path, clock_skew=2.0)
    assert EXPIRY <= expired_after <= EXPIRY + 2 + 2 + 1  # never early; late by at most skew + allowance + a sweep


def test_control_without_the_allowance_a_fast_worker_expires_early(tmp_path: Path) -> None:
    assert _expired_at(tmp_path, clock_skew=0.0) < EXPIRY


def test_nobody_is_admitted_before_the_window_opens_or_a_tick_is_due(tmp_path: Path) -> None:
    opens = START + 20
    true = ManualClock(START)
    apps = _workers(tmp_path, true, clock_skew=2.0,
                    admission={"strategy": "periodic", "increment_by": 10, "every": 5, "start_at": opens})
    room = apps[0].extensions["waitingroom"].room
    for _ in range(200):
        room.enter(EVENT)
    schedulers = _schedulers(apps)
    while true.now() < opens + 30:
        true.advance(0.25)
        for scheduler in schedulers:
            scheduler.run_once()
        serving = room.counters(EVENT).serving
        if true.now() < opens:
            assert serving == 0, f"admitted {serving} at {true.now() - opens:+.2f}s before the window opened"
        else:
            due = int((true.now() - opens) // 5) + 1  # ticks due by now in true time
            assert serving <= 10 * due, f"{serving} admitted at +{true.now() - opens:.2f}s, {10 * due} due"
    assert room.counters(EVENT).serving >= 10 * 5  # admission did run


@pytest.mark.parametrize("offset", [0, 1])
def test_admission_is_by_counter_only_whatever_the_clock(tmp_path: Path, offset: int) -> None:
    true = ManualClock(START)
    apps = _workers(tmp_path, true, clock_skew=2.0)
    rooms = [app.extensions["waitingroom"].room for app in apps]
    first, second = rooms[offset].enter(EVENT), rooms[1 - offset].enter(EVENT)
    rooms[0].advance(EVENT, 1)
    for app in apps:
        client = app.test_client()
        r = client.post("/generate_token", json={"event_id": EVENT, "request_id": second.request_id})
        assert r.status_code == 403  # position 2 > serving 1, on either worker
        r = client.post("/generate_token", json={"event_id": EVENT, "request_id": first.request_id})
        assert r.status_code == 200
