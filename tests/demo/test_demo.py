"""The demo's parts without a browser: the static site server, the checkout API behind the gate,
ending a session by its jti, the control panel's page and history, and the demo process itself."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.test import Client

from authorizer.config import AuthorizerConfig
from core.clock import ManualClock
from core.room import new_request_id
from oidc_adaptor.app import create_app
from oidc_adaptor.entrypoints import demo as demo_module
from oidc_adaptor.entrypoints.demo_checkout import create_checkout_app
from tests.browser.demo_process import start_demo

from ..conftest import make_settings

EVENT = "spring-sale"
ADMIN = {"Authorization": "Bearer test-admin-key"}


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock) -> Flask:
    return create_app(make_settings(tmp_path), clock=clock, start_scheduler=False)


def admitted_tokens(app: Flask) -> Any:
    room = app.extensions["waitingroom"].room
    ticket = room.enter(EVENT)
    room.advance(EVENT, 1)
    return room.issue_tokens(EVENT, ticket.request_id)


# -- static site ------------------------------------------------------------------------------------


def test_static_site_serves_the_pages_and_the_demo_config(tmp_path: Path) -> None:
    plan = demo_module.DemoPlan(port=9100, admin_key="k")
    site = demo_module.StaticSite(demo_module.sample_site_dir(), demo_module.site_config(plan),
                                  connect=[plan.issuer, plan.api_origin])
    client = Client(site)
    index = client.get("/")
    assert index.status_code == 200
    assert b"Get tickets" in index.data
    assert "script-src 'self'" in index.headers["Content-Security-Policy"]
    assert "http://127.0.0.1:9102" in index.headers["Content-Security-Policy"]
    config = json.loads(client.get("/config.json").data)
    assert config.pop("sale_opens_at").endswith("+00:00")  # the demo's sale opens when it starts
    assert config == {
        "issuer": "http://127.0.0.1:9100", "client_id": "sample-site", "event_id": "demo-sale",
        "api_url": "http://127.0.0.1:9102", "event_name": "Spring ticket sale",
    }
    assert client.get("/oidc.js").headers["Content-Type"].startswith(("text/javascript", "application/javascript"))
    for path in ("/../pyproject.toml", "/%2e%2e/pyproject.toml", "/.hidden", "/nope.html"):
        assert client.get(path).status_code == 404, path
    assert client.post("/").status_code == 405


def test_the_sample_site_has_no_inline_script() -> None:
    for page in demo_module.sample_site_dir().glob("*.html"):
        text = page.read_text()
        assert "<script>" not in text and "onclick" not in text.lower(), page.name


def test_demo_config_registers_a_public_client_for_the_site_callback(tmp_path: Path) -> None:
    from core.settings import Settings

    plan = demo_module.DemoPlan(port=9000, site_port=9500, api_port=9600, admin_key="k")
    settings = Settings.from_mapping(demo_module.demo_config(plan, tmp_path))
    client = settings.clients["sample-site"]
    assert client.is_public
    assert client.redirect_uris == ("http://127.0.0.1:9500/callback.html",)
    assert settings.server.cors_origins == ("http://127.0.0.1:9500",)
    assert settings.events["demo-sale"].admission.strategy.value == "periodic"
    assert settings.events["demo-sale"].queueing.value == "fifo" and settings.events["demo-sale"].opens_at is None


def test_demo_with_a_fair_opening_draws_its_pre_queue_at_the_time_given() -> None:
    from core.settings import Settings

    args = demo_module.argparse.ArgumentParser()
    demo_module.add_arguments(args)
    plan = demo_module.plan_from_args(args.parse_args(["--fair-opening", "120"]))
    assert plan.opens_at is not None and abs(plan.opens_at - (time.time() + 120)) < 5
    event = Settings.from_mapping(demo_module.demo_config(plan, "/tmp/unused")).events["demo-sale"]
    assert event.queueing.value == "random_before_opening" and event.opens_at == plan.opens_at
    opens = demo_module.site_config(plan)["sale_opens_at"]  # the shop's landing page counts down to it
    assert abs(datetime.fromisoformat(opens).timestamp() - plan.opens_at) < 1
    # The banner says when the draw happens and where to check it, as the README's walk-through does.
    text = demo_module.banner(SimpleNamespace(plan=plan))  # type: ignore[arg-type]
    assert time.strftime("%H:%M:%S UTC", time.gmtime(plan.opens_at)) in text
    assert f"{plan.issuer}/events/demo-sale/draw/verify" in text
    assert f"waitingroom verify-draw {plan.issuer} demo-sale" in text
    fifo = demo_module.plan_from_args(args.parse_args([]))
    assert "draw" not in demo_module.banner(SimpleNamespace(plan=fifo))  # type: ignore[arg-type]


# -- ending a session by jti -------------------------------------------------------------------------


def test_sessions_end_completes_a_session_once_by_its_jti(app: Flask) -> None:
    tokens = admitted_tokens(app)
    jti = tokens.ticket.session.jti
    client = app.test_client()
    body = {"event_id": EVENT, "jti": jti, "status": "completed"}
    assert client.post("/admin/sessions/end", json=body).status_code == 401
    first = client.post("/admin/sessions/end", json=body, headers=ADMIN)
    assert first.status_code == 200, first.json
    assert first.json == {"event_id": EVENT, "status": "completed"}
    assert client.post("/admin/sessions/end", json=body, headers=ADMIN).status_code == 409
    unknown = client.post("/admin/sessions/end", json={**body, "jti": "nope"}, headers=ADMIN)
    assert unknown.status_code == 404
    bad = client.post("/admin/sessions/end", json={**body, "status": "issued"}, headers=ADMIN)
    assert bad.status_code == 400
    assert app.extensions["waitingroom"].room.counters(EVENT).completed == 1


# -- checkout API -----------------------------------------------------------------------------------


def checkout_app(app: Flask, ended: list[Any]) -> Flask:
    services = app.extensions["waitingroom"]
    config = AuthorizerConfig(
        issuer=services.settings.server.issuer, audience=(EVENT,), jwks_url="http://unused.invalid/jwks",
        static_jwks=json.dumps(services.signer.jwks()),
    )
    return create_checkout_app(config, allowed_origins=["http://shop.test"], end_session=ended.append)


def test_checkout_needs_a_valid_token_and_ends_the_session(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), start_scheduler=False)  # real clock: the gate checks exp
    ended: list[Any] = []
    api = checkout_app(app, ended).test_client()
    assert api.post("/checkout", json={"quantity": 1}).status_code == 401
    tokens = admitted_tokens(app)
    auth = {"Authorization": f"Bearer {tokens.access_token}"}
    id_token = api.post("/checkout", json={"quantity": 1}, headers={"Authorization": f"Bearer {tokens.id_token}"})
    assert id_token.status_code == 401  # only access tokens open the API
    assert api.post("/checkout", json={"quantity": 99}, headers=auth).status_code == 400
    order = api.post("/checkout", json={"quantity": 2}, headers=auth)
    assert order.status_code == 201
    assert order.json is not None
    assert order.json["quantity"] == 2 and order.json["session"] == "completed"
    assert [claims["jti"] for claims in ended] == [tokens.ticket.session.jti]


def test_checkout_cors_allows_only_the_site_origin(app: Flask) -> None:
    api = checkout_app(app, []).test_client()
    preflight = api.options("/checkout", headers={
        "Origin": "http://shop.test", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://shop.test"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    other = api.options("/checkout", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in other.headers


# -- control panel -----------------------------------------------------------------------------------


def test_panel_page_is_public_html_with_a_strict_csp_and_no_inline_script(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/admin/panel")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<script src=\"/admin/panel/static/panel.js\"" in html
    assert "<script>" not in html and "style=" not in html
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["Cache-Control"] == "no-store"
    assert client.get("/admin/panel/static/panel.js").status_code == 200


def test_panel_history_needs_the_admin_key_and_follows_the_serving_counter(app: Flask, clock: ManualClock) -> None:
    client = app.test_client()
    assert client.get("/admin/panel/history", query_string={"event_id": EVENT}).status_code == 401
    assert client.get("/admin/panel/history", query_string={"event_id": "nope"}, headers=ADMIN).status_code == 404
    room = app.extensions["waitingroom"].room
    for _ in range(3):
        room.enter(EVENT)
    room.advance(EVENT, 1)
    clock.advance(10)
    room.advance(EVENT, 2)
    history = client.get("/admin/panel/history", query_string={"event_id": EVENT}, headers=ADMIN).json
    assert history is not None
    assert [serving for _, serving in history["points"]] == [1, 3, 3]
    assert history["points"][-1][0] == pytest.approx(history["now"], abs=0.01)


def test_panel_history_keeps_the_waiting_count_from_before_the_panel_was_opened(
    app: Flask, clock: ManualClock
) -> None:
    """The scheduler samples the line every few seconds, once across workers, into the store."""
    from oidc_adaptor.background.scheduler import AdmissionScheduler

    room = app.extensions["waitingroom"].room
    scheduler = AdmissionScheduler(room)
    waited = []
    for n in (2, 3, 1):
        for _ in range(n):
            room.store.enter(EVENT, new_request_id(), None, clock.now())
        scheduler.run_once()
        scheduler.run_once()  # the same window: no second sample
        waited.append(room.counters(EVENT).waiting)
        clock.advance(10)
    clock.advance(3600 - 25)  # the first sample leaves the hour
    history = app.test_client().get("/admin/panel/history", query_string={"event_id": EVENT}, headers=ADMIN).json
    assert [waiting for _, waiting in history["waiting"]] == [*waited[1:], waited[-1]]  # and the count now
    assert history["waiting"][-1][0] == pytest.approx(history["now"], abs=0.01)


# -- the demo process ---------------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_demo_serves_everything_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    demo = start_demo(tmp_path, admit=2, every=1.0)
    try:
        assert "Sample shop" in demo.log_path.read_text()
        assert requests.get(demo.site + "/", timeout=5).status_code == 200
        assert requests.get(demo.site + "/config.json", timeout=5).json()["issuer"] == demo.issuer
        discovery = requests.get(demo.issuer + "/.well-known/openid-configuration", timeout=5).json()
        assert discovery["issuer"] == demo.issuer
        assert requests.get(demo.panel, timeout=5).status_code == 200
        assert requests.post(demo.api + "/checkout", timeout=5).status_code == 401
        entered = requests.post(demo.issuer + "/assign_queue_num", json={"event_id": "demo-sale"}, timeout=5)
        assert entered.status_code in (200, 201, 202), entered.text
        children = _children(demo.process.pid)
    finally:
        code = demo.stop(signal.SIGINT)
    assert code == 0, demo.log_path.read_text()
    assert "Stopped." in demo.log_path.read_text()
    for port in (demo.port, demo.site_port, demo.api_port):
        assert not _listening(port)
    for pid in children:
        assert not Path(f"/proc/{pid}").exists(), f"child process {pid} outlived the demo"
    assert not any(_children(demo.process.pid))


@pytest.mark.slow
def test_demo_without_state_dir_removes_its_temporary_state(tmp_path: Path) -> None:
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("waitingroom-demo-*"))
    demo = start_demo(tmp_path, keep_state=False)
    created = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("waitingroom-demo-*")) - before
    assert len(created) == 1
    assert demo.stop(signal.SIGTERM) == 0
    assert not any(path.exists() for path in created)


def test_session_status_follows_the_session_of_a_jti(app: Flask) -> None:
    tokens = admitted_tokens(app)
    jti = tokens.ticket.session.jti
    client = app.test_client()
    live = client.get("/session_status", query_string={"event_id": EVENT, "jti": jti})
    assert live.status_code == 200
    assert live.json == {"event_id": EVENT, "status": "issued", "active": True}
    client.post("/admin/sessions/end", json={"event_id": EVENT, "jti": jti}, headers=ADMIN)
    ended = client.get("/session_status", query_string={"event_id": EVENT, "jti": jti})
    assert ended.json == {"event_id": EVENT, "status": "completed", "active": False}
    assert client.get("/session_status", query_string={"event_id": EVENT, "jti": "x" * 22}).status_code == 404
    assert client.get("/session_status", query_string={"event_id": "nope", "jti": jti}).status_code == 404


def test_checkout_app_from_env_ends_sessions_through_the_admin_api(tmp_path: Path) -> None:
    import threading

    from werkzeug.serving import make_server

    from oidc_adaptor.entrypoints.demo_checkout import app_from_env
    from tests.support import free_port

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    room_app = create_app(make_settings(tmp_path, server={"issuer": issuer}), start_scheduler=False)
    server = make_server("127.0.0.1", port, room_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = app_from_env({
            "WAITINGROOM_ISSUER": issuer, "WAITINGROOM_EVENT_ID": EVENT,
            "WAITINGROOM_JWKS": json.dumps(room_app.extensions["waitingroom"].signer.jwks()),
            "WAITINGROOM_CHECKOUT_ORIGINS": "https://shop.example", "WAITINGROOM_ADMIN_KEY": "test-admin-key",
        }).test_client()
        tokens = admitted_tokens(room_app)
        order = api.post("/checkout", json={"quantity": 1}, headers={"Authorization": f"Bearer {tokens.access_token}",
                                                                     "Origin": "https://shop.example"})
        assert order.status_code == 201
        assert order.headers["Access-Control-Allow-Origin"] == "https://shop.example"
        assert order.json is not None and order.json["session"] == "completed"
        assert room_app.extensions["waitingroom"].room.counters(EVENT).completed == 1
    finally:
        server.shutdown()


def _room_server(tmp_path: Path) -> Any:
    import threading

    from werkzeug.serving import make_server

    from tests.support import free_port

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    room_app = create_app(make_settings(tmp_path, server={"issuer": issuer}), start_scheduler=False)
    server = make_server("127.0.0.1", port, room_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return room_app, server, issuer


def test_one_admission_buys_one_order_however_many_requests_race(tmp_path: Path) -> None:
    """Eight requests with one token at the same moment, each ending the session through the
    real admin API: exactly one places an order, the others get 409, and the room counts one
    completed session."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from authorizer.session_end import admin_session_ender

    room_app, server, issuer = _room_server(tmp_path)
    try:
        services = room_app.extensions["waitingroom"]
        config = AuthorizerConfig(issuer=issuer, audience=(EVENT,), jwks_url="http://unused.invalid/jwks",
                                  static_jwks=json.dumps(services.signer.jwks()))
        api = create_checkout_app(config, end_session=admin_session_ender(issuer, "test-admin-key", timeout=30))
        auth = {"Authorization": f"Bearer {admitted_tokens(room_app).access_token}"}
        start = Barrier(8)

        def order(_n: int) -> int:
            client = api.test_client()
            start.wait(30)
            return client.post("/checkout", json={"quantity": 1}, headers=auth).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = sorted(pool.map(order, range(8)))
        assert statuses == [201] + [409] * 7
        assert services.room.counters(EVENT).completed == 1
    finally:
        server.shutdown()


def test_an_unconfirmed_admission_places_no_order(tmp_path: Path) -> None:
    """When the waiting room cannot be asked, the order is not placed (503 with Retry-After): acting
    without the confirmation could act twice."""
    from authorizer.session_end import admin_session_ender
    from tests.support import free_port

    app = create_app(make_settings(tmp_path), start_scheduler=False)  # real clock: the gate checks exp
    services = app.extensions["waitingroom"]
    config = AuthorizerConfig(issuer=services.settings.server.issuer, audience=(EVENT,),
                              jwks_url="http://unused.invalid/jwks", static_jwks=json.dumps(services.signer.jwks()))
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    api = create_checkout_app(config, end_session=admin_session_ender(nobody, "test-admin-key", timeout=5))
    tokens = admitted_tokens(app)
    response = api.test_client().post("/checkout", json={"quantity": 1},
                                      headers={"Authorization": f"Bearer {tokens.access_token}"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.json is not None and response.json["error"] == "temporarily_unavailable"
    assert services.room.counters(EVENT).completed == 0


def test_demo_on_a_busy_port_names_the_option_to_choose_another(tmp_path: Path) -> None:
    import subprocess
    import sys

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "oidc_adaptor.cli", "demo", "--port", str(port), "--state-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )
    assert result.returncode != 0
    assert f"port {port} is in use. Choose other ports with --port N" in result.stderr
    assert "different port" not in result.stderr and "Traceback" not in result.stderr
