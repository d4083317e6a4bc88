"""The CloudFront gate driven with viewer-request events against a real ``waitingroom serve``.

The visitor's side of the waiting edge_room (the ``/authorize`` page, its cookie) is a ``requests``
session; the edge side is :class:`authorizer.edge.EdgeGate` answering CloudFront event documents.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import requests

from authorizer.edge import EdgeGate
from authorizer.edge_config import EdgeConfig
from tests.support import ServerProcess

from .cloudfront_events import (
    CALLBACK,
    CLIENT,
    SITE_HOST,
    cookie_value,
    location,
    set_cookies,
    viewer_request,
)
from .conftest import EVENT, OTHER_EVENT, admit_over_http, tokens_over_http
from .forge import b64, parts

COOKIE = "waitingroom_token"
LOGIN_COOKIE = COOKIE + "_login"
SECRET = "s" * 43


def gate_for(edge_room: ServerProcess, **changes: Any) -> EdgeGate:
    values: dict[str, Any] = {"issuer": edge_room.base_url, "client_id": CLIENT, "event_id": EVENT,
                              "unprotected_paths": ("/assets", "/healthz"), "state_secret": SECRET}
    clock = changes.pop("clock", time.time)
    return EdgeGate(EdgeConfig(**{**values, **changes}), clock=clock)


def sign_in(edge_room: ServerProcess, gate: EdgeGate, uri: str = "/tickets", query: str = "day=2",
            come_back: bool = True) -> dict[str, Any]:
    """A visitor's whole journey: redirected, waits, is admitted, comes back (unless ``come_back`` is
    false). Returns what the test needs to look at or replay."""
    first = gate.handle_event(viewer_request(uri, query))
    assert first["status"] == "302"
    authorize_url = location(first)
    login = cookie_value(set_cookies(first)[LOGIN_COOKIE])
    visitor = requests.Session()
    waiting = visitor.get(authorize_url, allow_redirects=False, timeout=10)
    if waiting.status_code == 303:  # a first visit: the place cookie is set, then seen coming back
        waiting = visitor.get(urllib.parse.urljoin(authorize_url, waiting.headers["Location"]),
                              allow_redirects=False, timeout=10)
    assert waiting.status_code == 200 and "wr-check" in waiting.text  # the waiting page, not a redirect
    admit_over_http(edge_room)
    admitted = visitor.get(authorize_url, allow_redirects=False, timeout=10)
    assert admitted.status_code == 302, admitted.text
    back = urllib.parse.urlsplit(admitted.headers["Location"])
    assert f"https://{back.netloc}{back.path}" == f"https://{SITE_HOST}{CALLBACK}"
    callback = gate.handle_event(viewer_request(CALLBACK, back.query, {LOGIN_COOKIE: login})) if come_back else {}
    return {"first": first, "authorize_url": authorize_url, "login": login, "query": back.query,
            "callback": callback}


def test_a_visitor_waits_is_admitted_and_passes(edge_room: ServerProcess) -> None:
    gate = gate_for(edge_room)
    journey = sign_in(edge_room, gate)

    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(journey["authorize_url"]).query))
    assert journey["authorize_url"].startswith(edge_room.base_url + "/authorize?")
    assert params["response_type"] == "code" and params["client_id"] == CLIENT
    assert params["redirect_uri"] == f"https://{SITE_HOST}{CALLBACK}"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 43 and len(params["nonce"]) >= 43 and params["state"] != params["nonce"]
    login_cookie = set_cookies(journey["first"])[LOGIN_COOKIE]
    assert all(flag in login_cookie for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"))
    assert params["code_challenge"] not in login_cookie  # the verifier is inside, signed, not the challenge

    callback = journey["callback"]
    assert callback["status"] == "302", callback.get("body")
    assert location(callback) == "/tickets?day=2"
    cookies = set_cookies(callback)
    token_cookie = cookies[COOKIE]
    assert all(flag in token_cookie for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"))
    max_age = int(token_cookie.split("Max-Age=")[1].split(";")[0])
    claims = parts(cookie_value(token_cookie))[1]
    assert claims["aud"] == EVENT and claims["token_use"] == "access"
    assert abs(max_age - (claims["exp"] - time.time())) < 120  # the cookie lives as long as the token
    assert "Max-Age=0" in cookies[LOGIN_COOKIE]  # the sign-in is over

    # The next request passes to the origin unchanged, minus the gate's cookie.
    token = cookie_value(token_cookie)
    event = viewer_request("/tickets", "day=2", {"theme": "dark", COOKIE: token})
    forwarded = gate.handle_event(event)
    assert "status" not in forwarded and forwarded["uri"] == "/tickets" and forwarded["querystring"] == "day=2"
    assert forwarded["headers"]["cookie"] == [{"key": "Cookie", "value": "theme=dark"}]
    assert forwarded["headers"]["host"] == [{"key": "Host", "value": SITE_HOST}]
    # A gate started later (another container) knows the key from the JWKS it fetches.
    assert "status" not in gate_for(edge_room).handle_event(viewer_request("/", "", {COOKIE: token}))


def test_unprotected_paths_pass_without_a_token(edge_room: ServerProcess) -> None:
    gate = gate_for(edge_room)
    for uri in ("/assets/app.css", "/healthz"):
        assert gate.handle_event(viewer_request(uri))["uri"] == uri
    assert gate.handle_event(viewer_request("/assetsx"))["status"] == "302"


@pytest.mark.parametrize("uri", [
    "/healthz/../admin", "/assets/../admin", "/assets/%2e%2e/admin", "/assets/%2E%2E/admin", "/assets/.%2e/admin",
    "/assets/%252e%252e/admin", "/assets/..;/admin", "/assets/..%2fadmin", "/assets/..%5cadmin", "/assets/..\\admin",
    "/assets/./../admin",
])
def test_an_unprotected_prefix_does_not_open_paths_an_origin_resolves_elsewhere(uri: str) -> None:
    # CloudFront gives Lambda@Edge, and forwards, the URI as sent; the origin may resolve the dots.
    gate = EdgeGate(EdgeConfig(issuer="https://wait.example", client_id=CLIENT, event_id=EVENT,
                               unprotected_paths=("/assets", "/healthz"), state_secret=SECRET))
    answer = gate.handle_event(viewer_request(uri))
    assert answer.get("status") == "302" and location(answer).startswith("https://wait.example/authorize?")
    assert gate.handle_event(viewer_request("/assets/css/..app.css"))["uri"] == "/assets/css/..app.css"


def test_a_replayed_callback_and_a_forged_state_get_the_error_page(edge_room: ServerProcess) -> None:
    gate = gate_for(edge_room)
    journey = sign_in(edge_room, gate)
    assert journey["callback"]["status"] == "302"

    # Replayed with the sign-in cookie an attacker copied: the code is single-use.
    replay = gate.handle_event(viewer_request(CALLBACK, journey["query"], {LOGIN_COOKIE: journey["login"]}))
    assert_error_page(replay)
    # Replayed by the browser itself, whose sign-in cookie was cleared.
    assert_error_page(gate.handle_event(viewer_request(CALLBACK, journey["query"])))
    # ... unless it holds a valid token (the back button after signing in): it is sent home.
    token = cookie_value(set_cookies(journey["callback"])[COOKIE])
    home = gate.handle_event(viewer_request(CALLBACK, journey["query"], {COOKIE: token}))
    assert home["status"] == "302" and location(home) == "/" and "set-cookie" not in home["headers"]

    # A fresh, unused code arrives with a state this browser's sign-in does not hold, or from
    # another issuer (RFC 9207), or with a sign-in cookie not signed with the gate's key.
    pending = sign_in(edge_room, gate, "/checkout", "", come_back=False)
    login = {LOGIN_COOKIE: pending["login"]}
    query = dict(urllib.parse.parse_qsl(pending["query"]))
    forged_state = urllib.parse.urlencode({**query, "state": "forged-" + query["state"]})
    wrong_iss = urllib.parse.urlencode({**query, "iss": "https://evil.example"})
    for forged in (forged_state, wrong_iss, "error=access_denied", "state=x&iss=y&code=z"):
        refused = gate.handle_event(viewer_request(CALLBACK, forged, login))
        assert_error_page(refused)
        # A link to the callback must not cancel the visitor's sign-in under way: the sign-in
        # cookie is cleared only once its code went to the token endpoint.
        assert "set-cookie" not in refused["headers"]
    other_key = gate_for(edge_room, state_secret="o" * 43)
    assert_error_page(other_key.handle_event(viewer_request(CALLBACK, pending["query"], login)))
    # None of those spent the code: the genuine callback still completes.
    genuine = gate.handle_event(viewer_request(CALLBACK, pending["query"], login))
    assert genuine["status"] == "302" and location(genuine) == "/checkout" and COOKIE in set_cookies(genuine)


def assert_error_page(answer: dict[str, Any]) -> None:
    assert answer["status"] == "400", answer
    assert "set-cookie" not in answer["headers"] or all(
        "Max-Age=0" in v["value"] for v in answer["headers"]["set-cookie"])  # no token cookie is ever set
    body = answer["body"]
    assert 'id="wr-retry"' in body and "Traceback" not in body
    assert answer["headers"]["content-type"][0]["value"].startswith("text/html")


def test_bad_tokens_are_sent_to_the_waiting_room_never_through(edge_room: ServerProcess) -> None:
    gate = gate_for(edge_room)
    good = tokens_over_http(edge_room, EVENT)["access_token"]
    assert "status" not in gate.handle_event(viewer_request("/", "", {COOKIE: good}))

    header, claims, signature = parts(good)
    encoded = good.split(".")
    tampered = f"{encoded[0]}.{b64(json.dumps({**claims, 'queue_position': 1}).encode())}.{signature}"
    alg_none = f"{b64(json.dumps({**header, 'alg': 'none'}).encode())}.{encoded[1]}."
    unknown_kid = f"{b64(json.dumps({**header, 'kid': 'made-up'}).encode())}.{encoded[1]}.{signature}"
    other_event = tokens_over_http(edge_room, OTHER_EVENT)["access_token"]
    late = gate_for(edge_room, clock=lambda: time.time() + 10 * 3600)  # the token expired hours ago

    fetches_before = gate.jwks.fetches
    non_ascii = f"{encoded[0]}.\u00e9t\u00e9.{signature}"  # must be refused, not raise (a 500 at the edge)
    for bad in (tampered, alg_none, unknown_kid, other_event, non_ascii, good + "x", "garbage", ""):
        answer = gate.handle_event(viewer_request("/", "", {COOKIE: bad}))
        assert answer["status"] == "302" and location(answer).startswith(edge_room.base_url + "/authorize?"), bad
    assert gate.jwks.fetches - fetches_before <= 1  # made-up kids fetch the JWKS at most once per interval
    assert late.handle_event(viewer_request("/", "", {COOKIE: good}))["status"] == "302"


def state_of(redirect: dict[str, Any]) -> str:
    """The ``state`` of a redirect to ``/authorize``."""
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location(redirect)).query))["state"]


def cookie_headers(uri: str, *values: str) -> dict[str, Any]:
    """A viewer request with one ``Cookie`` header per value, as HTTP/2 browsers send them."""
    event = viewer_request(uri)
    event["Records"][0]["cf"]["request"]["headers"]["cookie"] = [{"key": "Cookie", "value": v} for v in values]
    return event


def test_a_stale_cookie_of_the_same_name_does_not_hide_the_valid_one(edge_room: ServerProcess) -> None:
    # Browsers send every cookie of that name (other paths, a parent domain's: RFC 6265 section
    # 5.4), older ones possibly first; one that does not verify must not send the visitor round
    # the sign-in again and again.
    gate = gate_for(edge_room)
    good = tokens_over_http(edge_room)["access_token"]
    forwarded = gate.handle_event(cookie_headers("/tickets", f"{COOKIE}=stale; theme=dark", f"{COOKIE}={good}"))
    assert "status" not in forwarded and forwarded["headers"]["cookie"] == [{"key": "Cookie", "value": "theme=dark"}]

    first = gate.handle_event(viewer_request("/a"))
    login = cookie_value(set_cookies(first)[LOGIN_COOKIE])
    stale = f"{LOGIN_COOKIE}=stale.{login.partition('.')[2]}"
    again, kept = (gate.handle_event(cookie_headers("/b", *c)) for c in ([stale], [stale, f"{LOGIN_COOKIE}={login}"]))
    state = [state_of(r) for r in (first, again, kept)]
    assert state[0] != state[1] and state[0] == state[2]  # the signed sign-in is found behind the stale one


def test_an_id_token_in_the_cookie_does_not_pass(edge_room: ServerProcess) -> None:
    gate = gate_for(edge_room)
    id_token = tokens_over_http(edge_room)["id_token"]
    assert gate.handle_event(viewer_request("/", "", {COOKIE: id_token}))["status"] == "302"


def test_a_second_request_during_sign_in_keeps_the_same_state(edge_room: ServerProcess) -> None:
    gate = gate_for(edge_room)
    first = gate.handle_event(viewer_request("/a"))
    login = cookie_value(set_cookies(first)[LOGIN_COOKIE])
    second = gate.handle_event(viewer_request("/b", "", {LOGIN_COOKIE: login}))
    assert state_of(first) == state_of(second)


@pytest.mark.parametrize("path", ["//evil.example/x", "/\\evil.example", "https://evil.example/"])
def test_the_return_path_never_leaves_the_site(path: str) -> None:
    from authorizer.edge_login import safe_return_path

    assert safe_return_path(path) == "/"


def test_the_return_path_is_ascii() -> None:
    # Header values are ASCII (RFC 9110 section 5.5): a raw non-ASCII URI (a client that does not
    # percent-encode) must not end up raw in the Location header sent back after sign-in.
    from authorizer.edge_login import safe_return_path

    assert safe_return_path("/caf\u00e9?q=\u00e9&x=%20") == "/caf%C3%A9?q=%C3%A9&x=%20"
    assert safe_return_path("/\u2028/evil.example") == "/%E2%80%A8/evil.example"


def test_an_unexpected_failure_is_an_error_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import authorizer.edge as edge

    monkeypatch.setattr(edge, "_gate", None)
    monkeypatch.setattr(edge.EdgeConfig, "bundled", classmethod(lambda cls: (_ for _ in ()).throw(OSError("x"))))
    answer = edge.handler(viewer_request("/"), None)
    assert answer["status"] == "500" and 'id="wr-retry"' in answer["body"]
