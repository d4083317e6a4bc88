"""The whole journey with Authlib's OpenID Connect client in a Flask relying party, over real HTTP.

The visitor is a ``requests.Session`` that follows redirects like a browser: it is sent to the
provider by the relying party, waits, is admitted by an admin API call, checks again and lands
on the relying party's callback, which redeems the code and shows the verified claims.
"""

from __future__ import annotations

import re
import secrets
import time
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import requests
from authlib.integrations.flask_client import OAuth
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from flask import Flask, jsonify, request
from joserfc import jwt
from joserfc.jwk import KeySet

from core.clock import ManualClock
from oidc_adaptor.plumbing import counter_cache
from tests.support import free_port

from .helpers import EVENT, check_again_url, live_provider, serve_wsgi

SECRET = "rp-secret-that-is-long-enough"


def relying_party(
    provider_url: str, port: int, client_id: str, secret: str | None, client_kwargs: dict[str, Any]
) -> Flask:
    rp = Flask("relying_party")
    rp.secret_key = "rp-session-key"
    rp.config["SESSION_COOKIE_NAME"] = "rp_session"
    oauth = OAuth(rp)
    oauth.register(
        "waitingroom",
        client_id=client_id,
        client_secret=secret,
        server_metadata_url=f"{provider_url}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email", **client_kwargs},
    )

    @rp.get("/login")
    def login() -> Any:
        return oauth.waitingroom.authorize_redirect(f"http://127.0.0.1:{port}/callback")

    @rp.get("/callback")
    def callback() -> Any:
        iss = request.args.get("iss")
        token = oauth.waitingroom.authorize_access_token()
        userinfo = oauth.waitingroom.userinfo(token=token)
        return jsonify(iss=iss, id_claims=dict(token["userinfo"]), userinfo=dict(userinfo),
                       token_type=token["token_type"], expires_in=token["expires_in"])

    return rp


CASES = {
    "client_secret_basic": ({"secret": SECRET, "auth_methods": ["client_secret_basic"]},
                            SECRET, {"token_endpoint_auth_method": "client_secret_basic"}),
    "client_secret_post": ({"secret": SECRET, "auth_methods": ["client_secret_post"]},
                           SECRET, {"token_endpoint_auth_method": "client_secret_post"}),
    "confidential_pkce": ({"secret": SECRET}, SECRET,
                          {"token_endpoint_auth_method": "client_secret_basic", "code_challenge_method": "S256"}),
    "public_pkce": ({}, None, {"token_endpoint_auth_method": "none", "code_challenge_method": "S256"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_authlib_relying_party_full_flow(tmp_path: Path, case: str) -> None:
    client_conf, secret, kwargs = CASES[case]
    rp_port = free_port()
    clients = {"shop": {"event": EVENT, "redirect_uris": [f"http://127.0.0.1:{rp_port}/callback"], **client_conf}}
    with live_provider(tmp_path, clients) as provider:
        rp = relying_party(provider.url, rp_port, "shop", secret, kwargs)
        with serve_wsgi(rp, rp_port):
            browser = requests.Session()
            # Someone else is already in line, so this visitor really waits.
            requests.get(f"{provider.url}/authorize", params={"client_id": "shop", "response_type": "code",
                         "redirect_uri": clients["shop"]["redirect_uris"][0], "scope": "openid",
                         "code_challenge": "x" * 43, "code_challenge_method": "S256"}, timeout=10)
            page = browser.get(f"http://127.0.0.1:{rp_port}/login", timeout=10)
            assert page.status_code == 200 and page.url.startswith(f"{provider.url}/authorize")
            assert "Your place in line" in page.text and '<dd id="wr-position">2</dd>' in page.text

            provider.admit(1)  # only the first visitor: ours keeps waiting
            again = browser.get(check_again_url(page.text, page.url), timeout=10)
            assert again.url.startswith(f"{provider.url}/authorize") and '<dd id="wr-position">2</dd>' in again.text

            provider.admit(1)
            done = browser.get(check_again_url(again.text, again.url), timeout=10)
            assert done.status_code == 200, done.text
            body = done.json()
    claims = body["id_claims"]
    assert body["iss"] == provider.url
    assert claims["iss"] == provider.url and claims["aud"] == "shop" and claims["azp"] == "shop"
    assert claims["event_id"] == EVENT and claims["queue_position"] == 2
    assert claims["sub"].startswith("t_") and claims["nonce"]
    assert isinstance(claims["auth_time"], int) and claims["at_hash"]
    assert body["userinfo"]["sub"] == claims["sub"]
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 3600


@pytest.mark.slow
def test_authlib_session_signs_in_again_over_form_post_with_tokens_issued_now(tmp_path: Path) -> None:
    """Authlib's OAuth 2.0 session with ``response_mode=form_post``, its id token validated as
    Authlib's OpenID client does (joserfc, ``CodeIDToken``): the second sign-in of the same browser, 700 s after the
    first (past mod_auth_openidc's 600 s limit), gets an id token issued now for the same
    session; ``max_age`` shorter than the time since admission and ``prompt=login`` each
    re-authenticate with a new place and a new ``sub``."""
    callback = "https://rp.example/callback"
    clock = ManualClock(start=time.time() - 1000)  # ends near the wall clock Authlib checks against
    clients = {"rp": {"event": EVENT, "secret": SECRET, "redirect_uris": [callback]}}
    with live_provider(tmp_path, clients, clock=clock) as served:
        url, app = served.url, served.app
        meta = requests.get(f"{url}/.well-known/openid-configuration", timeout=10).json()
        keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
        browser = requests.Session()

        def sign_in(**extra: str) -> dict[str, Any]:
            rp = OAuth2Session("rp", SECRET, scope="openid", redirect_uri=callback, code_challenge_method="S256")
            verifier = secrets.token_urlsafe(48)
            uri, state = rp.create_authorization_url(meta["authorization_endpoint"], nonce="n-1",
                                                     code_verifier=verifier, response_mode="form_post", **extra)
            page = browser.get(uri, timeout=10)  # follows the redirect that checks the cookie comes back
            if "wr-form-post" not in page.text:  # the waiting page: let this visitor in
                served.admit(1)
                counter_cache.for_app(app).counters_changed(EVENT)
                page = browser.get(uri, allow_redirects=False, timeout=10)
            assert page.status_code == 200 and "wr-form-post" in page.text, page.text
            fields = {n: unescape(v) for n, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)}
            assert fields["state"] == state and fields["iss"] == url
            token = rp.fetch_token(meta["token_endpoint"], code=fields["code"], code_verifier=verifier)
            params = {"nonce": "n-1", "client_id": "rp", "access_token": token["access_token"]}
            if "max_age" in extra:
                params["max_age"] = int(extra["max_age"])
            decoded = jwt.decode(token["id_token"], keys)  # what Authlib's own OIDC client does
            claims = CodeIDToken(decoded.claims, decoded.header, {"iss": {"value": url}, "aud": {"value": "rp"}},
                                 params)
            claims.validate(now=int(clock.now()), leeway=5)
            assert rp.get(meta["userinfo_endpoint"], timeout=10).json()["sub"] == claims["sub"]
            return dict(claims)

        first = sign_in()
        clock.advance(700)
        second = sign_in()
        clock.advance(10)
        after_max_age = sign_in(max_age="5")
        after_login = sign_in(prompt="login")
    assert second["iat"] == int(clock.now()) - 10 and second["sub"] == first["sub"]
    assert second["auth_time"] == first["auth_time"] and second["exp"] == first["exp"]  # the same session
    assert after_max_age["sub"] not in (first["sub"], after_login["sub"])
    assert after_max_age["auth_time"] > first["auth_time"]
