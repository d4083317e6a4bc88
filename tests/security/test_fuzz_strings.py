"""Every string input of every public, admin and OpenID Connect endpoint, drawn from hostile
alphabets: invalid UTF-8, lone surrogates (as JSON escapes), control characters, deep nesting.
Whatever arrives, the answer is never a 5xx and nothing logs a traceback.

The OpenAPI fuzzing (``test_fuzz_openapi.py``) covers the documented REST API with schema-shaped
input; this covers the raw bytes and code points around it, and the OIDC endpoints' form and
query parameters, which that document does not describe.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.clock import ManualClock

from .conftest import ADMIN_KEY, CLIENT_SECRET, EVENT, SHOP_CB, bearer, build

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("WAITINGROOM_FUZZ_EXAMPLES", "50"))

HOSTILE_TEXT = st.one_of(
    st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp"]), max_size=8),  # control and format characters
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=4),  # lone surrogates
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\r\nX-Injected: 1", "\ud800", "\udfff", "\ufeff", "%00", "%",
                     "../../etc/passwd", "wr:{spring-sale}:*", EVENT, "x" * 5000]),
)
"""Strings as a JSON body or a Python caller could carry them."""

HOSTILE_BYTES = st.one_of(
    st.binary(max_size=24),  # mostly invalid UTF-8
    st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x00"]),
    HOSTILE_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")),
)
"""Raw bytes as a query string or a form body carries them (percent-encoded on the wire)."""


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


JSON_BODY = st.one_of(
    st.dictionaries(st.sampled_from(["event_id", "request_id", "increment_by", "status", "jti", "idempotency_key",
                                     "every", "strategy", "max_active", "validity_period", "event", "client_id",
                                     "redirect_uris", "secret", "name"]),
                    st.one_of(HOSTILE_TEXT, st.lists(HOSTILE_TEXT, max_size=3), st.integers(), st.none()),
                    max_size=4).map(lambda body: json.dumps(body).encode()),
    st.sampled_from([_nested(100_000).encode(), ('{"a":' * 50_000).encode(), b'{"event_id": "\\ud800"}',
                     b'{"event_id": "spring-sale", "request_id": "\\udfff\\u0000"}', b"\xff\xfe{", b"{\"\x00\":1}"]),
    HOSTILE_BYTES,
)

GET_ROUTES = ["/serving_num", "/waiting_num", "/queue_num", "/queue_pos_expiry", "/public_key", "/session_status",
              "/authorize", "/authorize/status", "/userinfo", "/.well-known/openid-configuration",
              "/admin/expired_tokens", "/admin/num_active_tokens", "/admin/events", "/admin/clients",
              "/admin/panel/history", "/readyz", "/healthz", "/jwks.json"]
QUERY_NAMES = ["event_id", "request_id", "jti", "format", "response_type", "client_id", "redirect_uri", "scope",
               "state", "nonce", "code_challenge", "code_challenge_method", "prompt", "max_age", "login_hint",
               "ui_locales", "request", "access_token"]
POST_JSON_ROUTES = ["/assign_queue_num", "/generate_token", "/admin/increment_serving_counter",
                    "/admin/update_session", "/admin/reset_initial_state", "/admin/generate_token",
                    f"/admin/events/{EVENT}/admission", "/admin/sessions/end", "/admin/clients"]
FORM_ROUTES = ["/token", "/authorize", "/userinfo"]
FORM_NAMES = ["grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier", "refresh_token",
              "scope", "state", "response_type", "code_challenge", "code_challenge_method", "nonce",
              "access_token"]
PATH_ROUTES = ["/admin/events/{}/counts", "/admin/events/{}/pause", "/admin/clients/{}", "/events/{}/status"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    built = build(Path(tmp_path_factory.mktemp("strings")), ManualClock(start=time.time()))
    room = built.extensions["waitingroom"].room
    for _ in range(3):
        room.enter(EVENT)
    room.advance(EVENT, 1)
    return built


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.found.append(record.getMessage())


@pytest.fixture
def tracebacks() -> Any:
    handler = _Tracebacks()
    logging.getLogger().addHandler(handler)
    yield handler.found
    logging.getLogger().removeHandler(handler)


def _check(response: Any, what: str, tracebacks: list[str]) -> None:
    assert response.status_code < 500, (what, response.status_code, response.get_data()[:300])
    assert not tracebacks, (what, tracebacks)
    if response.mimetype == "application/json":
        body = response.get_data()
        assert b"Traceback" not in body


def _header(value: bytes) -> str:
    """A header value as HTTP can carry it: any byte but CR and LF (they end the header line)."""
    return value.replace(b"\r", b"").replace(b"\n", b"").decode("latin-1")


def _examples() -> Any:
    return settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("route", GET_ROUTES)
def test_query_parameters(app: Flask, route: str, tracebacks: list[str]) -> None:
    client = app.test_client()

    @_examples()
    @given(values=st.dictionaries(st.sampled_from(QUERY_NAMES), HOSTILE_BYTES, max_size=4),
           raw_name=HOSTILE_BYTES)
    def run(values: dict[str, bytes], raw_name: bytes) -> None:
        query = "&".join(f"{name}={quote_from_bytes(value)}" for name, value in values.items())
        query += f"&{quote_from_bytes(raw_name)}=1"
        for headers in ({}, bearer(ADMIN_KEY)):
            _check(client.get(f"{route}?{query}", headers=headers), f"GET {route}?{query}", tracebacks)

    run()


@pytest.mark.parametrize("route", POST_JSON_ROUTES)
def test_json_bodies(app: Flask, route: str, tracebacks: list[str]) -> None:
    client = app.test_client()

    @_examples()
    @given(body=JSON_BODY, key=HOSTILE_BYTES)
    def run(body: bytes, key: bytes) -> None:
        headers = {**bearer(ADMIN_KEY), "Content-Type": "application/json",
                   "Idempotency-Key": _header(key)}
        _check(client.post(route, data=body, headers=headers), f"POST {route} {body[:80]!r}", tracebacks)

    run()


@pytest.mark.parametrize("route", FORM_ROUTES)
def test_oidc_form_parameters(app: Flask, route: str, tracebacks: list[str]) -> None:
    client = app.test_client()

    @_examples()
    @given(values=st.dictionaries(st.sampled_from(FORM_NAMES), HOSTILE_BYTES, max_size=5),
           known_client=st.booleans(), authorization=st.one_of(st.none(), HOSTILE_BYTES))
    def run(values: dict[str, bytes], known_client: bool, authorization: bytes | None) -> None:
        if known_client:
            values = {**values, "client_id": b"shop", "client_secret": CLIENT_SECRET.encode(),
                      "redirect_uri": SHOP_CB.encode()}
        body = "&".join(f"{name}={quote_from_bytes(value)}" for name, value in values.items())
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if authorization is not None:
            headers["Authorization"] = _header(authorization)
        _check(client.post(route, data=body, headers=headers), f"POST {route} {body[:120]}", tracebacks)

    run()


@pytest.mark.parametrize("route", PATH_ROUTES)
def test_path_segments(app: Flask, route: str, tracebacks: list[str]) -> None:
    client = app.test_client()

    @_examples()
    @given(segment=HOSTILE_BYTES.filter(bool))
    def run(segment: bytes) -> None:
        path = route.format(quote_from_bytes(segment, safe=""))
        for method in ("GET", "POST", "DELETE"):
            _check(client.open(path, method=method, headers=bearer(ADMIN_KEY)), f"{method} {path}", tracebacks)

    run()
