"""The whole journey with Authlib's OpenID Connect client in a Flask relying party, over real HTTP.

The visitor is a ``requests.Session`` that follows redirects like a browser: it is sent to the
provider by the relying party, waits, is admitted by an admin API call, checks again and lands
on the relying party's callback, which redeems the code and shows the verified claims.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from authlib.integrations.flask_client import OAuth
from flask import Flask, jsonify, request

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
