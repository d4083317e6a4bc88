"""What relying parties and the OpenID Foundation's Basic OP checks expect of the provider:
fresh tokens on every sign-in, ``prompt=login``, a required ``redirect_uri``, codes that only
their client can use or burn, ``response_mode=form_post``, /userinfo for ended sessions and
non-OpenID tokens, and refused repeated parameters and double client authentication."""

from __future__ import annotations

import re
from html import unescape

import jwt
import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from core.clock import ManualClock
from core.model import Status
from oidc_adaptor.plumbing import counter_cache

from .conftest import SECRET, SHOP_CB, SPA_CB, Flow, redirect_params
from .helpers import EVENT, pkce_pair

ISSUER = "http://127.0.0.1:8080"


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def admitted_code(flow: Flow, **extra: object) -> str:
    assert flow.authorize(**extra).status_code == 200
    flow.admit()
    return flow.code(**extra)


def userinfo(flow: Flow, access_token: str) -> tuple[int, dict]:
    response = flow.app.test_client().get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code, response.get_json()


def request_id_of(flow: Flow, access_token: str) -> str:
    return flow.room.session_ticket(EVENT, claims_of(access_token)["jti"]).request_id


# -- 1. every sign-in gets tokens issued now, for the same session -------------------------------


def test_signing_in_again_gets_tokens_issued_now_for_the_same_session(flow: Flow, clock: ManualClock) -> None:
    first = flow.redeem(admitted_code(flow)).get_json()
    first_id, first_access = claims_of(first["id_token"]), claims_of(first["access_token"])
    clock.advance(900)  # past mod_auth_openidc's 600 s limit on an id token's age
    again = flow.redeem(flow.code()).get_json()
    id_claims, access = claims_of(again["id_token"]), claims_of(again["access_token"])
    now = int(clock.now())
    assert id_claims["iat"] == access["iat"] == now
    assert id_claims["exp"] == access["exp"] == first_id["exp"]  # never beyond the session's limit
    assert again["expires_in"] == first_id["exp"] - now
    assert access["jti"] == first_access["jti"] and id_claims["sub"] == first_id["sub"]  # same session
    assert id_claims["auth_time"] == first_id["auth_time"]
    assert flow.room.counters(EVENT).issued == 1


def test_a_shorter_lived_client_of_the_event_gets_its_own_lifetime_from_now(app: Flask, clock: ManualClock) -> None:
    shop = Flow(app)
    first = claims_of(shop.redeem(admitted_code(shop)).get_json()["id_token"])
    clock.advance(100)
    proxy = Flow(app, "proxy")
    proxy.browser = shop.browser  # the same browser signs in to a second site of the event
    tokens = proxy.redeem(proxy.code()).get_json()
    claims = claims_of(tokens["id_token"])
    assert claims["iat"] == int(clock.now()) and claims["exp"] == int(clock.now()) + 600 < first["exp"]
    assert tokens["expires_in"] == 600 and claims["sub"] == first["sub"]


def test_a_session_that_ran_out_is_not_signed_in_again(flow: Flow, clock: ManualClock) -> None:
    first = flow.redeem(admitted_code(flow)).get_json()
    clock.advance(3600)
    page = flow.authorize()
    assert page.status_code == 200 and '<dd id="wr-position">2</dd>' in page.get_data(as_text=True)
    assert userinfo(flow, first["access_token"])[0] == 401


# -- 2. prompt=login -------------------------------------------------------------------------------


def test_prompt_login_re_authenticates_with_a_new_place(flow: Flow, clock: ManualClock) -> None:
    first = claims_of(flow.redeem(admitted_code(flow)).get_json()["id_token"])
    again = flow.authorize(prompt="login")
    assert again.status_code == 200 and '<dd id="wr-position">2</dd>' in again.get_data(as_text=True)
    assert flow.authorize(prompt="login").status_code == 200  # still the same waiting place
    assert flow.room.counters(EVENT).last_position == 2
    clock.advance(30)
    flow.admit()
    claims = claims_of(flow.redeem(flow.code(prompt="login")).get_json()["id_token"])
    assert claims["auth_time"] == int(clock.now()) > first["auth_time"] and claims["sub"] != first["sub"]


def test_prompt_login_on_a_place_already_waiting_lets_it_in_when_admitted(flow: Flow) -> None:
    assert flow.authorize().status_code == 200
    assert flow.authorize(prompt="login").status_code == 200
    flow.admit()
    assert "code" in redirect_params(flow.authorize(prompt="login"))
    assert flow.room.counters(EVENT).last_position == 1


# -- 3. redirect_uri is required in an OpenID request --------------------------------------------


def test_an_openid_request_without_redirect_uri_gets_an_error_page(app: Flask) -> None:
    flow = Flow(app, "spa")  # one registered redirect URI
    response = flow.authorize(redirect_uri=None)
    assert response.status_code == 400 and response.mimetype == "text/html" and "Location" not in response.headers
    assert flow.room.counters(EVENT).last_position == 0
    plain_oauth = flow.authorize(redirect_uri=None, scope="profile")  # RFC 6749 3.1.2.3 allows it
    assert plain_oauth.status_code == 200


# -- 4. a code is used (or burnt) only by its own client with its own verifier -------------------


def test_a_used_code_presented_by_another_client_revokes_nothing(app: Flask) -> None:
    flow = Flow(app)
    tokens = flow.redeem(admitted_code(flow)).get_json()
    code = redirect_params(flow.authorize())["code"]
    assert flow.redeem(code).status_code == 200
    for thief in (Flow(app, "spa"), Flow(app, "proxy")):
        response = thief.redeem(code, secret=None if thief.client == "spa" else SECRET,
                                redirect_uri=SHOP_CB, verifier=pkce_pair()[0])
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    wrong_verifier = flow.redeem(code, verifier=pkce_pair()[0])  # not the rightful client's proof
    assert wrong_verifier.get_json()["error"] == "invalid_grant"
    assert userinfo(flow, tokens["access_token"])[0] == 200
    assert flow.room.ticket(EVENT, request_id_of(flow, tokens["access_token"])).status is Status.ISSUED


def test_another_client_cannot_burn_an_unused_code(app: Flask) -> None:
    flow = Flow(app)
    code = admitted_code(flow)
    thief = Flow(app, "spa")
    response = thief.redeem(code, secret=None, redirect_uri=SHOP_CB, verifier=flow.verifier)
    assert response.get_json()["error"] == "invalid_grant"
    assert flow.redeem(code).status_code == 200


def test_the_rightful_client_replaying_its_code_still_revokes(flow: Flow) -> None:
    code = admitted_code(flow)
    tokens = flow.redeem(code).get_json()
    assert flow.redeem(code).get_json()["error"] == "invalid_grant"
    assert userinfo(flow, tokens["access_token"])[0] == 401


# -- 5. response_mode ------------------------------------------------------------------------------


def form_fields(html: str) -> dict[str, str]:
    return {m.group(1): unescape(m.group(2))
            for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)}


def test_form_post_delivers_the_code_by_a_form_under_the_csp(flow: Flow) -> None:
    assert flow.authorize(response_mode="form_post").status_code == 200  # waiting page
    flow.admit()
    response = flow.authorize(response_mode="form_post")
    assert response.status_code == 200 and response.mimetype == "text/html" and "Location" not in response.headers
    html = response.get_data(as_text=True)
    assert re.search(rf'<form id="wr-form-post" method="post" action="{re.escape(SHOP_CB)}">', html)
    fields = form_fields(html)
    assert fields["state"] == "st-123" and fields["iss"] == ISSUER and set(fields) == {"code", "state", "iss"}
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "form-action" not in csp  # Chromium would apply it to the relying party's redirects too
    assert "<script>" not in html and "onload" not in html and 'src="/static/form_post.js"' in html
    assert response.headers["Cache-Control"] == "no-store"
    script = flow.browser.get("/static/form_post.js")
    assert script.status_code == 200 and "submit()" in script.get_data(as_text=True)
    tokens = flow.redeem(fields["code"])
    assert tokens.status_code == 200 and "id_token" in tokens.get_json()


def test_form_post_carries_errors_too(flow: Flow) -> None:
    response = flow.authorize(response_mode="form_post", prompt="none")
    fields = form_fields(response.get_data(as_text=True))
    assert fields == {"error": "login_required", "state": "st-123", "iss": ISSUER} | (
        {"error_description": fields["error_description"]} if "error_description" in fields else {})


@pytest.mark.parametrize("mode", ["fragment", "web_message", "form_post.jwt"])
def test_an_unsupported_response_mode_is_refused_before_taking_a_place(flow: Flow, mode: str) -> None:
    response = flow.authorize(response_mode=mode)
    assert response.status_code == 302 and response.headers["Location"].startswith(SHOP_CB + "?")
    params = redirect_params(response)
    assert params["error"] == "invalid_request" and params["state"] == "st-123" and params["iss"] == ISSUER
    assert flow.room.counters(EVENT).last_position == 0


def test_query_response_mode_is_the_default_and_may_be_named(flow: Flow) -> None:
    flow.authorize()
    flow.admit()
    assert "code" in redirect_params(flow.authorize(response_mode="query"))


# -- 6. /userinfo ----------------------------------------------------------------------------------


def test_userinfo_refuses_the_token_of_an_ended_session(flow: Flow) -> None:
    access = flow.redeem(admitted_code(flow)).get_json()["access_token"]
    assert userinfo(flow, access)[0] == 200
    flow.room.end_session(EVENT, request_id_of(flow, access), Status.COMPLETED)
    status, body = userinfo(flow, access)
    assert status == 401 and body["error"] == "invalid_token"


def test_userinfo_refuses_a_token_after_a_reset_of_the_event(flow: Flow) -> None:
    access = flow.redeem(admitted_code(flow)).get_json()["access_token"]
    flow.room.reset(EVENT)
    counter_cache.for_app(flow.app).counters_changed(EVENT)
    status, body = userinfo(flow, access)
    assert status == 401 and body["error"] == "invalid_token"


def test_userinfo_refuses_a_token_granted_without_openid(flow: Flow) -> None:
    response = flow.redeem(admitted_code(flow, scope="profile"))
    tokens = response.get_json()
    assert response.status_code == 200 and "id_token" not in tokens
    reply = flow.app.test_client().get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert reply.status_code == 403 and reply.get_json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in reply.headers["WWW-Authenticate"]


def test_userinfo_without_a_token_challenges_without_an_error_code(app: Flask) -> None:
    response = app.test_client().get("/userinfo")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


# -- 7. repeated parameters and double client authentication --------------------------------------


def test_a_repeated_token_parameter_is_invalid_request(flow: Flow) -> None:
    code = admitted_code(flow)
    data = [("grant_type", "authorization_code"), ("code", code), ("code", code),
            ("redirect_uri", SHOP_CB), ("code_verifier", flow.verifier)]
    response = flow.app.test_client().post("/token", data=MultiDict(data), auth=("shop", SECRET))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert flow.redeem(code).status_code == 200  # the refused request used nothing


def test_two_client_authentication_methods_are_invalid_request(app: Flask) -> None:
    flow = Flow(app)
    code = admitted_code(flow)
    both = flow.redeem(code, client_secret=SECRET, client_id="shop")  # Basic and client_secret_post
    assert both.status_code == 400 and both.get_json()["error"] == "invalid_request"
    other_id = flow.redeem(code, client_id="spa")  # Basic as shop, body naming a public client
    assert other_id.status_code == 400 and other_id.get_json()["error"] == "invalid_request"
    same_id = flow.redeem(code, client_id="shop")  # naming the same client twice is one method
    assert same_id.status_code == 200


@pytest.mark.parametrize("name", ["nonce", "code_challenge", "prompt", "response_mode", "max_age"])
def test_a_repeated_authorization_parameter_is_invalid_request(flow: Flow, name: str) -> None:
    query = [*flow.params().items(), (name, "1" * 43), (name, "2" * 43)]
    response = flow.browser.get("/authorize", query_string=query)
    params = redirect_params(response)
    assert params["error"] == "invalid_request" and params["iss"] == ISSUER
    assert flow.room.counters(EVENT).last_position == 0


def test_a_repeated_client_id_gets_an_error_page(flow: Flow) -> None:
    query = [*flow.params().items(), ("client_id", "spa")]
    response = flow.browser.get("/authorize", query_string=query)
    assert response.status_code == 400 and "Location" not in response.headers


# -- discovery -------------------------------------------------------------------------------------


def test_discovery_advertises_what_is_done(app: Flask) -> None:
    doc = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert doc["response_modes_supported"] == ["query", "form_post"]
    assert doc["prompt_values_supported"] == ["none", "login"]
    assert doc["scopes_supported"] == ["openid", "email"]
    assert "profile" not in doc["claims_supported"]


def test_a_browser_based_public_client_may_read_every_document_it_needs(app: Flask) -> None:
    # A single-page application (a public client with PKCE) reads discovery, then the JWKS to
    # check the id token's signature, then calls /token and /userinfo, all from its own origin.
    # Without the API's cors_origins configured the JWKS answered without CORS: the browser
    # kept it from the application, and its sign-in failed after the token response.
    flow = Flow(app, "spa")
    assert flow.authorize().status_code == 200
    flow.admit()
    code = flow.code()
    origin = {"Origin": "https://spa.example"}
    client = app.test_client()
    doc = client.get("/.well-known/openid-configuration", headers=origin)
    jwks_uri = doc.get_json()["jwks_uri"].removeprefix("http://127.0.0.1:8080")
    preflight = client.options("/token", headers={**origin, "Access-Control-Request-Method": "POST"})
    tokens = client.post("/token", headers=origin, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": SPA_CB, "client_id": "spa",
        "code_verifier": flow.verifier})
    info = client.get("/userinfo", headers={**origin, "Authorization": f"Bearer {tokens.get_json()['access_token']}"})
    for response in (doc, client.get(jwks_uri, headers=origin), preflight, tokens, info):
        assert response.status_code == 200 and response.headers.get("Access-Control-Allow-Origin") == "*", \
            (response.request.path, dict(response.headers))
        assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_public_client_on_a_loopback_port_over_form_post(app: Flask) -> None:
    flow = Flow(app, "spa")
    flow.authorize(response_mode="form_post")
    flow.admit()
    response = flow.authorize(response_mode="form_post")
    assert "form-action" not in response.headers["Content-Security-Policy"]
    code = form_fields(response.get_data(as_text=True))["code"]
    assert flow.redeem(code, secret=None).status_code == 200
    assert SPA_CB.startswith("http://127.0.0.1:9000/")
