"""A real waiting room served over HTTP on a loopback port, minting the tokens the authorizer checks.

The JWKS the authorizer fetches comes from that server; requests for it are counted, so tests can
prove how often the cache fetches.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from authorizer.config import AuthorizerConfig
from core.room import IssuedTokens
from core.tokens import KeySet, SigningKey
from oidc_adaptor.app import create_app

from ..conftest import make_settings
from ..support import ADMIN_KEY, ServerProcess, free_port, serve_process, server_config
from .cloudfront_events import CALLBACK, CLIENT, SITE_HOST

EVENT = "spring-sale"
OTHER_EVENT = "summer-sale"
JWKS_PATH = "/.well-known/jwks.json"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request"


class ShiftedClock:
    """The real time plus an adjustable offset: tokens are minted 'in the past' or 'in the future'.

    The verifier compares with the real time (PyJWT reads ``time.time()``), so shifting the
    waiting room's clock is how a test obtains expired or not-yet-valid tokens honestly.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


class KeyHolder:
    """The waiting room's key set, swappable while it runs (what ``waitingroom keys rotate`` does)."""

    def __init__(self, keyset: KeySet) -> None:
        self.keyset = keyset

    def __call__(self) -> KeySet:
        return self.keyset


@dataclass
class Served:
    url: str
    requests: dict[str, int] = field(default_factory=dict)

    def count(self, path: str) -> int:
        return self.requests.get(path, 0)


def serve(wsgi: Callable[..., Any], stack: list[Any], port: int | None = None) -> Served:
    """Serve a WSGI app over real HTTP on a (free) loopback port, counting requests per path."""
    port = port or free_port()
    served = Served(f"http://127.0.0.1:{port}")
    lock = threading.Lock()

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        with lock:
            path = environ.get("PATH_INFO", "")
            served.requests[path] = served.requests.get(path, 0) + 1
        return wsgi(environ, start_response)

    server = make_server("127.0.0.1", port, counting, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.append(server)
    return served


@dataclass
class RunningRoom:
    """The served waiting room and helpers to admit visitors and take their tokens."""

    url: str
    app: Any
    clock: ShiftedClock
    keys: KeyHolder
    served: Served
    sessions: dict[str, tuple[str, str]] = field(default_factory=dict)  # jti -> (event id, request id)

    @property
    def room(self) -> Any:
        return self.app.extensions["waitingroom"].room

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS_PATH

    @property
    def jwks_fetches(self) -> int:
        return self.served.count(JWKS_PATH)

    def admit(self, event_id: str = EVENT) -> str:
        """A new visitor enters the line and the counter moves to them; returns their request id."""
        ticket = self.room.enter(event_id)
        counters = self.room.counters(event_id)
        self.room.advance(event_id, ticket.position - counters.serving)
        return str(ticket.request_id)

    def tokens(self, event_id: str = EVENT, validity: int | None = None) -> tuple[IssuedTokens, str]:
        request_id = self.admit(event_id)
        issued = self.room.issue_tokens(event_id, request_id, validity)
        assert issued.ticket.session is not None
        self.sessions[issued.ticket.session.jti] = (event_id, request_id)
        return issued, request_id

    def access_token(self, event_id: str = EVENT, validity: int | None = None) -> str:
        return self.tokens(event_id, validity)[0].access_token

    def config(self, **changes: Any) -> AuthorizerConfig:
        values: dict[str, Any] = {"issuer": self.url, "audience": (EVENT,), "jwks_url": self.jwks_url}
        values.update(changes)
        return AuthorizerConfig(**values)


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    stack: list[Any] = []
    yield stack
    for server in reversed(stack):
        server.shutdown()
        server.server_close()


@pytest.fixture
def waiting_room(tmp_path: Path, servers: list[Any]) -> RunningRoom:
    """A waiting room app served over HTTP, with two events and a swappable key set."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(
        tmp_path,
        server={"issuer": url},
        events={EVENT: {"name": "Spring sale", "queue_position_expiry": 0},
                OTHER_EVENT: {"name": "Summer sale", "queue_position_expiry": 0}},
    )
    clock = ShiftedClock()
    keys = KeyHolder(KeySet([SigningKey.generate(clock.now())]))
    app = create_app(settings, clock=clock, keyset=keys, start_scheduler=False)
    routed = any(rule.rule == JWKS_PATH for rule in app.url_map.iter_rules())

    def site(environ: dict[str, Any], start_response: Any) -> Any:
        if not routed and environ.get("PATH_INFO") == JWKS_PATH:
            # Until the REST API routes the JWKS itself, publish exactly what its signer publishes.
            body = json.dumps(app.extensions["waitingroom"].signer.jwks()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    served = serve(site, servers, port)
    return RunningRoom(url=url, app=app, clock=clock, keys=keys, served=served)


@pytest.fixture
def session_status(waiting_room: RunningRoom, servers: list[Any]) -> Served:
    """A tiny stand-in for the waiting room's session status endpoint, answering from the real room.

    ``GET /session_status?event_id=...&jti=...`` -> ``{"status": ..., "active": ...}``, 404 if unknown.
    """
    from urllib.parse import parse_qs

    def endpoint(environ: dict[str, Any], start_response: Any) -> Any:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        found = waiting_room.sessions.get(query.get("jti", ""))
        if environ.get("PATH_INFO") != "/session_status" or found is None or found[0] != query.get("event_id"):
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "not_found", "message": "unknown session"}']
        status = waiting_room.room.ticket(*found).status.value
        body = json.dumps({"status": status, "active": status == "issued"}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return serve(endpoint, servers)


@pytest.fixture(scope="module")
def edge_room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real ``waitingroom serve`` with two manual events and the CloudFront gate's public client
    (no secret: PKCE), whose redirect URI is ``https://shop.example/_waitingroom/callback``."""
    config = server_config(
        tmp_path_factory.mktemp("edge-room"),
        events={EVENT: {"name": "Spring sale", "queue_position_expiry": 0},
                OTHER_EVENT: {"name": "Summer sale", "queue_position_expiry": 0}},
        clients={CLIENT: {"event": EVENT, "redirect_uris": [f"https://{SITE_HOST}{CALLBACK}"]}},
    )
    with serve_process(config, workers=1) as server:
        yield server


def admit_over_http(server: ServerProcess, event_id: str = EVENT) -> None:
    """Move the event's serving counter by one, as an operator does: one admin API call."""
    import requests

    response = requests.post(f"{server.base_url}/admin/increment_serving_counter", timeout=10,
                             json={"event_id": event_id, "increment_by": 1},
                             headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert response.status_code == 200, response.text


def tokens_over_http(server: ServerProcess, event_id: str = EVENT) -> dict[str, Any]:
    """A new visitor enters, is admitted and takes tokens through the public REST API."""
    import requests

    entered = requests.post(f"{server.base_url}/assign_queue_num", json={"event_id": event_id}, timeout=10).json()
    admit_over_http(server, event_id)
    issued = requests.post(f"{server.base_url}/generate_token", timeout=10,
                           json={"event_id": event_id, "request_id": entered["request_id"]})
    assert issued.status_code == 200, issued.text
    return dict(issued.json())
