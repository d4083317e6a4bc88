"""The site gate: WSGI middleware and Flask decorator in front of a small site."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import flask
import pytest
from werkzeug.test import Client

from authorizer.gate import WaitingRoomGate, init_app, require_waiting_room_token

from . import forge
from .conftest import EVENT, RunningRoom


def plain_site(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    claims = environ.get("waitingroom.claims")
    body = f"hello {claims['sub'] if claims else 'stranger'}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


@pytest.fixture
def gated(waiting_room: RunningRoom) -> Client:
    config = waiting_room.config(token_cookie="wr_token", realm="shop")
    return Client(WaitingRoomGate(plain_site, config, exempt=("/healthz", "/static/")))


def test_a_valid_token_reaches_the_site_with_its_claims(waiting_room: RunningRoom, gated: Client) -> None:
    issued, _ = waiting_room.tokens()
    response = gated.get("/tickets", headers={"Authorization": f"Bearer {issued.access_token}"})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == f"hello {issued.ticket.ticket_id}"
    gated.set_cookie("wr_token", waiting_room.access_token())
    assert gated.get("/tickets").status_code == 200


def test_no_token_is_a_401_bearer_challenge(gated: Client) -> None:
    response = gated.get("/tickets")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="shop"'
    assert response.json == {"error": "unauthorized", "message": "a waiting room token is required"}
    assert response.headers["Cache-Control"] == "no-store"


def test_an_invalid_token_is_a_401_invalid_token(waiting_room: RunningRoom, gated: Client) -> None:
    token = forge.tampered(waiting_room.access_token())
    response = gated.get("/tickets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="shop", error="invalid_token"')
    assert 'error_description="bad signature"' in challenge
    assert response.json == {"error": "invalid_token", "message": "bad signature"}
    id_token = waiting_room.tokens()[0].id_token
    response = gated.get("/tickets", headers={"Authorization": f"Bearer {id_token}"})
    assert response.json == {"error": "invalid_token", "message": "wrong token_use"}


def test_exempt_paths_need_no_token(gated: Client) -> None:
    assert gated.get("/healthz").status_code == 200
    assert gated.get("/static/app.css").status_code == 200
    assert gated.get("/healthzz").status_code == 401


def test_redirect_mode_sends_browsers_to_the_waiting_room(waiting_room: RunningRoom) -> None:
    config = waiting_room.config(redirect_url="https://shop.example/login?next={return_to}")
    client = Client(WaitingRoomGate(plain_site, config))
    response = client.get("/tickets?seat=12", headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("https://shop.example/login?next=")
    assert unquote(location.split("next=", 1)[1]) == "http://localhost/tickets?seat=12"
    # API clients (no HTML wanted) still get the 401 they can act on.
    assert client.get("/tickets", headers={"Accept": "application/json"}).status_code == 401
    assert client.post("/tickets", headers={"Accept": "text/html"}).status_code == 401


@pytest.fixture
def flask_site(waiting_room: RunningRoom) -> flask.Flask:
    site = flask.Flask("site")
    init_app(site, waiting_room.config())

    @site.get("/checkout")
    @require_waiting_room_token
    def checkout() -> Any:
        claims = flask.g.waitingroom_claims
        return {"sub": claims["sub"], "position": claims["queue_position"]}

    @site.get("/seats")
    @require_waiting_room_token(redirect_url=waiting_room.url + "/authorize", verifier=waiting_room.config())
    def seats() -> Any:
        return "seats"

    @site.get("/")
    def home() -> Any:
        return "open to all"

    return site


def test_the_flask_decorator_lets_valid_tokens_through(waiting_room: RunningRoom, flask_site: flask.Flask) -> None:
    issued, _ = waiting_room.tokens()
    client = flask_site.test_client()
    response = client.get("/checkout", headers={"Authorization": f"Bearer {issued.access_token}"})
    assert response.status_code == 200
    assert response.json == {"sub": issued.ticket.ticket_id, "position": issued.ticket.position}
    assert client.get("/").status_code == 200


def test_the_flask_decorator_refuses_missing_and_invalid_tokens(waiting_room: RunningRoom,
                                                                flask_site: flask.Flask) -> None:
    client = flask_site.test_client()
    response = client.get("/checkout")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="waitingroom"'
    waiting_room.clock.offset = -7200
    expired = waiting_room.access_token(validity=3600)
    waiting_room.clock.offset = 0
    response = client.get("/checkout", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.json == {"error": "invalid_token", "message": "token expired"}
    browser = client.get("/seats", headers={"Accept": "text/html"})
    assert browser.status_code == 303
    assert browser.headers["Location"] == waiting_room.url + "/authorize"


def test_the_flask_decorator_builds_its_verifier_from_the_environment(waiting_room: RunningRoom,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAITINGROOM_ISSUER", waiting_room.url)
    monkeypatch.setenv("WAITINGROOM_EVENT_ID", EVENT)
    site = flask.Flask("env-site")

    @site.get("/")
    @require_waiting_room_token
    def index() -> Any:
        return flask.g.waitingroom_claims["event_id"]

    client = site.test_client()
    token = waiting_room.access_token()
    assert client.get("/", headers={"Authorization": token}).get_data(as_text=True) == EVENT
    assert client.get("/").status_code == 401
