"""The OpenAPI document: valid, and every status it documents really happens and matches its schema.

Every request in ``tests/api`` goes through a client that checks the response against the
document; this module also drives each documented (method, path, status) once and fails if one
cannot be produced, so the document never promises what the app does not do.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from core.clock import ManualClock
from oidc_adaptor.plumbing.failed_auth import LIMITS

from .conftest import EVENT, SEEN, advance, build_app, enter
from .openapi_check import document, documented_statuses

RID = "A" * 32
H = {"Authorization": "Bearer test-admin-key"}


def test_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"


def test_every_route_of_the_app_is_documented(app: Flask) -> None:
    documented = {(m.upper(), p) for p, item in document()["paths"].items() for m in item}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.split(".")[0] not in ("api", "admin", "ops"):
            continue
        path = rule.rule.replace("<event_id>", "{event_id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
            assert (method, path) in documented, f"{method} {path} is not in openapi.json"


def _drive(client: FlaskClient, down: FlaskClient, app: Flask, clock: ManualClock) -> None:
    """Produce every documented status at least once."""
    waiting, admitted, expired, ended = enter(client), enter(client), enter(client), enter(client)
    client.post("/assign_queue_num", json={})
    client.post("/assign_queue_num", json={"event_id": "nope"})
    client.post("/assign_queue_num", data=b"x" * 20_000, content_type="application/json")
    for path in ("/serving_num", "/waiting_num"):
        etag = client.get(path, query_string={"event_id": EVENT}).headers["ETag"]
        client.get(path, query_string={"event_id": EVENT}, headers={"If-None-Match": etag})  # 304
        client.get(path)
        client.get(path, query_string={"event_id": "nope"})
    etag = client.get(f"/events/{EVENT}/status").headers["ETag"]
    client.get(f"/events/{EVENT}/status", headers={"If-None-Match": etag})  # 304
    client.get("/events/nope/status")
    client.get("/events/a:b/status")
    for path in ("/queue_num", "/queue_pos_expiry"):
        client.get(path, query_string={"event_id": EVENT, "request_id": waiting["request_id"]})
        client.get(path, query_string={"event_id": EVENT})
        client.get(path, query_string={"event_id": EVENT, "request_id": RID})
    client.get("/public_key")
    client.get("/public_key", query_string={"format": "pem"})
    client.get("/public_key", query_string={"format": "x"})
    client.get("/public_key", query_string={"event_id": "nope"})
    client.get("/.well-known/jwks.json")
    client.post("/generate_token", json={"event_id": EVENT, "request_id": waiting["request_id"]})  # 403 (pos 1 waits)
    client.post("/admin/generate_token", json={"event_id": EVENT, "request_id": waiting["request_id"]}, headers=H)
    advance(client, 3)  # positions 1..3 admitted
    client.post("/generate_token", json={"event_id": EVENT, "request_id": admitted["request_id"]})
    client.post("/admin/generate_token", json={"event_id": EVENT, "request_id": waiting["request_id"]}, headers=H)
    client.post("/admin/update_session",
                json={"event_id": EVENT, "request_id": waiting["request_id"], "status": "completed"}, headers=H)
    client.post("/admin/update_session",
                json={"event_id": EVENT, "request_id": waiting["request_id"], "status": "completed"}, headers=H)
    client.post("/admin/update_session", json={"event_id": EVENT, "request_id": RID, "status": 1}, headers=H)
    client.post("/admin/update_session", json={"event_id": EVENT}, headers=H)
    client.post("/generate_token", json={"event_id": EVENT, "request_id": waiting["request_id"]})  # 410 ended
    client.post("/admin/generate_token", json={"event_id": EVENT, "request_id": waiting["request_id"]}, headers=H)
    clock.advance(63)  # past 60 s of expiry plus the 2 s clock-skew allowance
    client.get("/queue_pos_expiry", query_string={"event_id": EVENT, "request_id": expired["request_id"]})  # 410
    app.extensions["waitingroom"].room.sweep(EVENT)
    client.post("/generate_token", json={"event_id": EVENT, "request_id": RID})
    client.post("/generate_token", json={"event_id": EVENT})
    client.post("/generate_token", data=b"x" * 20_000)
    client.post("/admin/generate_token", json={"event_id": EVENT, "request_id": ended["request_id"]}, headers=H)
    client.post("/admin/generate_token", json={"event_id": EVENT, "request_id": RID}, headers=H)
    client.post("/admin/generate_token", json={}, headers=H)
    client.post("/admin/generate_token", data=b"x" * 20_000, headers=H)
    # every admin endpoint: 200, 400, 401, 404, 413
    for path in ("/admin/expired_tokens", "/admin/num_active_tokens"):
        client.get(path, query_string={"event_id": EVENT}, headers=H)
        client.get(path, headers=H)
        client.get(path, query_string={"event_id": "nope"}, headers=H)
        client.get(path, query_string={"event_id": EVENT})
    client.post("/admin/increment_serving_counter", json={"event_id": EVENT, "increment_by": 1}, headers=H)
    client.post("/admin/increment_serving_counter", json={"event_id": EVENT}, headers=H)
    client.post("/admin/increment_serving_counter", json={"event_id": "nope", "increment_by": 1}, headers=H)
    client.post("/admin/increment_serving_counter", data=b"x" * 20_000, headers=H)
    client.post("/admin/reset_initial_state", json={"event_id": "nope"}, headers=H)
    client.post("/admin/reset_initial_state", json={}, headers=H)
    client.post("/admin/reset_initial_state", data=b"x" * 20_000, headers=H)
    client.post("/admin/update_session", data=b"x" * 20_000, headers=H)
    client.get("/admin/events", headers=H)
    bodies = {"admission": {"increment_by": 3}, "message": {"text": "Hall B"}}
    for action in ("counts", "pause", "resume", "admission", "message"):
        method = "GET" if action == "counts" else "POST"
        body = bodies.get(action)
        client.open(f"/admin/events/{EVENT}/{action}", method=method, json=body, headers=H)
        client.open(f"/admin/events/nope/{action}", method=method, json=body, headers=H)
        client.open(f"/admin/events/a:b/{action}", method=method, json=body, headers=H)
        client.open(f"/admin/events/{EVENT}/{action}", method=method, json=body)
    client.post(f"/admin/events/{EVENT}/admission", data=b"x" * 20_000, headers=H)
    client.post(f"/admin/events/{EVENT}/admission", json={"every": -1}, headers=H)
    client.post(f"/admin/events/{EVENT}/message", json={"text": "x" * 501}, headers=H)
    client.post("/admin/reset_initial_state", json={"event_id": EVENT}, headers=H)
    for path in ("/admin/increment_serving_counter", "/admin/update_session", "/admin/reset_initial_state",
                 "/admin/generate_token", "/admin/events"):
        client.open(path, method="GET" if path == "/admin/events" else "POST", json={})
    client.get("/healthz")
    client.get("/readyz")
    client.get("/metrics")
    client.get("/openapi.json")
    # store down: 503 with Retry-After wherever the store is touched
    down.post("/assign_queue_num", json={"event_id": EVENT})
    for path in ("/serving_num", "/waiting_num"):
        down.get(path, query_string={"event_id": EVENT})
    down.get(f"/events/{EVENT}/status")
    for path in ("/queue_num", "/queue_pos_expiry"):
        down.get(path, query_string={"event_id": EVENT, "request_id": RID})
    down.post("/generate_token", json={"event_id": EVENT, "request_id": RID})
    down.get("/readyz")
    down.post("/admin/increment_serving_counter", json={"event_id": EVENT, "increment_by": 1}, headers=H)
    down.post("/admin/update_session", json={"event_id": EVENT, "request_id": RID, "status": 1}, headers=H)
    down.post("/admin/reset_initial_state", json={"event_id": EVENT}, headers=H)
    down.post("/admin/generate_token", json={"event_id": EVENT, "request_id": RID}, headers=H)
    for path in ("/admin/expired_tokens", "/admin/num_active_tokens"):
        down.get(path, query_string={"event_id": EVENT}, headers=H)
    down.get(f"/admin/events/{EVENT}/counts", headers=H)
    down.get("/admin/events", headers=H)
    down.post(f"/admin/events/{EVENT}/pause", headers=H)
    down.post(f"/admin/events/{EVENT}/resume", headers=H)
    down.post(f"/admin/events/{EVENT}/admission", json={"increment_by": 3}, headers=H)
    down.post(f"/admin/events/{EVENT}/message", json={"text": "Hall B"}, headers=H)


def test_every_documented_status_is_produced(tmp_path: Path, clock: ManualClock) -> None:
    from .conftest import UnavailableStore

    app = build_app(tmp_path / "up", clock)
    down = build_app(tmp_path / "down", clock, store=UnavailableStore())
    SEEN.clear()
    _drive(app.test_client(), down.test_client(), app, clock)
    from .test_queued_entry import ListQueue

    queued = build_app(tmp_path / "queued", clock)
    queued.extensions["waitingroom_enqueuer"] = ListQueue()
    queued_client = queued.test_client()
    request_id = queued_client.post("/assign_queue_num", json={"event_id": EVENT}).json["request_id"]
    queued_client.get("/queue_num", query_string={"event_id": EVENT, "request_id": request_id})  # 202: not in line yet
    from .test_fair_opening import drive_every_status

    drive_every_status(tmp_path / "opening", clock)  # the pre-queue, the draw document, moving the opening
    limited = build_app(tmp_path / "limited", clock, server={"enter_rate_limit": "1/minute"})
    for _ in range(2):  # the second entry from one address is over the limit: 429
        limited.test_client().post("/assign_queue_num", json={"event_id": EVENT})
    throttled = build_app(tmp_path / "throttled", clock).test_client()
    for n in range(LIMITS["admin-address"]):  # wrong admin keys from one address: then 429 on every admin call
        throttled.get("/admin/events", headers={"Authorization": f"Bearer guess-{n}"})
    for path, item in document()["paths"].items():
        for method in item:
            if path.startswith("/admin/"):
                throttled.open(path.replace("{event_id}", EVENT), method=method.upper(), headers=H)
    missing = sorted(documented_statuses() - SEEN)
    assert not missing, f"documented but never produced: {missing}"
