"""A browser-based relying party (a public client) on another origin, in Chromium: the CORS
preflight of /userinfo, the token request, discovery and the JWKS, as a single-page app makes
them with ``fetch``. The allowed methods and headers go on the preflight's answer only; this is
what shows the browser still lets the page read every answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from core.clock import ManualClock
from oidc_adaptor.app import create_app
from tests.conftest import make_settings
from tests.oidc.conftest import CLIENTS, SPA_CB, Flow

SIGN_IN = """async ([provider, code, verifier, redirectUri]) => {
  const body = new URLSearchParams({grant_type: 'authorization_code', code, code_verifier: verifier,
                                    redirect_uri: redirectUri, client_id: 'spa'});
  const token = await fetch(provider + '/token', {method: 'POST', body});
  const tokens = await token.json();
  const userinfo = await fetch(provider + '/userinfo', {headers: {Authorization: 'Bearer ' + tokens.access_token}});
  const refused = await fetch(provider + '/userinfo', {headers: {Authorization: 'Bearer not-a-token'}});
  const discovery = await fetch(provider + '/.well-known/openid-configuration');
  const jwks = await fetch(provider + '/.well-known/jwks.json');
  return {token: token.status, idToken: typeof tokens.id_token, userinfo: userinfo.status,
          sub: (await userinfo.json()).sub, refused: refused.status, discovery: discovery.status,
          issuer: (await discovery.json()).issuer, jwks: (await jwks.json()).keys.length};
}"""


def _served(app: Flask, host: str) -> Iterator[str]:
    server = make_server(host, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def provider_app(tmp_path: Path) -> Flask:
    return create_app(make_settings(tmp_path, clients=CLIENTS), clock=ManualClock(start=time.time()),
                      start_scheduler=False)


def test_a_single_page_app_on_another_origin_signs_in_and_reads_userinfo(
        provider_app: Flask, new_page: Callable[..., Any]) -> None:
    flow = Flow(provider_app, "spa")
    assert flow.authorize().status_code == 200
    flow.admit()
    code = flow.code()
    site = Flask("spa")
    site.add_url_rule("/", "index", lambda: "<!doctype html><title>spa</title>")
    provider_urls, site_urls = _served(provider_app, "127.0.0.1"), _served(site, "localhost")
    provider, origin = next(provider_urls), next(site_urls)  # two origins: another host name
    try:
        page = new_page()
        page.goto(origin + "/")
        result = page.evaluate(SIGN_IN, [provider, code, flow.verifier, SPA_CB])
    finally:
        for served in (provider_urls, site_urls):
            next(served, None)
    assert result["token"] == 200 and result["idToken"] == "string", result
    assert result["userinfo"] == 200 and result["sub"], result  # after a CORS preflight (Authorization)
    assert result["refused"] == 401, result  # an error answer is readable too
    assert result["discovery"] == 200 and result["jwks"] >= 1, result
    assert page.errors == []
