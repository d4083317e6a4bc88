"""The whole journey with pyoidc (the ``oic`` package) as the relying party, over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from oic import rndstr
from oic.oic import Client
from oic.oic.message import AccessTokenResponse, AuthorizationResponse, OpenIDSchema, RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

from .helpers import EVENT, check_again_url, live_provider

SECRET = "pyoidc-secret-long-enough-123"
REDIRECT = "https://rp.example/callback"


def browser_until_redirect(provider: Any, url: str) -> str:
    """Visit the authorization URL, wait, get admitted, check again; return the redirect Location."""
    browser = requests.Session()
    page = browser.get(url, timeout=10)  # follows the redirect that checks the cookie comes back
    assert page.status_code == 200 and "Your place in line" in page.text
    provider.admit(1)
    response = browser.get(check_again_url(page.text, url), timeout=10, allow_redirects=False)
    assert response.status_code == 302, response.text
    return str(response.headers["Location"])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "public_pkce", "confidential_pkce"])
def test_pyoidc_relying_party(tmp_path: Path, method: str) -> None:
    public = method == "public_pkce"
    client_conf: dict[str, Any] = {"event": EVENT, "redirect_uris": [REDIRECT]}
    if not public:
        client_conf["secret"] = SECRET
    with live_provider(tmp_path, {"rp": client_conf}) as provider:
        client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
        provider_info = client.provider_config(provider.url)
        assert provider_info["issuer"] == provider.url
        info: dict[str, Any] = {"client_id": "rp", "redirect_uris": [REDIRECT]}
        if not public:
            info["client_secret"] = SECRET
        client.store_registration_info(RegistrationResponse(**info))
        client.redirect_uris = [REDIRECT]

        state, nonce = rndstr(), rndstr()
        args: dict[str, Any] = {"client_id": "rp", "response_type": "code", "scope": ["openid"],
                                "nonce": nonce, "redirect_uri": REDIRECT, "state": state}
        verifier = None
        if method.endswith("pkce"):
            pkce_args, verifier = client.add_code_challenge()
            assert pkce_args["code_challenge_method"] == "S256"
            args.update(pkce_args)
        auth_req = client.construct_AuthorizationRequest(request_args=args)
        url = auth_req.request(client.authorization_endpoint)

        location = browser_until_redirect(provider, url)
        assert location.startswith(REDIRECT)
        aresp = client.parse_response(AuthorizationResponse, info=urlsplit(location).query, sformat="urlencoded")
        assert aresp["state"] == state and aresp["iss"] == provider.url

        token_args: dict[str, Any] = {"code": aresp["code"], "redirect_uri": REDIRECT}
        if verifier is not None:
            token_args["code_verifier"] = verifier
        if public:
            token_args["client_id"] = "rp"
        authn = "" if public else ("client_secret_post" if method == "client_secret_post" else "client_secret_basic")
        tresp = client.do_access_token_request(state=state, request_args=token_args, authn_method=authn)
        assert isinstance(tresp, AccessTokenResponse), tresp
        id_token = tresp["id_token"]  # verified by pyoidc: signature (JWKS), iss, aud, nonce, at_hash
        assert id_token["iss"] == provider.url and id_token["aud"] == ["rp"] and id_token["nonce"] == nonce
        assert id_token["event_id"] == EVENT and id_token["queue_position"] == 1

        userinfo = client.do_user_info_request(state=state)
        assert isinstance(userinfo, OpenIDSchema) and userinfo["sub"] == id_token["sub"]

        # The same code again: refused, and what it bought is revoked.
        again = client.do_access_token_request(state=state, request_args=token_args, authn_method=authn)
        assert again["error"] == "invalid_grant"
        revoked = requests.get(f"{provider.url}/userinfo", timeout=10,
                               headers={"Authorization": f"Bearer {tresp['access_token']}"})
        assert revoked.status_code == 401
