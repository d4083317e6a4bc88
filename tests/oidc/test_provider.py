"""The OpenID Connect provider through its HTTP interface (Flask test client, manual clock)."""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import threading
from pathlib import Path
from urllib.parse import quote, quote_plus

import jwt
import pytest
from flask import Flask

from core.clock import ManualClock
from core.model import Status
from core.rules import redeem_for_session_in_steps
from oidc_adaptor.app import create_app
from oidc_adaptor.oidc.clients import CLIENT_NAMESPACE
from oidc_adaptor.oidc.codes import CODE_TTL
from oidc_adaptor.oidc.passwords import hash_secret, verify_secret
from tests.conftest import make_settings

from .conftest import CLIENTS, SECRET, SHOP_CB, Flow, redirect_params
from .helpers import EVENT, pkce_pair

ISSUER = "http://127.0.0.1:8080"  # make_settings' default issuer


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def admitted_code(flow: Flow, **extra: object) -> str:
    page = flow.authorize(**extra)
    assert page.status_code == 200
    flow.admit()
    return flow.code(**extra)


# -- discovery ------------------------------------------------------------------------------------


def test_discovery_uses_the_issuer_byte_for_byte(app: Flask) -> None:
    doc = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert doc["issuer"] == ISSUER
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert doc[key].startswith(ISSUER + "/")
    assert doc["jwks_uri"] == ISSUER + "/.well-known/jwks.json"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "none"}


# -- authorization endpoint -----------------------------------------------------------------------


def test_waiting_visitor_gets_a_page_and_an_admitted_one_a_code_with_state_and_iss(flow: Flow) -> None:
    page = flow.authorize()
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Location" not in page.headers
    flow.admit()
    response = flow.authorize()
    assert response.status_code == 302
    assert response.headers["Location"].startswith(SHOP_CB + "?")
    params = redirect_params(response)
    assert params["state"] == "st-123" and params["iss"] == ISSUER
    assert len(params["code"]) >= 40
    assert response.headers["Cache-Control"] == "no-store"


def test_same_cookie_keeps_the_place_and_a_new_browser_gets_a_new_one(app: Flask) -> None:
    first, second = Flow(app), Flow(app)
    assert '<dd id="wr-position">1</dd>' in first.authorize().get_data(as_text=True)
    for _ in range(3):
        assert '<dd id="wr-position">1</dd>' in first.authorize().get_data(as_text=True)
    assert '<dd id="wr-position">2</dd>' in second.authorize().get_data(as_text=True)
    assert first.room.counters(EVENT).last_position == 2


def test_the_cookie_holds_no_request_id_and_the_sub_is_not_it(flow: Flow) -> None:
    flow.authorize()
    cookie = flow.browser.get_cookie("wr_place")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    flow.admit()
    code = flow.code()
    tokens = flow.redeem(code).get_json()
    sub = claims_of(tokens["id_token"])["sub"]
    store = flow.app.extensions["waitingroom"].store
    request_ids = [row[0] for row in store._connection().execute("SELECT request_id FROM tickets")]
    assert request_ids and all(rid not in (cookie.value, sub, code) for rid in request_ids)


def test_cookie_is_secure_unless_the_issuer_is_plain_http_on_loopback(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, server={"issuer": "https://queue.example"}, clients=CLIENTS)
    app = create_app(settings, start_scheduler=False)
    response = Flow(app).authorize()
    assert "Secure" in response.headers["Set-Cookie"]
    assert "HttpOnly" in response.headers["Set-Cookie"] and "SameSite=Lax" in response.headers["Set-Cookie"]


def test_a_visitor_never_admitted_never_gets_a_code(flow: Flow) -> None:
    other = Flow(flow.app)
    other.authorize()
    flow.authorize()
    flow.admit(1)  # admits the first visitor only
    for _ in range(5):
        response = flow.authorize()
        assert response.status_code == 200 and "code=" not in response.headers.get("Location", "")
    assert flow.authorize(prompt="none").headers["Location"].count("code=") == 0
    status = flow.browser.get(f"/authorize/status?event={EVENT}").get_json()
    assert status["status"] == "waiting" and status["admitted"] is False and status["ahead"] == 0


def test_unknown_client_gets_an_error_page_not_a_redirect(flow: Flow) -> None:
    response = flow.browser.get("/authorize", query_string=flow.params(client_id="nobody"))
    assert response.status_code == 400 and response.mimetype == "text/html" and "Location" not in response.headers
    assert "does not know" in response.get_data(as_text=True)


@pytest.mark.parametrize("uri", ["https://evil.example/cb", SHOP_CB + "/", SHOP_CB + "?x=1", SHOP_CB.upper()])
def test_unregistered_redirect_uri_gets_an_error_page(flow: Flow, uri: str) -> None:
    response = flow.authorize(redirect_uri=uri)
    assert response.status_code == 400 and response.mimetype == "text/html" and "Location" not in response.headers


def test_missing_redirect_uri_with_several_registered_gets_an_error_page(flow: Flow) -> None:
    response = flow.authorize(redirect_uri=None)
    assert response.status_code == 400 and "Location" not in response.headers


def test_errors_after_validation_are_redirected_with_state_and_iss(flow: Flow) -> None:
    response = flow.authorize(response_type="token")
    params = redirect_params(response)
    assert params["error"] == "unsupported_response_type" and params["state"] == "st-123" and params["iss"] == ISSUER
    params = redirect_params(flow.authorize(request="eyJhbGciOiJub25lIn0.e30."))
    assert params["error"] == "request_not_supported" and params["iss"] == ISSUER
    params = redirect_params(flow.authorize(max_age="soon"))
    assert params["error"] == "invalid_request" and params["iss"] == ISSUER


def test_optional_parameters_are_accepted_and_unknown_ones_ignored(flow: Flow) -> None:
    extra = {"display": "page", "ui_locales": "fr-CA fr", "login_hint": "x", "acr_values": "1", "whatever": "y",
             "scope": "openid profile email offline_access"}
    assert flow.authorize(**extra).status_code == 200
    flow.admit()
    tokens = flow.redeem(flow.code(**extra)).get_json()
    assert tokens["scope"] == "openid"  # profile and email claims are not returned to this client
    proxy = Flow(flow.app, "proxy")  # email_claim: the email scope is granted, with its claims
    tokens = proxy.redeem(admitted_code(proxy, **extra)).get_json()
    assert tokens["scope"] == "openid email" and "email" in claims_of(tokens["id_token"])


def test_prompt_none_while_waiting_is_login_required_with_state_and_iss(flow: Flow) -> None:
    response = flow.authorize(prompt="none")
    assert response.status_code == 302
    params = redirect_params(response)
    assert params["error"] == "login_required" and params["state"] == "st-123" and params["iss"] == ISSUER
    assert flow.room.counters(EVENT).last_position == 0  # no place was taken silently
    flow.authorize()  # now in line, still waiting
    assert redirect_params(flow.authorize(prompt="none"))["error"] == "login_required"
    flow.admit()
    assert "code" in redirect_params(flow.authorize(prompt="none"))


# -- token endpoint -------------------------------------------------------------------------------


def test_token_response_and_claims(flow: Flow, clock: ManualClock) -> None:
    flow.authorize()
    admitted_at = clock.now()
    flow.admit()
    clock.advance(7)
    response = flow.redeem(flow.code())
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.get_json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    header = jwt.get_unverified_header(tokens["id_token"])
    assert header["alg"] == "RS256" and header["kid"]
    id_claims, access = claims_of(tokens["id_token"]), claims_of(tokens["access_token"])
    assert id_claims["iss"] == ISSUER and id_claims["aud"] == "shop" and id_claims["azp"] == "shop"
    assert id_claims["nonce"] == "nonce-456" and id_claims["auth_time"] == int(admitted_at)
    assert id_claims["event_id"] == EVENT and id_claims["queue_position"] == 1
    digest = __import__("hashlib").sha256(tokens["access_token"].encode()).digest()[:16]
    assert id_claims["at_hash"] == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert access["aud"] == EVENT and access["token_use"] == "access" and access["sub"] == id_claims["sub"]
    assert flow.room.ticket(EVENT, _only_request_id(flow)).status is Status.ISSUED


def _only_request_id(flow: Flow) -> str:
    store = flow.app.extensions["waitingroom"].store
    return next(iter(store._connection().execute("SELECT request_id FROM tickets")))[0]


@pytest.mark.parametrize("secret", ["correct horse battery staple", "base64+like/secret==", "percent%41 and+plus"])
def test_a_basic_secret_is_read_form_encoded_or_as_sent(tmp_path: Path, clock: ManualClock, secret: str) -> None:
    # RFC 6749 section 2.3.1 form-urlencodes the secret in HTTP Basic (a space is "+", "%" is
    # "%25"); curl -u and requests encode nothing. Either way the client authenticates, and a
    # wrong secret still does not, counted once.
    clients = {"shop": {**CLIENTS["shop"], "secret": secret}}
    app = create_app(make_settings(tmp_path, clients=clients), clock=clock, start_scheduler=False)
    for sent in (secret, quote_plus(secret), quote(secret)):
        flow = Flow(app)
        assert flow.authorize().status_code == 200
        flow.admit()
        assert flow.redeem(flow.code(), secret=sent).status_code == 200, sent
    flow = Flow(app)
    assert flow.authorize().status_code == 200
    flow.admit()
    code = flow.code()
    refused = flow.redeem(code, secret=quote_plus(secret) + "x")
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    assert flow.redeem(code, secret=secret).status_code == 200


def test_client_secret_post_and_email_claim_and_lifetime(app: Flask) -> None:
    flow = Flow(app, "proxy")
    response = flow.redeem(admitted_code(flow), basic=False)
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    assert tokens["expires_in"] == 600
    claims = claims_of(tokens["id_token"])
    assert claims["email"].endswith(".invalid") and claims["email_verified"] is True
    info = app.test_client().get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.get_json()["email"] == claims["email"]


def test_wrong_secret_is_invalid_client(flow: Flow) -> None:
    code = admitted_code(flow)
    response = flow.redeem(code, secret="not-the-secret-at-all")
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    response = flow.redeem(code, secret="not-the-secret-at-all", basic=False)
    assert response.get_json()["error"] == "invalid_client"
    response = flow.redeem(code, secret=None)  # a confidential client cannot skip authentication
    assert response.get_json()["error"] == "invalid_client"


def test_wrong_redirect_uri_at_the_token_endpoint_is_invalid_grant(flow: Flow) -> None:
    code = admitted_code(flow)
    response = flow.redeem(code, redirect_uri="https://shop.example/other")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert flow.room.ticket(EVENT, _only_request_id(flow)).session is None  # nothing was issued
    assert flow.redeem(code).status_code == 200  # and nothing was burnt (RFC 9700 4.2)


def test_code_is_bound_to_its_client(app: Flask) -> None:
    flow = Flow(app)
    code = admitted_code(flow)
    thief = Flow(app, "proxy")
    response = thief.redeem(code, redirect_uri=SHOP_CB)
    assert response.get_json()["error"] == "invalid_grant"


def test_code_reuse_is_invalid_grant_and_revokes_the_first_tokens(flow: Flow) -> None:
    code = admitted_code(flow)
    first = flow.redeem(code).get_json()
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert flow.browser.get("/userinfo", headers=bearer).status_code == 200
    second = flow.redeem(code)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    revoked = flow.browser.get("/userinfo", headers=bearer)
    assert revoked.status_code == 401 and revoked.get_json()["error"] == "invalid_token"
    assert flow.room.ticket(EVENT, _only_request_id(flow)).status is Status.ABANDONED


def test_code_reuse_after_its_lifetime_still_revokes(flow: Flow, clock: ManualClock) -> None:
    code = admitted_code(flow)
    first = flow.redeem(code).get_json()
    clock.advance(CODE_TTL + 30)
    assert flow.redeem(code).get_json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert flow.browser.get("/userinfo", headers=bearer).status_code == 401


def test_a_replay_while_the_first_redemption_is_issuing_refuses_it(flow: Flow, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a store that redeems and opens the session in two steps (DynamoDB), the replay lands
    after the first redemption used the code and before its session step: that step is
    refused, so no token of this code is ever valid."""
    code = admitted_code(flow)
    store = flow.app.extensions["waitingroom"].store
    monkeypatch.setattr(store, "redeem_for_session", functools.partial(redeem_for_session_in_steps, store))
    issue = store.issue_session
    replays = []

    def replay_first(*args: object, **kwargs: object) -> object:
        if not replays:
            replays.append(Flow(flow.app).redeem(code, verifier=flow.verifier))
        return issue(*args, **kwargs)

    monkeypatch.setattr(store, "issue_session", replay_first)
    first = flow.redeem(code)
    assert replays[0].status_code == 400 and replays[0].get_json()["error"] == "invalid_grant"
    assert first.status_code == 400 and first.get_json()["error"] == "invalid_grant"
    ticket = flow.room.ticket(EVENT, _only_request_id(flow))
    assert ticket.status is Status.ADMITTED and ticket.session is None  # the place itself is kept
    assert flow.redeem(flow.code()).status_code == 200  # and a new code works


def test_expired_code_is_invalid_grant(flow: Flow, clock: ManualClock) -> None:
    code = admitted_code(flow)
    clock.advance(CODE_TTL + 1)
    response = flow.redeem(code)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert flow.room.ticket(EVENT, _only_request_id(flow)).session is None  # nothing was issued


def test_concurrent_redemptions_only_one_takes_the_code(flow: Flow) -> None:
    code = admitted_code(flow)
    codes = flow.app.extensions["waitingroom_oidc"].codes
    results: list[object] = []
    barrier = threading.Barrier(8)

    def redeem() -> None:
        barrier.wait()
        results.append(codes.redeem(flow.room, EVENT, code, "shop", flow.verifier, SHOP_CB, None))

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for r in results if r.code is not None) == 1
    assert sum(1 for r in results if r.replayed is not None) == 7


def test_concurrent_token_requests_never_yield_two_token_sets(flow: Flow) -> None:
    code = admitted_code(flow)
    results: list[int] = []
    barrier = threading.Barrier(6)

    def redeem() -> None:
        barrier.wait()
        results.append(flow.redeem(code).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The others are replays: at most one succeeds, and its tokens are revoked by them.
    assert results.count(200) <= 1 and results.count(400) >= 5
    assert flow.room.ticket(EVENT, _only_request_id(flow)).status in (Status.ABANDONED, Status.ADMITTED)


# -- PKCE -----------------------------------------------------------------------------------------


def test_missing_or_wrong_verifier_is_rejected_and_leaves_the_code_usable(app: Flask) -> None:
    flow = Flow(app)
    code = admitted_code(flow)
    assert flow.redeem(code, verifier=None).get_json()["error"] == "invalid_grant"
    assert flow.redeem(code, verifier=pkce_pair()[0]).get_json()["error"] == "invalid_grant"
    assert flow.redeem(code, verifier="too-short").get_json()["error"] == "invalid_request"
    assert flow.redeem(code).status_code == 200  # RFC 9700 4.2: refused presentations burn nothing


def test_verifier_without_challenge_is_rejected(flow: Flow) -> None:
    code = admitted_code(flow, code_challenge=None, code_challenge_method=None)
    assert flow.redeem(code).get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("method", ["plain", None, "S512"])
def test_only_s256_is_accepted(flow: Flow, method: str | None) -> None:
    response = flow.authorize(code_challenge_method=method)
    params = redirect_params(response)
    assert params["error"] == "invalid_request" and params["iss"] == ISSUER and params["state"] == "st-123"


def test_public_client_needs_pkce_and_no_secret(app: Flask) -> None:
    flow = Flow(app, "spa")
    params = redirect_params(flow.authorize(code_challenge=None, code_challenge_method=None))
    assert params["error"] == "invalid_request"
    code = admitted_code(flow)
    assert flow.redeem(code, secret=None, verifier=None).get_json()["error"] == "invalid_request"
    code = flow.code()
    response = flow.redeem(code, secret=None)
    assert response.status_code == 200 and "id_token" in response.get_json()


# -- max_age ----------------------------------------------------------------------------------------


def test_max_age_older_than_the_admission_sends_the_visitor_back_in_line(flow: Flow, clock: ManualClock) -> None:
    code = admitted_code(flow)
    assert flow.redeem(code).status_code == 200
    clock.advance(100)
    assert flow.authorize(max_age="600").status_code == 302  # recent enough
    again = flow.authorize(max_age="30")
    assert again.status_code == 200 and '<dd id="wr-position">2</dd>' in again.get_data(as_text=True)
    flow.admit()
    clock.advance(50)  # the new place is fresh: not sent back again however long the redirect takes
    tokens = flow.redeem(flow.code(max_age="30")).get_json()
    assert claims_of(tokens["id_token"])["auth_time"] == int(clock.now())  # it came back now


def test_an_id_token_answering_max_age_is_authenticated_within_it(flow: Flow, clock: ManualClock) -> None:
    # OIDC Core 3.1.3.7 item 13: a relying party that sent max_age compares auth_time + max_age
    # with now and asks again when it is older. A visitor who took a new place to re-authenticate
    # and came back to claim it later than max_age after their admission (a tab in the
    # background, a walk away) authenticates when they come back: with the admission time as
    # auth_time, the relying party asked again, and the visitor went to the back of the line
    # a second time, and again at every return slower than max_age.
    assert flow.redeem(admitted_code(flow)).status_code == 200
    clock.advance(100)
    assert flow.authorize(max_age="30").status_code == 200  # a new place: the re-authentication
    flow.admit()
    clock.advance(50)  # admitted, and back only now (within the claim deadline)
    claims = claims_of(flow.redeem(flow.code(max_age="30")).get_json()["id_token"])
    assert claims["auth_time"] + 30 >= claims["iat"]
    clock.advance(10)  # the relying party's next sign-in with the same max_age: within it, no new place
    again = claims_of(flow.redeem(flow.code(max_age="30")).get_json()["id_token"])
    assert again["auth_time"] == claims["auth_time"] and again["sub"] == claims["sub"]
    assert flow.room.counters(EVENT).last_position == 2
    clock.advance(30)  # now older than max_age: re-authenticate again
    assert flow.authorize(max_age="30").status_code == 200
    assert flow.room.counters(EVENT).last_position == 3


# -- userinfo -------------------------------------------------------------------------------------


def test_userinfo_get_post_header_body_and_alias(flow: Flow) -> None:
    tokens = flow.redeem(admitted_code(flow)).get_json()
    access = tokens["access_token"]
    sub = claims_of(tokens["id_token"])["sub"]
    client = flow.app.test_client()
    for response in (
        client.get("/userinfo", headers={"Authorization": f"Bearer {access}"}),
        client.post("/userinfo", headers={"Authorization": f"Bearer {access}"}),
        client.post("/userinfo", data={"access_token": access}),
        client.get("/userInfo", headers={"Authorization": f"Bearer {access}"}),
    ):
        assert response.status_code == 200 and response.get_json()["sub"] == sub
        assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/userinfo").status_code == 401
    bad = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['id_token']}"})
    assert bad.status_code == 401 and "WWW-Authenticate" in bad.headers


def test_a_sign_in_redirect_carries_what_a_redirect_needs_and_no_more(flow: Flow) -> None:
    """The code's redirect: its location, never cached, no referrer, and no page headers (it has
    no content); the browser sent its place cookie, so the redirect does not set it again."""
    assert flow.authorize().status_code == 200  # waiting: the page renews the cookie
    flow.admit()
    response = flow.authorize()
    assert response.status_code == 302 and "code=" in response.headers["Location"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_data() == b"" and "Content-Type" not in response.headers
    assert "Content-Security-Policy" not in response.headers and "X-Frame-Options" not in response.headers
    assert "Set-Cookie" not in response.headers


def test_token_userinfo_and_discovery_answers_allow_browser_clients_once(flow: Flow) -> None:
    """Browser-based public clients call these cross-origin: every answer (refusals too) carries
    the CORS headers exactly once, with the security headers every response has."""
    response = flow.redeem(admitted_code(flow))
    access = response.get_json()["access_token"]
    client = flow.app.test_client()
    answers = [
        response,
        flow.redeem("not-a-code"),
        client.get("/userinfo", headers={"Authorization": f"Bearer {access}"}),
        client.get("/userinfo"),
        client.get("/.well-known/openid-configuration"),
    ]
    for answer in answers:
        assert answer.headers.getlist("Access-Control-Allow-Origin") == ["*"], answer.status_code
        # what a preflight answers, and only a preflight (browsers read it nowhere else)
        assert "Access-Control-Allow-Methods" not in answer.headers
        assert answer.headers.getlist("X-Content-Type-Options") == ["nosniff"]
        assert "Content-Security-Policy" not in answer.headers  # JSON, not a page
    assert [a.status_code for a in answers] == [200, 400, 200, 401, 200]
    for path in ("/token", "/userinfo"):
        preflight = client.options(path, headers={"Origin": "https://spa.example", "Access-Control-Request-Method":
                                                  "POST", "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 200
        assert preflight.headers.getlist("Access-Control-Allow-Origin") == ["*"]
        assert preflight.headers.getlist("Access-Control-Allow-Headers") == ["Authorization, Content-Type"]
        assert preflight.headers.getlist("Access-Control-Allow-Methods") == ["GET, POST, OPTIONS"]
        assert preflight.headers["Access-Control-Max-Age"] == "600"


def test_sign_in_successes_log_at_debug_refusals_at_info(
        flow: Flow, caplog: pytest.LogCaptureFixture) -> None:
    """Every admitted visitor signs in once (a code, a token response) and a relying party reads
    /userinfo for every sign-in and again to refresh: their successes are high-volume lines
    (DEBUG, counted by the metrics); every refusal stays INFO."""
    caplog.set_level(logging.DEBUG, logger="waitingroom.request")
    access = flow.redeem(admitted_code(flow)).get_json()["access_token"]
    client = flow.app.test_client()
    client.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    client.get("/userInfo", headers={"Authorization": f"Bearer {access}"})
    client.get("/userinfo")
    flow.redeem("not-a-code")
    levels = [(r.route, r.status, r.levelname) for r in caplog.records  # type: ignore[attr-defined]
              if r.name == "waitingroom.request"]
    assert ("/userinfo", 200, "DEBUG") in levels and ("/userInfo", 200, "DEBUG") in levels
    assert ("/userinfo", 401, "INFO") in levels and ("/token", 400, "INFO") in levels
    assert ("/token", 200, "DEBUG") in levels and ("/authorize", 302, "DEBUG") in levels


def test_userinfo_follows_key_rotation_and_retirement(flow: Flow, clock: ManualClock) -> None:
    """The access-token verifier is kept between requests: it must still see a rotation at
    once, and stop accepting a retired key's tokens when the key leaves the JWKS."""
    old = flow.redeem(admitted_code(flow)).get_json()["access_token"]
    client = flow.app.test_client()

    def status(token: str) -> int:
        return client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code

    assert status(old) == 200
    flow.app.extensions["waitingroom"].keys.rotate(clock.now(), activate_after=0, keep_old_for=100)
    new = flow.redeem(flow.code()).get_json()["access_token"]
    assert jwt.get_unverified_header(new)["kid"] != jwt.get_unverified_header(old)["kid"]
    assert (status(old), status(new)) == (200, 200)
    clock.advance(101)
    assert (status(old), status(new)) == (401, 200)


# -- waiting page -----------------------------------------------------------------------------------


def test_waiting_page_is_accessible_and_needs_no_inline_script(flow: Flow, clock: ManualClock) -> None:
    for _ in range(3):
        Flow(flow.app).authorize()
    flow.admit(1)
    clock.advance(60)
    flow.admit(1)
    page = flow.authorize()
    html = page.get_data(as_text=True)
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script found"
    assert 'aria-live="polite"' in html and "Spring sale" in html
    assert '<dd id="wr-position">4</dd>' in html and '<dd id="wr-ahead">1</dd>' in html
    assert 'id="wr-check"' in html and 'http-equiv="refresh"' in html and "<noscript>" in html
    assert "between" in html  # an estimate range from the observed admission rate
    status = flow.browser.get(f"/authorize/status?event={EVENT}").get_json()
    assert status["position"] == 4 and status["ahead"] == 1 and status["estimate"]["high_minutes"] >= 1
    script = flow.browser.get("/static/waiting.js")
    assert script.status_code == 200 and b"fetch(" in script.data


def test_status_without_a_place_is_404(app: Flask) -> None:
    response = app.test_client().get(f"/authorize/status?event={EVENT}")
    assert response.status_code == 404 and response.get_json()["admitted"] is False


# -- clients: configuration and admin API ---------------------------------------------------------------


ADMIN = {"Authorization": "Bearer test-admin-key"}


def test_admin_registers_lists_and_deletes_clients(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/admin/clients", json={}).status_code == 401
    response = client.post("/admin/clients", headers=ADMIN, json={
        "client_id": "kiosk", "event": EVENT, "redirect_uris": ["https://kiosk.example/cb"]})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    secret = body["client_secret"]
    assert body["public"] is False and "secret_hash" not in body
    stored = app.extensions["waitingroom"].store.get(CLIENT_NAMESPACE, "kiosk", 0)
    assert secret not in stored and json.loads(stored)["secret_hash"].startswith("hmac_sha256$")
    ids = {c["client_id"] for c in client.get("/admin/clients", headers=ADMIN).get_json()["clients"]}
    assert {"kiosk", "shop", "spa"} <= ids
    assert client.post("/admin/clients", headers=ADMIN, json={
        "client_id": "kiosk", "event": EVENT, "redirect_uris": ["https://kiosk.example/cb"]}).status_code == 409

    flow = Flow(app, "kiosk", "https://kiosk.example/cb")
    assert flow.redeem(admitted_code(flow), secret=secret).status_code == 200

    assert client.delete("/admin/clients/shop", headers=ADMIN).status_code == 409  # from the config file
    assert client.delete("/admin/clients/kiosk", headers=ADMIN).status_code == 204
    assert client.get("/admin/clients/kiosk", headers=ADMIN).status_code == 404
    assert Flow(app, "kiosk", "https://kiosk.example/cb").authorize().status_code == 400


@pytest.mark.parametrize("uri", ["http://shop.example/cb", "ftp://x/cb", "https://x/cb#frag", "/relative"])
def test_admin_rejects_unsafe_redirect_uris(app: Flask, uri: str) -> None:
    response = app.test_client().post("/admin/clients", headers=ADMIN, json={
        "event": EVENT, "redirect_uris": [uri]})
    assert response.status_code == 400


def test_admin_public_client_and_insecure_http_opt_in(app: Flask) -> None:
    response = app.test_client().post("/admin/clients", headers=ADMIN, json={
        "event": EVENT, "public": True, "redirect_uris": ["http://intranet.example/cb"], "allow_insecure_http": True})
    body = response.get_json()
    assert response.status_code == 201 and body["public"] is True and "client_secret" not in body
    assert body["auth_methods"] == ["none"]


def test_configured_secrets_are_hashed_and_secret_hash_accepted(tmp_path: Path) -> None:
    hashed = hash_secret("another-long-secret-value")
    assert verify_secret("another-long-secret-value", hashed) and not verify_secret("nope", hashed)
    clients = {"hashed": {"event": EVENT, "secret_hash": hashed, "redirect_uris": [SHOP_CB]}}
    app = create_app(make_settings(tmp_path, clients=clients), start_scheduler=False)
    registry = app.extensions["waitingroom_oidc"].clients
    assert registry.get("hashed").check_client_secret("another-long-secret-value")
    flow = Flow(app, "hashed", SHOP_CB)
    assert flow.redeem(admitted_code(flow), secret="another-long-secret-value").status_code == 200


def test_configured_plain_http_redirect_off_loopback_is_refused(tmp_path: Path) -> None:
    clients = {"bad": {"event": EVENT, "secret": SECRET, "redirect_uris": ["http://shop.example/cb"]}}
    with pytest.raises(ValueError, match="plain http"):
        create_app(make_settings(tmp_path, clients=clients), start_scheduler=False)
