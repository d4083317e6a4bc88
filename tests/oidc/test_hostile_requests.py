"""Requests a relying party should never send, as an attacker or a broken client would: each
gets its OAuth error (4xx, or an error redirect with ``state`` and ``iss``), never a 500 and
never a silent success the discovery document does not promise."""

from __future__ import annotations

import base64
import html
import re

import jwt
import pytest
from flask import Flask

from core.clock import ManualClock

from .conftest import SECRET, SHOP_CB, Flow, redirect_params
from .helpers import EVENT

ISSUER = "http://127.0.0.1:8080"


def admitted(app: Flask) -> Flow:
    flow = Flow(app)
    assert flow.authorize().status_code == 200
    flow.admit()
    return flow


# -- /authorize ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e3", " 5", "+5", "-1", "0x10"])
def test_max_age_in_other_than_digits_is_invalid_request(flow: Flow, value: str) -> None:
    params = redirect_params(flow.authorize(max_age=value))
    assert params["error"] == "invalid_request" and params["state"] == "st-123" and params["iss"] == ISSUER
    assert flow.room.counters(EVENT).last_position == 0  # refused before taking a place


@pytest.mark.parametrize("value", ["\u00b2", "\u0661"])
def test_max_age_in_digits_of_other_scripts_is_refused(flow: Flow, value: str) -> None:
    # str.isdigit() holds for superscript and Arabic-Indic digits: int() then failed (a 500) or
    # read them. Outside printable ASCII the request gets the error page of a malformed request.
    response = flow.authorize(max_age=value)
    assert response.status_code == 400 and "Location" not in response.headers
    assert flow.room.counters(EVENT).last_position == 0


def test_a_max_age_of_thousands_of_digits_is_no_limit(app: Flask) -> None:
    flow = admitted(app)  # int() refuses more than 4300 digits; this is simply longer than any wait
    assert "code" in redirect_params(flow.authorize(max_age="9" * 5000))
    assert "code" in redirect_params(flow.authorize(max_age="0" * 5000 + "100"))


@pytest.mark.parametrize(("prompt", "error"), [
    ("consent", "consent_required"),
    ("select_account", "account_selection_required"),
    ("login consent", "consent_required"),
    ("bogus", "invalid_request"),
])
def test_a_prompt_value_discovery_does_not_advertise_is_refused(app: Flask, prompt: str, error: str) -> None:
    # Discovery advertises prompt none and login only; an admitted visitor asking for consent
    # or an account choice the provider never shows must not get a code as if it had.
    flow = admitted(app)
    params = redirect_params(flow.authorize(prompt=prompt))
    assert "code" not in params
    assert params["error"] == error and params["state"] == "st-123" and params["iss"] == ISSUER


def test_the_advertised_prompt_values_still_work(app: Flask) -> None:
    flow = admitted(app)
    assert "code" in redirect_params(flow.authorize(prompt="none"))
    assert flow.authorize(prompt="login").status_code == 200  # a new place: the re-authentication


def test_a_posted_authorization_request_keeps_the_parameters_of_its_uri_on_the_way_back(flow: Flow) -> None:
    # A POSTed request is read with the parameters of its URI (RFC 6749 section 3.1 keeps the
    # endpoint URI's query); the cookie check's redirect, the waiting page's re-request and its
    # language links re-make it as a GET, and dropped them: the visitor met an error page.
    params = flow.params()
    client_id = params.pop("client_id")
    first = flow.browser.post(f"/authorize?client_id={client_id}", data=params)
    assert first.status_code == 303 and f"client_id={client_id}" in first.headers["Location"]
    page = flow.browser.get(first.headers["Location"])
    assert page.status_code == 200 and flow.room.counters(EVENT).last_position == 1
    again = flow.browser.post(f"/authorize?client_id={client_id}", data=params).get_data(as_text=True)
    links = re.findall(r'href="(/authorize\?[^"]+)"', again)
    assert links and all(f"client_id={client_id}" in link for link in links), links
    flow.admit()
    response = flow.browser.get(html.unescape(links[0]))
    assert "code" in redirect_params(response)


# -- /token ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("credentials", [b"\xff\xfe:\xff", "shop:sécret".encode("latin-1")])
def test_undecodable_basic_credentials_are_invalid_client(app: Flask, credentials: bytes) -> None:
    flow = admitted(app)
    code = flow.code()
    header = "Basic " + base64.b64encode(credentials).decode()
    response = app.test_client().post(
        "/token", data={"grant_type": "authorization_code", "code": code}, headers={"Authorization": header},
    )
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")  # RFC 6749 section 5.2
    assert flow.redeem(code).status_code == 200  # the refused request used nothing


@pytest.mark.parametrize("header", ["Basic abc", "Basic c2hvcA", "Basic !!!", "Basic", "Basic c2hvcDo=", "Basic Og=="])
def test_malformed_basic_headers_are_invalid_client(app: Flask, header: str) -> None:
    # Base64 without its padding, no colon, an empty secret or id: no client authenticates,
    # and nothing answers 500.
    flow = admitted(app)
    code = flow.code()
    response = app.test_client().post(
        "/token", data={"grant_type": "authorization_code", "code": code}, headers={"Authorization": header},
    )
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert flow.redeem(code).status_code == 200


def test_non_ascii_basic_credentials_are_invalid_client(app: Flask) -> None:
    flow = admitted(app)
    code = flow.code()
    header = "Basic c2hvcDp\u00e9".encode().decode("latin-1")  # not base64 at all
    response = app.test_client().post(
        "/token", data={"grant_type": "authorization_code", "code": code}, headers={"Authorization": header},
    )
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("query", [
    {"client_secret": SECRET},  # a secret in the URI ends up in access logs (RFC 6749 section 2.3.1)
    {"client_id": "spa"},  # a second client identification beside the Basic header
    {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": "x"},
])
def test_client_credentials_in_the_token_request_uri_are_invalid_request(app: Flask, query: dict[str, str]) -> None:
    # RFC 6749 sections 2.3.1 and 3.2: the token request's parameters, client credentials above
    # all, travel in the body; the URI carries none. With Basic in the header this would be a
    # second place of client authentication too.
    flow = admitted(app)
    code = flow.code()
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": SHOP_CB, "code_verifier": flow.verifier}
    response = app.test_client().post("/token", query_string=query, data=data, auth=("shop", SECRET))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert flow.redeem(code).status_code == 200  # the refused request used nothing


@pytest.mark.parametrize("moved", ["redirect_uri", "code_verifier", "client_id", "grant_type"])
def test_token_request_parameters_in_the_uri_are_invalid_request(app: Flask, moved: str) -> None:
    # Authlib reads some token parameters from the body only and others (redirect_uri, a public
    # client's client_id, grant_type) from the body and the URI alike; none belongs in the URI.
    flow = Flow(app, "spa")
    assert flow.authorize().status_code == 200
    flow.admit()
    code = flow.code()
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
            "code_verifier": flow.verifier, "client_id": "spa"}
    query = {moved: data.pop(moved)}
    response = app.test_client().post("/token", query_string=query, data=data)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert flow.redeem(code, secret=None).status_code == 200


def test_a_client_secret_and_an_assertion_in_one_body_are_invalid_request(app: Flask) -> None:
    # Two client authentication methods in one body (RFC 6749 section 2.3): a secret and an
    # assertion, which this provider does not support and must not silently ignore.
    flow = admitted(app)
    code = flow.code()
    response = flow.redeem(code, basic=False, client_assertion="x",
                           client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert flow.redeem(code).status_code == 200


# -- /userinfo -------------------------------------------------------------------------------------


def test_userinfo_refuses_a_token_sent_in_the_header_and_the_body(app: Flask) -> None:
    # RFC 6750 section 2: a client uses one method per request; two are invalid_request (400).
    flow = admitted(app)
    access = flow.redeem(flow.code()).get_json()["access_token"]
    response = app.test_client().post("/userinfo", data={"access_token": access},
                                      headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_request"')
    twice = app.test_client().post("/userinfo", data={"access_token": [access, access]})
    assert twice.status_code == 400 and twice.get_json()["error"] == "invalid_request"
    assert app.test_client().post("/userinfo", data={"access_token": access}).status_code == 200


# -- discovery -------------------------------------------------------------------------------------


def test_every_claim_the_provider_returns_is_in_claims_supported(app: Flask) -> None:
    flow = Flow(app, "proxy")  # an email_claim client: the most claims there are
    assert flow.authorize(scope="openid email").status_code == 200
    flow.admit()
    tokens = flow.redeem(flow.code(scope="openid email")).get_json()
    returned = set(jwt.decode(tokens["id_token"], options={"verify_signature": False}))
    info = app.test_client().get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    returned |= set(info.get_json())
    supported = set(app.test_client().get("/.well-known/openid-configuration").get_json()["claims_supported"])
    assert returned <= supported, returned - supported


# -- session bounds --------------------------------------------------------------------------------


def test_a_longer_lived_client_signing_in_later_does_not_extend_the_session(app: Flask, clock: ManualClock) -> None:
    proxy = Flow(app, "proxy")  # token_lifetime 600: its first issue opens a 600 s session
    assert proxy.authorize().status_code == 200
    proxy.admit()
    first = proxy.redeem(proxy.code()).get_json()
    clock.advance(100)
    shop = Flow(app)  # token_lifetime 3600, the same browser
    shop.browser = proxy.browser
    tokens = shop.redeem(shop.code()).get_json()
    session_end = jwt.decode(first["id_token"], options={"verify_signature": False})["exp"]
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["iat"] == int(clock.now()) and claims["exp"] == session_end
    assert tokens["expires_in"] == 500
    clock.advance(500)  # the session's end: a sign-in now takes a new place
    assert shop.authorize().status_code == 200
    assert app.test_client().get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
                                 ).status_code == 401


def test_an_admitted_place_past_its_claim_deadline_is_not_sent_back_with_a_dead_code(
        app: Flask, clock: ManualClock) -> None:
    # Admitted, but no tokens claimed within queue_position_expiry: the place has expired even
    # before a sweep marks it. A code for it would only ever get invalid_grant, and the relying
    # party's retry the same again; the visitor takes a new place instead.
    flow = admitted(app)
    room = flow.room
    clock.advance(room.claim_deadline(EVENT) + 1)
    response = flow.authorize()
    assert response.status_code == 200 and "Your place in line" in response.get_data(as_text=True)
    assert room.counters(EVENT).last_position == 2
    flow.admit()  # the new place's turn: its code gets tokens
    assert flow.redeem(flow.code()).status_code == 200
