"""openid-client 6 (Node), a relying party that checks everything, against the waiting room.

The visitor's browser is a ``requests`` session (it keeps the place cookie); openid-client
builds the authorization URL and, with the redirect back, redeems the code and validates the
id token (``iss`` of RFC 9207, state, PKCE, nonce, signature, ``auth_time`` against
``max_age``), then calls /userinfo. Its package is installed with the browser tests' npm
packages (``npm ci --prefix tests/browser``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from core.clock import ManualClock

from .helpers import EVENT, ServedApp, live_provider

pytestmark = [pytest.mark.slow]

RP = Path(__file__).with_name("openid_client_rp.mjs")
PACKAGE = Path(__file__).resolve().parents[1] / "browser" / "node_modules" / "openid-client"
SECRET = "openid-client-secret-long-enough"


def test_node_and_openid_client_are_installed() -> None:
    """scripts/test.sh installs them; without them the flows below could not run at all."""
    assert shutil.which("node"), "node is missing"
    assert PACKAGE.is_dir(), "openid-client is missing: npm ci --prefix tests/browser"


def relying_party(**request: Any) -> dict[str, Any]:
    done = subprocess.run(["node", str(RP)], input=json.dumps(request), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.stdout, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def visit(session: requests.Session, url: str) -> requests.Response:
    """The browser's request of ``url``, through the waiting room's cookie check."""
    response = session.get(url, allow_redirects=False, timeout=10)
    if response.status_code == 303:
        response = session.get(requests.compat.urljoin(url, response.headers["Location"]),
                               allow_redirects=False, timeout=10)
    return response


def sign_in(provider: ServedApp, clock: ManualClock, callback: str, wait: float = 0.0,
            **extra: Any) -> dict[str, Any]:
    """One sign-in: openid-client's authorization URL, a wait in line, an admission, ``wait``
    seconds before the browser comes back, then openid-client's token request and checks."""
    client = {"issuer": provider.url, "client_id": "node-rp", "client_secret": SECRET, **extra}  # extra may replace it
    start = relying_party(step="url", redirect_uri=callback, **client)
    browser = requests.Session()
    assert visit(browser, start["url"]).status_code == 200  # the waiting page
    provider.admit()
    clock.advance(wait)
    back = visit(browser, start["url"])
    checks = {"verifier": start["verifier"], "state": start["state"], "nonce": start["nonce"]}
    if extra.get("response_mode") == "form_post":  # the page's form, as the browser posts it
        assert back.status_code == 200 and f'action="{callback}"' in back.text, back.text[:300]
        form = {name: unescape(value) for name, value in
                re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', back.text)}
        assert "code" in form
        return relying_party(step="grant", callback=callback, form=form, **checks, **client)
    assert back.status_code == 302 and back.headers["Location"].startswith(callback), back.text[:300]
    assert "code" in parse_qs(urlsplit(back.headers["Location"]).query)
    return relying_party(step="grant", callback=back.headers["Location"], **checks, **client)


@pytest.mark.parametrize("max_age", [None, 30])
def test_openid_client_signs_in_a_visitor_who_comes_back_late(tmp_path: Path, max_age: int | None) -> None:
    # Admitted, then back 90 s later (a tab in the background). With max_age, openid-client
    # refuses an id token whose auth_time + max_age is past (beyond its 30 s of tolerance):
    # the visitor re-authenticated when they came back, and auth_time says so.
    clock = ManualClock(start=time.time() - 90)  # the browser comes back at the real now
    callback = "http://127.0.0.1:9/callback"
    clients = {"node-rp": {"event": EVENT, "secret": SECRET, "redirect_uris": [callback]}}
    events = {EVENT: {"name": "Spring sale", "queue_position_expiry": 300}}
    with live_provider(tmp_path, clients, clock=clock, events=events,
                       server={"admin_keys": ["test-admin-key"]}) as provider:
        extra = {} if max_age is None else {"max_age": max_age}
        answer = sign_in(provider, clock, callback, wait=90, **extra)
    assert "error" not in answer, answer
    claims = answer["claims"]
    assert claims["aud"] == "node-rp" and claims["event_id"] == EVENT
    assert answer["userinfo"]["sub"] == claims["sub"]
    if max_age is not None:
        assert claims["auth_time"] + max_age >= claims["iat"]


@pytest.mark.parametrize("auth", ["basic", "post"])
@pytest.mark.parametrize("secret", ["correct horse battery staple", "base64+like/secret==0123", "percent%41sign-0123"])
def test_openid_client_authenticates_with_any_secret_in_either_method(tmp_path: Path, auth: str, secret: str) -> None:
    # RFC 6749 section 2.3.1: the id and secret in HTTP Basic are form-urlencoded first, so
    # openid-client (like Spring Security) sends a space as "+"; clients that encode nothing
    # (curl -u, requests) send "+" and "%" as they are. A configured secret is free text.
    clock = ManualClock(start=time.time())
    callback = "http://127.0.0.1:9/callback"
    clients = {"node-rp": {"event": EVENT, "secret": secret, "redirect_uris": [callback]}}
    with live_provider(tmp_path, clients, clock=clock, server={"admin_keys": ["test-admin-key"]}) as provider:
        answer = sign_in(provider, clock, callback, client_secret=secret, auth=auth)
    assert "error" not in answer, answer
    assert answer["userinfo"]["sub"] == answer["claims"]["sub"]


def test_openid_client_signs_in_over_form_post(tmp_path: Path) -> None:
    # OAuth 2.0 Form Post Response Mode: openid-client reads code, state and iss from the POST.
    clock = ManualClock(start=time.time())
    callback = "http://127.0.0.1:9/callback"
    clients = {"node-rp": {"event": EVENT, "secret": SECRET, "redirect_uris": [callback]}}
    with live_provider(tmp_path, clients, clock=clock, server={"admin_keys": ["test-admin-key"]}) as provider:
        answer = sign_in(provider, clock, callback, response_mode="form_post")
    assert "error" not in answer, answer
    assert answer["userinfo"]["sub"] == answer["claims"]["sub"]
