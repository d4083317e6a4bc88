"""Fixtures of the OIDC provider suite: an app on a manual clock with a few relying parties."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from core.clock import ManualClock
from oidc_adaptor.app import create_app
from oidc_adaptor.plumbing import counter_cache
from tests.conftest import make_settings

from .helpers import EVENT, pkce_pair

SECRET = "shop-secret-long-enough-to-pass"
SHOP_CB = "https://shop.example/oauth2/idpresponse"
SPA_CB = "http://127.0.0.1:9000/callback"
CLIENTS = {
    "shop": {"event": EVENT, "secret": SECRET, "redirect_uris": [SHOP_CB, "https://shop.example/other"]},
    "spa": {"event": EVENT, "redirect_uris": [SPA_CB]},
    "proxy": {"event": EVENT, "secret": SECRET, "redirect_uris": ["https://proxy.example/oauth2/callback"],
              "email_claim": True, "token_lifetime": 600},
}


@pytest.fixture
def clock() -> ManualClock:
    # Real "now" so that tokens verified with the wall clock (PyJWT) are valid; moves only when told.
    return ManualClock(start=time.time())


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock) -> Flask:
    return create_app(make_settings(tmp_path, clients=CLIENTS), clock=clock, start_scheduler=False)


class Flow:
    """One browser (a Flask test client keeps cookies) driving the authorization code flow."""

    def __init__(self, app: Flask, client: str = "shop", redirect_uri: str | None = None) -> None:
        self.app = app
        self.browser: FlaskClient = app.test_client()
        self.client = client
        self.verifier, self.challenge = pkce_pair()
        self.redirect_uri = redirect_uri or (SPA_CB if client == "spa" else CLIENTS[client]["redirect_uris"][0])

    @property
    def room(self) -> Any:
        return self.app.extensions["waitingroom"].room

    def params(self, **extra: Any) -> dict[str, Any]:
        params = {
            "response_type": "code", "client_id": self.client, "redirect_uri": self.redirect_uri,
            "scope": "openid", "state": "st-123", "nonce": "nonce-456",
            "code_challenge": self.challenge, "code_challenge_method": "S256",
        }
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, headers: dict[str, str] | None = None, **extra: Any) -> TestResponse:
        """One authorization request as a browser makes it (with ``headers``): a first visit
        follows the redirect that checks the place cookie comes back."""
        response = self.browser.get("/authorize", query_string=self.params(**extra), headers=headers)
        if response.status_code == 303 and "wr_cookie_check=" in response.headers.get("Location", ""):
            response = self.browser.get(response.headers["Location"], headers=headers)
        return response

    def admit(self, count: int = 1) -> None:
        """Move the counter as the admin API does: this worker's poll cache shows it at once."""
        self.room.advance(EVENT, count)
        counter_cache.for_app(self.app).counters_changed(EVENT)

    def code(self, **extra: Any) -> str:
        response = self.authorize(**extra)
        assert response.status_code == 302, response.get_data(as_text=True)
        query = redirect_params(response)
        return query["code"]

    def redeem(self, code: str, *, secret: str | None = SECRET, verifier: str | None = "same",
               basic: bool = True, **extra: Any) -> TestResponse:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri, **extra}
        if verifier == "same":
            verifier = self.verifier
        if verifier is not None:
            data["code_verifier"] = verifier
        kwargs: dict[str, Any] = {}
        if secret is not None and basic:
            kwargs["auth"] = (self.client, secret)
        elif secret is not None:
            data.update(client_id=self.client, client_secret=secret)
        else:
            data["client_id"] = self.client
        return self.app.test_client().post("/token", data=data, **kwargs)


def redirect_params(response: TestResponse) -> dict[str, str]:
    location = response.headers["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
def flow(app: Flask) -> Flow:
    return Flow(app)
