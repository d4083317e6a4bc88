"""Behind a TLS load balancer on another host: a real ``waitingroom serve`` with ``[server]
trusted_proxies = 1`` takes the scheme, host and client address from exactly one proxy hop.

The test client connects from 127.0.0.2, which gunicorn does not count as a local peer (its
default trusts forwarded headers from 127.0.0.1 and ::1 only), as it would see a load balancer
on another machine."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from ..support import serve_process, write_config

pytestmark = pytest.mark.slow

EVENT = "spring-sale"
CALLBACK = "https://shop.example/oauth2/idpresponse"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def _from_balancer(port: int, method: str, path: str, *, body: str | None = None,
                   client: str = "203.0.113.7", headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """One request from 127.0.0.2, as a TLS load balancer forwards it (one hop)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20, source_address=("127.0.0.2", 0))
    forwarded = {"Host": "10.0.0.5:8080", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "wr.example",
                 "X-Forwarded-Port": "443", "X-Forwarded-For": client}
    if body is not None:
        forwarded["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers={**forwarded, **(headers or {})})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_one_trusted_hop_gives_scheme_host_and_address(tmp_path: Path) -> None:
    config = write_config(tmp_path / "waitingroom.toml", {
        "server": {"issuer": "https://wr.example", "store": f"sqlite:///{tmp_path / 'state.db'}",
                   "keys_file": str(tmp_path / "keys.json"), "trusted_proxies": 1,
                   "enter_rate_limit": "1/minute", "scheduler": False},
        "events": {EVENT: {"name": "Spring sale"}},
        "clients": {"shop": {"event": EVENT, "redirect_uris": [CALLBACK]}},
    })
    with serve_process(config, workers=1) as server:
        query = urlencode({"response_type": "code", "client_id": "shop", "redirect_uri": CALLBACK,
                           "scope": "openid", "state": "s1", "code_challenge": CHALLENGE,
                           "code_challenge_method": "S256"})
        check = _from_balancer(server.port, "GET", f"/authorize?{query}")
        # a first visit sets the place cookie and comes back to see it returned (the cookie check)
        assert check.status == 303 and (check.getheader("Location") or "").startswith("/authorize?")
        place_cookie = (check.getheader("Set-Cookie") or "")
        assert "Secure" in place_cookie  # the app knows it is served over https
        waiting = _from_balancer(server.port, "GET", urlsplit(check.getheader("Location") or "")._replace(
            scheme="", netloc="").geturl(), headers={"Cookie": place_cookie.split(";", 1)[0]})
        assert "insecure_transport" not in (waiting.getheader("Location") or "")
        assert waiting.status == 200  # the waiting page: the visitor holds a place

        token = _from_balancer(server.port, "POST", "/token", body=urlencode({
            "grant_type": "authorization_code", "code": "not-a-code", "redirect_uri": CALLBACK,
            "client_id": "shop", "code_verifier": "v" * 43}))
        assert token.status == 400  # invalid_grant: an OAuth error, not a 500

        # the address counted is the one the load balancer saw, whatever the client wrote before it
        enter = json.dumps({"event_id": EVENT})
        statuses = [_from_balancer(server.port, "POST", "/assign_queue_num", body=enter, client=forwarded,
                                   headers={"Content-Type": "application/json"}).status
                    for forwarded in ("spoof-1, 198.51.100.20", "spoof-2, 198.51.100.20", "198.51.100.21")]
        assert statuses == [200, 429, 200]
    assert "Traceback" not in server.log_text()
