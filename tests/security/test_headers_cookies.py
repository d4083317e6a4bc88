"""Security headers on pages and API answers; the place cookie is HttpOnly, SameSite=Lax, and
Secure everywhere except a plain-http issuer on a loopback host."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask

from core.clock import ManualClock
from oidc_adaptor.oidc.places import COOKIE_NAME

from ..support import browser_get
from .conftest import ADMIN_KEY, EVENT, SHOP_CB, build, pkce_pair


def _authorize_query() -> str:
    _verifier, challenge = pkce_pair()
    return urlencode({"response_type": "code", "client_id": "shop", "redirect_uri": SHOP_CB, "scope": "openid",
                      "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})


def _csp_directives(value: str) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in value.split(";") if part.strip()}


PAGES = [
    lambda: "/authorize?" + _authorize_query(),  # the waiting page
    lambda: "/authorize?client_id=nope",  # the error page
    lambda: "/admin/panel/",  # the control panel
]


@pytest.mark.parametrize("page", PAGES)
def test_pages_carry_a_strict_policy(app: Flask, page: object) -> None:
    response = browser_get(app.test_client(), page(), headers={"Authorization": f"Bearer {ADMIN_KEY}"})  # type: ignore[operator]
    assert response.mimetype == "text/html", response.status_code
    csp = _csp_directives(response.headers["Content-Security-Policy"])
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert "'unsafe-inline'" not in csp.get("script-src", "") and "'unsafe-eval'" not in str(csp)
    assert "default-src" in csp and "base-uri" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", ["/serving_num?event_id=spring-sale", "/healthz", "/openapi.json",
                                  "/.well-known/openid-configuration", "/nope", "/admin/events"])
def test_every_response_has_nosniff_and_no_referrer(app: Flask, path: str) -> None:
    response = app.test_client().get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in response.headers  # plain-http issuer


def test_https_issuers_send_hsts(tmp_path: Path, clock: ManualClock) -> None:
    app = build(tmp_path, clock, server={"issuer": "https://wait.example"})
    assert app.test_client().get("/healthz").headers["Strict-Transport-Security"].startswith("max-age=")


def _place_cookie(app: Flask) -> str:
    response = app.test_client().get("/authorize?" + _authorize_query())
    assert response.status_code == 303  # set, then the redirect that checks it comes back
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 1
    return cookies[0]


def test_the_place_cookie_on_a_loopback_http_issuer(app: Flask) -> None:
    cookie = _place_cookie(app)
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes
    assert "secure" not in attributes  # local demo over http://127.0.0.1: a Secure cookie would never come back


@pytest.mark.parametrize("issuer", ["https://wait.example", "http://wait.example", "https://127.0.0.1:8443"])
def test_the_place_cookie_is_secure_outside_loopback(tmp_path: Path, clock: ManualClock, issuer: str) -> None:
    app = build(tmp_path, clock, server={"issuer": issuer})
    attributes = [part.strip().lower() for part in _place_cookie(app).split(";")]
    assert {"httponly", "samesite=lax", "secure"} <= set(attributes)


def test_the_cookie_holds_a_handle_not_the_secret_request_id(app: Flask) -> None:
    browser = app.test_client()
    assert browser_get(browser, "/authorize?" + _authorize_query()).status_code == 200
    found = browser.get_cookie(COOKIE_NAME)
    assert found is not None
    value = found.value
    room = app.extensions["waitingroom"].room
    assert room.counters(EVENT).last_position == 1
    import sqlite3

    db = sqlite3.connect(app.extensions["waitingroom"].store.path)
    (request_id,) = db.execute("SELECT request_id FROM tickets").fetchone()
    assert request_id not in value and value not in request_id
