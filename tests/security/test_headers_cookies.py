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


def test_the_floor_never_overrides_a_header_a_view_set_in_any_case() -> None:
    """``fill_missing`` is ``setdefault`` for several headers: names compare case-insensitively,
    a header already there (a tighter policy, another CORS origin) stays as it was, and only the
    missing ones are added, once."""
    from flask import Response

    from oidc_adaptor.plumbing import security_headers

    response = Response("<p>hi</p>", mimetype="text/html")
    response.headers["content-security-policy"] = "default-src 'none'"
    response.headers["REFERRER-POLICY"] = "same-origin"
    assert security_headers.is_html(response)
    security_headers.apply(response, secure=True)
    security_headers.apply(response, secure=True)  # twice: nothing is added a second time
    assert response.headers.getlist("Content-Security-Policy") == ["default-src 'none'"]
    assert response.headers.getlist("Referrer-Policy") == ["same-origin"]
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert response.headers.getlist("X-Frame-Options") == ["DENY"]
    assert response.headers.getlist("Strict-Transport-Security") == [security_headers.HSTS]

    api = Response("{}", mimetype="application/json")
    security_headers.apply(api, secure=False)
    assert not security_headers.is_html(api)
    assert "Content-Security-Policy" not in api.headers and "X-Frame-Options" not in api.headers
    assert "Strict-Transport-Security" not in api.headers
    assert api.headers["X-Content-Type-Options"] == "nosniff"


def test_a_page_with_an_upper_case_or_parameterised_type_is_a_page() -> None:
    from flask import Response

    from oidc_adaptor.plumbing import security_headers

    for content_type in ("text/html; charset=utf-8", "Text/HTML", " text/html ;charset=utf-8"):
        response = Response("<p>hi</p>", content_type=content_type)
        assert security_headers.is_html(response), content_type
        security_headers.apply(response, secure=False)
        assert response.headers["Content-Security-Policy"] == security_headers.DEFAULT_HTML_CSP
