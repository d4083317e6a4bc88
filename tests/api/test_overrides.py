"""Runtime changes never hide from operators: the admin API shows the configured and the effective
admission side by side, the schedule can be changed or cleared at run time, and serve reports the
overrides it finds at start."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from core.clock import ManualClock
from oidc_adaptor.entrypoints.server import override_notes
from tests.conftest import make_settings

from .conftest import EVENT, build_app, enter

OPENS = 1_800_000_000.0 + 30 * 24 * 3600  # a month after the test clock's start
EVENTS = {EVENT: {"queue_position_expiry": 60, "admission": {
    "strategy": "periodic", "increment_by": 50, "every": 10, "start_at": OPENS}}}


def event_view(client: FlaskClient, admin: dict[str, str]) -> dict[str, object]:
    (view,) = client.get("/admin/events", headers=admin).json["events"]
    assert view["event_id"] == EVENT
    body: dict[str, object] = view
    return body


def test_events_show_the_configured_and_the_effective_admission(
    tmp_path: Path, clock: ManualClock, admin: dict[str, str]
) -> None:
    client = build_app(tmp_path, clock, events=EVENTS).test_client()
    view = event_view(client, admin)
    assert view["admission"] == view["effective_admission"]
    assert view["admission"]["start_at"] == OPENS and view["overrides"] == {} and view["paused"] is False  # type: ignore[index]
    r = client.post(f"/admin/events/{EVENT}/admission", json={"increment_by": 5}, headers=admin)
    assert r.status_code == 200
    client.post(f"/admin/events/{EVENT}/pause", headers=admin)
    view = event_view(client, admin)
    assert view["admission"]["increment_by"] == 50 and view["effective_admission"]["increment_by"] == 5  # type: ignore[index]
    assert view["overrides"] == {"increment_by": "5"} and view["paused"] is True
    counts = client.get(f"/admin/events/{EVENT}/counts", headers=admin).json
    assert counts["configured_policy"]["increment_by"] == 50 and counts["policy"]["increment_by"] == 5
    assert counts["overrides"] == {"increment_by": "5"}
    client.post(f"/admin/events/{EVENT}/admission", json={"increment_by": None}, headers=admin)
    view = event_view(client, admin)
    assert view["effective_admission"] == view["admission"] and view["overrides"] == {}


def test_the_schedule_can_be_changed_and_cleared_at_run_time(
    tmp_path: Path, clock: ManualClock, admin: dict[str, str]
) -> None:
    app = build_app(tmp_path, clock, events=EVENTS)
    client = app.test_client()
    room = app.extensions["waitingroom"].room
    for _ in range(3):
        enter(client)
    assert room.tick(EVENT) == 0  # the opening is a month away
    r = client.post(f"/admin/events/{EVENT}/admission", json={"start_at": ""}, headers=admin)
    assert r.status_code == 200 and r.json["policy"]["start_at"] is None
    assert room.tick(EVENT) == 3  # open now
    r = client.post(f"/admin/events/{EVENT}/admission", json={"start_at": "2027-03-01T09:00:00+01:00",
                                                              "end_at": 1803891600}, headers=admin)
    assert r.status_code == 200
    assert (r.json["policy"]["start_at"], r.json["policy"]["end_at"]) == (1803888000.0, 1803891600.0)
    assert event_view(client, admin)["overrides"] == {"start_at": "1803888000.0", "end_at": "1803891600.0"}
    r = client.post(f"/admin/events/{EVENT}/admission", json={"start_at": None, "end_at": None}, headers=admin)
    assert r.json["policy"]["start_at"] == OPENS and r.json["policy"]["end_at"] is None
    for bad in ({"start_at": "tomorrow"}, {"start_at": "2027-03-01T09:00:00"}, {"end_at": True}, {"end_at": -5}):
        r = client.post(f"/admin/events/{EVENT}/admission", json=bad, headers=admin)
        assert r.status_code == 400, bad


def test_serve_reports_overrides_it_finds_at_start(tmp_path: Path, clock: ManualClock,
                                                   admin: dict[str, str]) -> None:
    client = build_app(tmp_path, clock, events=EVENTS).test_client()
    assert override_notes(make_settings(tmp_path, events=EVENTS)) == []
    client.post(f"/admin/events/{EVENT}/admission", json={"increment_by": 5}, headers=admin)
    client.post(f"/admin/events/{EVENT}/pause", headers=admin)
    notes = override_notes(make_settings(tmp_path, events=EVENTS))
    assert notes == [f"event {EVENT}: runtime override(s) win over the file: increment_by='5' (file: 50); "
                     "return to the file's values from the control panel",
                     f"event {EVENT}: automatic admission is paused"]
