"""Secrets never appear in logs, error bodies or metrics.

A representative run (the REST API, the admin API, the whole OIDC flow with a confidential and a
public client, a code replay, wrong secrets, wrong admin keys) is logged at DEBUG by every
logger, once as plain text and once as JSON; then every secret and every issued token, code and
request id is searched for in the logs, in every error body and in ``/metrics``."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask

from core.clock import ManualClock
from oidc_adaptor.oidc.places import COOKIE_NAME
from oidc_adaptor.plumbing.logging_setup import JsonFormatter, PlainFormatter

from ..support import browser_get
from .conftest import ADMIN_KEY, CLIENT_SECRET, EVENT, EVENT_KEY, OTHER_KEY, SHOP_CB, SPA_CB, bearer, build, pkce_pair

RETRY_KEY = "idem-1-retry-key-0123456789"  # an idempotency key with room for 128 random bits


@pytest.fixture
def captured() -> Iterator[list[io.StringIO]]:
    """Every record of every logger at DEBUG, formatted as plain text and as JSON."""
    root = logging.getLogger()
    old_level = root.level
    streams = [io.StringIO(), io.StringIO()]
    handlers = []
    for stream, formatter in zip(streams, (PlainFormatter(), JsonFormatter()), strict=True):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.setLevel(logging.DEBUG)
        root.addHandler(handler)
        handlers.append(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield streams
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(old_level)


def _signing_key_material(keys_file: Path) -> list[str]:
    """Pieces of every private key in the key file: PEM body lines and the private JWK members."""
    pieces: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                if name in ("d", "p", "q", "dp", "dq", "qi") and isinstance(value, str):
                    pieces.append(value[:40])
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and "PRIVATE KEY" in node:
            pieces.extend(line for line in node.splitlines() if len(line) >= 40 and "KEY" not in line)

    walk(json.loads(keys_file.read_text()))
    assert pieces, "found no private key material to look for"
    return pieces


def _oidc_flow(app: Flask, client_id: str, redirect_uri: str, secret: str | None, found: list[str]) -> None:
    verifier, challenge = pkce_pair()
    browser = app.test_client()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid",
              "state": "state-value", "nonce": "nonce-value", "code_challenge": challenge,
              "code_challenge_method": "S256"}
    url = "/authorize?" + urlencode(params)
    assert browser_get(browser, url).status_code == 200
    cookie = browser.get_cookie(COOKIE_NAME)
    assert cookie is not None
    found += [cookie.value, verifier]
    app.extensions["waitingroom"].room.advance(EVENT, 1)
    response = browser.get(url)
    assert response.status_code == 302
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    found.append(code)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    kwargs: dict[str, Any] = {}
    if secret:
        kwargs["headers"] = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}
    else:
        form["client_id"] = client_id
    tokens = app.test_client().post("/token", data=form, **kwargs)
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    found += [tokens.json["access_token"], tokens.json["id_token"]]
    assert app.test_client().get("/userinfo", headers=bearer(tokens.json["access_token"])).status_code == 200
    # replaying the code revokes the session: logged as a warning, without the code
    replay = app.test_client().post("/token", data=form, **kwargs)
    assert replay.status_code == 400
    found.append(replay.get_data(as_text=True))


def test_no_secret_or_token_in_logs_error_bodies_or_metrics(
    tmp_path: Path, clock: ManualClock, captured: list[io.StringIO]
) -> None:
    app = build(tmp_path, clock, server={"enter_rate_limit": "1000/minute"})
    client = app.test_client()
    issued: list[str] = []
    bodies: list[str] = []

    def record(response: Any) -> Any:
        if response.status_code >= 400:
            bodies.append(response.get_data(as_text=True) + str(dict(response.headers)))
        return response

    # the REST API and the admin API, good and bad
    place = record(client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": RETRY_KEY}))
    request_id = place.json["request_id"]
    issued.append(request_id)
    record(client.post("/generate_token", json={"event_id": EVENT, "request_id": request_id}))
    record(client.post("/admin/increment_serving_counter", json={"event_id": EVENT, "increment_by": 1},
                       headers=bearer(EVENT_KEY)))
    tokens = record(client.post("/generate_token", json={"event_id": EVENT, "request_id": request_id})).json
    issued += [tokens["access_token"], tokens["id_token"]]
    record(client.get("/queue_num", query_string={"event_id": EVENT, "request_id": request_id}))
    record(client.get("/queue_pos_expiry", query_string={"event_id": EVENT, "request_id": request_id}))
    record(client.post("/admin/update_session", json={"event_id": EVENT, "request_id": request_id,
                                                      "status": "completed"}, headers=bearer(ADMIN_KEY)))
    record(client.post("/admin/update_session", json={"event_id": EVENT, "request_id": request_id,
                                                      "status": "completed"}, headers=bearer(ADMIN_KEY)))  # 409
    for key in (OTHER_KEY, "wrong-key-attempt-123456", ADMIN_KEY + "x"):
        record(client.post("/admin/increment_serving_counter", json={"event_id": EVENT, "increment_by": 1},
                           headers=bearer(key)))
    record(client.post("/generate_token", json={"event_id": EVENT, "request_id": request_id[::-1]}))
    record(client.post("/assign_queue_num", data=b"\xff{", content_type="application/json"))

    # the OIDC flow, a confidential and a public client, each with a code replay
    _oidc_flow(app, "shop", SHOP_CB, CLIENT_SECRET, issued)
    _oidc_flow(app, "spa", SPA_CB, None, issued)
    issued.pop()  # (the last replay body, kept only to be searched as an error body below)
    wrong = {"Authorization": "Basic " + base64.b64encode(b"shop:wrong-secret-guess").decode()}
    bad = app.test_client().post(
        "/token", data={"grant_type": "authorization_code", "code": "x", "redirect_uri": SHOP_CB}, headers=wrong)
    bodies.append(bad.get_data(as_text=True))
    registered = app.test_client().post(
        "/admin/clients", json={"event": EVENT, "redirect_uris": ["https://n.example/cb"]}, headers=bearer(ADMIN_KEY))
    assert registered.status_code == 201
    new_client_secret = registered.json["client_secret"]
    record(app.test_client().get("/userinfo", headers=bearer(issued[-1][:-4] + "AAAA")))

    metrics = client.get("/metrics").get_data(as_text=True)
    logs = [stream.getvalue() for stream in captured]
    assert "admin increment_serving_counter" in logs[0] and '"admin_key":"#spring-sale/0"' in logs[1]
    assert '"route":"/token"' in logs[1]  # requests were logged, so the search below means something

    secrets = {
        "admin key": ADMIN_KEY, "event admin key": EVENT_KEY, "other event key": OTHER_KEY,
        "client secret": CLIENT_SECRET, "registered client secret": new_client_secret,
        "wrong key attempt": "wrong-key-attempt-123456", "wrong secret attempt": "wrong-secret-guess",
    }
    for n, piece in enumerate(_signing_key_material(tmp_path / "keys.json")):
        secrets[f"signing key piece {n}"] = piece
    for n, value in enumerate(issued):
        secrets[f"issued value {n}"] = value
        if value.count(".") == 2:  # a JWT: its signature alone must not appear either
            secrets[f"issued signature {n}"] = value.rsplit(".", 1)[1]
    places = [("plain log", logs[0]), ("JSON log", logs[1]), ("metrics", metrics)]
    places += [(f"error body {n}", body) for n, body in enumerate(bodies)]
    leaks = [(what, where) for what, secret in secrets.items() for where, text in places if secret in text]
    assert not leaks, f"secrets found: {leaks}"
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ", logs[0] + logs[1] + metrics), "a JWT was logged"
