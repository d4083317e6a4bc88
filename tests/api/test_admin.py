"""The admin REST API: authentication, the AWS-compatible endpoints and the per-event operator view."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.clock import ManualClock

from .conftest import ADMIN_KEY, EVENT, advance, build_app, enter

ADMIN_CALLS = [
    ("POST", "/admin/increment_serving_counter", {"event_id": EVENT, "increment_by": 1}),
    ("POST", "/admin/update_session", {"event_id": EVENT, "request_id": "A" * 32, "status": "completed"}),
    ("GET", "/admin/expired_tokens?event_id=spring-sale", None),
    ("GET", "/admin/num_active_tokens?event_id=spring-sale", None),
    ("POST", "/admin/reset_initial_state", {"event_id": EVENT}),
    ("POST", "/admin/generate_token", {"event_id": EVENT, "request_id": "A" * 32}),
    ("GET", "/admin/events", None),
    ("GET", "/admin/events/spring-sale/counts", None),
    ("POST", "/admin/events/spring-sale/pause", None),
    ("POST", "/admin/events/spring-sale/resume", None),
    ("POST", "/admin/events/spring-sale/admission", {"increment_by": 5}),
    ("POST", "/admin/events/spring-sale/message", {"text": "Hall B"}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-key", f"Basic {ADMIN_KEY}", "Bearer", f"Bearer {ADMIN_KEY}x", f"bearer {ADMIN_KEY[:-1]}"],
)
def test_admin_endpoints_reject_missing_and_wrong_keys(
    client: FlaskClient, method: str, path: str, body: object, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    r = client.open(path, method=method, json=body, headers=headers)
    assert r.status_code == 401, r.json
    assert r.json["error"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/serving_num", query_string={"event_id": EVENT}).json["serving_counter"] == 0


def test_admin_api_is_disabled_without_configured_keys(tmp_path: Path, clock: ManualClock) -> None:
    client = build_app(tmp_path, clock, server={"admin_keys": []}).test_client()
    r = client.get("/admin/events", headers={"Authorization": "Bearer "})
    assert r.status_code == 401 and "disabled" in r.json["message"]


def test_increment_serving_counter_is_bounded(client: FlaskClient, admin: dict[str, str]) -> None:
    for _ in range(3):
        enter(client)
    r = client.post("/admin/increment_serving_counter", json={"event_id": EVENT, "increment_by": 2}, headers=admin)
    assert r.json == {"event_id": EVENT, "serving_num": 2, "serving_counter": 2}
    assert advance(client, 100) == 3  # never past the line
    assert advance(client, -10) == 0  # never below zero


@pytest.mark.parametrize(
    "body",
    [{"event_id": EVENT}, {"event_id": EVENT, "increment_by": "5"}, {"event_id": EVENT, "increment_by": True},
     {"event_id": EVENT, "increment_by": 1.5}, {"event_id": EVENT, "increment_by": 10**7}, {"increment_by": 1}],
)
def test_increment_serving_counter_validates(client: FlaskClient, admin: dict[str, str], body: object) -> None:
    r = client.post("/admin/increment_serving_counter", json=body, headers=admin)
    assert r.status_code == 400


def test_update_session_once(client: FlaskClient, admin: dict[str, str]) -> None:
    place = enter(client)
    body = {"event_id": EVENT, "request_id": place["request_id"], "status": "completed"}
    r = client.post("/admin/update_session", json=body, headers=admin)
    assert r.status_code == 409  # no tokens issued yet
    advance(client, 1)
    r = client.post("/generate_token", json={"event_id": EVENT, "request_id": place["request_id"]})
    assert r.status_code == 200
    r = client.post("/admin/update_session", json=body, headers=admin)
    assert r.status_code == 200 and r.json["status"] == "completed"
    r = client.post("/admin/update_session", json={**body, "status": "abandoned"}, headers=admin)
    assert r.status_code == 409 and r.json["error"] == "invalid_transition"
    r = client.post("/generate_token", json={"event_id": EVENT, "request_id": place["request_id"]})
    assert r.status_code == 410 and r.json["error"] == "session_ended"
    counts = client.get(f"/admin/events/{EVENT}/counts", headers=admin).json
    assert counts["completed"] == 1 and counts["active"] == 0


def test_update_session_accepts_aws_numeric_statuses(client: FlaskClient, admin: dict[str, str]) -> None:
    place = enter(client)
    advance(client, 1)
    client.post("/generate_token", json={"event_id": EVENT, "request_id": place["request_id"]})
    r = client.post("/admin/update_session", json={"event_id": EVENT, "request_id": place["request_id"], "status": -1},
                    headers=admin)
    assert r.status_code == 200 and r.json["status"] == "abandoned"


@pytest.mark.parametrize("status", ["done", 0, 2, True, None, "expired"])
def test_update_session_rejects_other_statuses(client: FlaskClient, admin: dict[str, str], status: object) -> None:
    r = client.post("/admin/update_session", json={"event_id": EVENT, "request_id": "A" * 32, "status": status},
                    headers=admin)
    assert r.status_code == 400


def test_update_session_unknown_request(client: FlaskClient, admin: dict[str, str]) -> None:
    r = client.post("/admin/update_session", json={"event_id": EVENT, "request_id": "A" * 32, "status": "completed"},
                    headers=admin)
    assert r.status_code == 404


def test_expired_tokens_and_active_count(app, client: FlaskClient, admin: dict[str, str], clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    a, b, c = enter(client), enter(client), enter(client)
    advance(client, 2)
    client.post("/generate_token", json={"event_id": EVENT, "request_id": a["request_id"]})
    assert client.get("/admin/num_active_tokens?event_id=spring-sale", headers=admin).json == {
        "event_id": EVENT, "active_tokens": 2}
    clock.advance(61)
    app.extensions["waitingroom"].room.sweep(EVENT)  # b expires, c is admitted in its place
    r = client.get("/admin/expired_tokens", query_string={"event_id": EVENT}, headers=admin)
    assert r.status_code == 200 and r.json == [b["request_id"]]
    assert client.get("/admin/num_active_tokens?event_id=spring-sale", headers=admin).json["active_tokens"] == 2
    assert client.get("/admin/expired_tokens", headers=admin).status_code == 400
    assert client.get("/admin/expired_tokens?event_id=nope", headers=admin).status_code == 404
    assert c


def test_reset_initial_state(client: FlaskClient, admin: dict[str, str]) -> None:
    enter(client)
    advance(client, 1)
    erased = enter(client)["request_id"]
    assert client.get("/queue_num", query_string={"event_id": EVENT, "request_id": erased}).json["status"] == "waiting"
    r = client.post("/admin/reset_initial_state", json={"event_id": EVENT}, headers=admin)
    assert r.status_code == 200 and r.json["message"] == "Reset completed"
    for _ in range(3):  # the line fills again past the erased place: the place is still unknown
        enter(client)
    assert client.get("/queue_num", query_string={"event_id": EVENT, "request_id": erased}).status_code == 404
    assert enter(client)["queue_number"] == 4
    assert client.post("/admin/reset_initial_state", json={}, headers=admin).status_code == 400
    assert client.post("/admin/reset_initial_state", json={"event_id": "nope"}, headers=admin).status_code == 404


def test_admin_generate_token_with_validity(client: FlaskClient, admin: dict[str, str]) -> None:
    waiting = enter(client)
    r = client.post("/admin/generate_token", json={"event_id": EVENT, "request_id": waiting["request_id"]},
                    headers=admin)
    assert r.status_code == 403  # the admin API cannot admit anyone through the back door either
    advance(client, 1)
    body = {"event_id": EVENT, "request_id": waiting["request_id"], "validity_period": 120}
    r = client.post("/admin/generate_token", json=body, headers=admin)
    assert r.status_code == 200 and r.json["expires_in"] == 120
    for bad in (0, -5, "60", 10**9, True):
        r = client.post("/admin/generate_token",
                        json={"event_id": EVENT, "request_id": waiting["request_id"], "validity_period": bad},
                        headers=admin)
        assert r.status_code == 400, bad


def test_events_and_counts(client: FlaskClient, admin: dict[str, str]) -> None:
    r = client.get("/admin/events", headers=admin)
    assert r.json["events"][0]["event_id"] == EVENT and r.json["events"][0]["name"] == "Spring sale"
    for _ in range(4):
        enter(client)
    advance(client, 3)
    counts = client.get(f"/admin/events/{EVENT}/counts", headers=admin).json
    assert counts["serving_counter"] == 3 and counts["waiting"] == 1 and counts["last_position"] == 4
    assert counts["paused"] is False and counts["policy"]["strategy"] == "manual"
    assert isinstance(counts["admission_rate"], float)
    assert client.get("/admin/events/nope/counts", headers=admin).status_code == 404
    assert client.get("/admin/events/a:b/counts", headers=admin).status_code == 400


def test_pause_resume_and_rate_change(app, client: FlaskClient, admin: dict[str, str], clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    for _ in range(10):
        enter(client)
    r = client.post(f"/admin/events/{EVENT}/admission", json={"strategy": "periodic", "increment_by": 2, "every": 5},
                    headers=admin)
    assert r.status_code == 200 and r.json["policy"] == {
        "strategy": "periodic", "increment_by": 2, "every": 5.0, "max_active": 0, "start_at": None, "end_at": None}
    room = app.extensions["waitingroom"].room
    assert room.tick(EVENT) == 2
    assert client.post(f"/admin/events/{EVENT}/pause", headers=admin).json == {"event_id": EVENT, "paused": True}
    clock.advance(5)
    assert room.tick(EVENT) == 0
    assert client.get(f"/admin/events/{EVENT}/counts", headers=admin).json["paused"] is True
    assert client.post(f"/admin/events/{EVENT}/resume", headers=admin).json["paused"] is False
    clock.advance(5)
    assert room.tick(EVENT) == 2
    r = client.post(f"/admin/events/{EVENT}/admission", json={"strategy": None, "increment_by": None, "every": None},
                    headers=admin)
    assert r.json["policy"]["strategy"] == "manual"


@pytest.mark.parametrize(
    "body",
    [{}, {"strategy": "fastest"}, {"increment_by": -1}, {"every": 0}, {"every": "5"}, {"colour": "red"},
     {"strategy": "periodic", "increment_by": 0}, {"max_active": 1.5},
     {"strategy": "periodic", "increment_by": 5, "every": 1e-12}, {"strategy": "periodic", "increment_by": 5,
                                                                   "every": 1e9},
     {"strategy": "max_active", "max_active": 10**12}, {"every": 0.05}],
)
def test_rate_change_validates(client: FlaskClient, admin: dict[str, str], body: object) -> None:
    r = client.post(f"/admin/events/{EVENT}/admission", json=body, headers=admin)
    assert r.status_code == 400, r.json
    assert client.get(f"/admin/events/{EVENT}/counts", headers=admin).json["policy"]["strategy"] == "manual"


def test_admin_store_unavailable(down_client: FlaskClient, admin: dict[str, str]) -> None:
    for method, path, body in ADMIN_CALLS:
        r = down_client.open(path, method=method, json=body, headers=admin)
        assert r.status_code == 503 and r.headers["Retry-After"], path  # /admin/events reads overrides too


def test_admin_actions_are_logged_without_secrets(
    client: FlaskClient, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    place = enter(client)
    caplog.set_level(logging.INFO)
    advance(client, 1)
    client.post("/admin/generate_token", json={"event_id": EVENT, "request_id": place["request_id"]}, headers=admin)
    client.post("/admin/reset_initial_state", json={"event_id": EVENT}, headers=admin)
    actions = [r for r in caplog.records if r.name == "waitingroom.admin" and getattr(r, "action", None)]
    assert [r.action for r in actions] == [  # type: ignore[attr-defined]
        "increment_serving_counter", "generate_token", "reset_initial_state"]
    assert all(r.admin_key == "#0" for r in actions)  # type: ignore[attr-defined]
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert ADMIN_KEY not in text and place["request_id"] not in text


def test_the_scheduler_survives_any_stored_admission_value(app: Flask, client: FlaskClient,
                                                          admin: dict[str, str]) -> None:
    """Out-of-range values in the store (written before the bounds existed) are ignored: the
    configured policy stands and every scheduler pass works."""
    room = app.extensions["waitingroom"].room
    for key, value in (("strategy", "periodic"), ("increment_by", "5"), ("every", "1e-12")):
        room.store.set_control(EVENT, key, value)
    assert room.policy(EVENT).every >= 0.1
    room.tick(EVENT)  # no error from a tick number beyond what a store can hold
    r = client.post(f"/admin/events/{EVENT}/admission", json={"every": 1e-12}, headers=admin)
    assert r.status_code == 400 and "0.1" in r.json["message"]
