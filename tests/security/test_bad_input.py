"""Hostile input gets a clear 4xx and stores nothing: oversized bodies, deep JSON, invalid UTF-8,
huge query strings, CR/LF in ``redirect_uri`` and ``state``, event ids with store key syntax.
Run against both the SQLite and the Redis store; "nothing stored" is checked on the store itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.clock import ManualClock

from ..support import browser_get
from .conftest import ADMIN_KEY, EVENT, SHOP_CB, bearer, build, pkce_pair

RETRY_KEY = "retry-1-retry-key-0123456789"  # an idempotency key with room for 128 random bits

KEY_SYNTAX_IDS = ["a:b", "{x}", "*", "spring-sale:c", "wr:{spring-sale}:c", "spring-sale}", "{spring-sale",
                  "a b", "a\nb", "a\r\nb", "\x00", "..", ".", "-a", "ä", "a" * 65, "", " spring-sale", "spring-sale\n"]


def _snapshot(app: Flask) -> Any:
    """Everything the store holds: every key of Redis, or every row of every SQLite table."""
    store = app.extensions["waitingroom"].store
    if hasattr(store, "client"):
        return sorted((k, store.client.type(k)) for k in store.client.keys("*"))
    import sqlite3

    db = sqlite3.connect(store.path)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: db.execute(f"SELECT * FROM {t}").fetchall() for t in tables}


@pytest.fixture(params=["sqlite", "redis"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    store = None
    if request.param == "redis":
        import redis

        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        store = url
    yield build(tmp_path, ManualClock(start=time.time()), store=store)


def _assert_clean_4xx(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data()[:300])
    if response.mimetype == "application/json":
        body = response.json
        assert isinstance(body, dict) and body.get("error")
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "File \"" not in text


def _post_everywhere(client: FlaskClient, data: bytes, content_type: str = "application/json") -> None:
    for path, headers in [("/assign_queue_num", {}), ("/generate_token", {}),
                          ("/admin/increment_serving_counter", bearer(ADMIN_KEY)),
                          ("/admin/reset_initial_state", bearer(ADMIN_KEY)),
                          ("/admin/update_session", bearer(ADMIN_KEY)), ("/admin/generate_token", bearer(ADMIN_KEY)),
                          (f"/admin/events/{EVENT}/admission", bearer(ADMIN_KEY)),
                          ("/admin/sessions/end", bearer(ADMIN_KEY)), ("/admin/clients", bearer(ADMIN_KEY)),
                          (f"/admin/events/{EVENT}/message", bearer(ADMIN_KEY))]:
        response = client.post(path, data=data, headers={**headers, "Content-Type": content_type})
        _assert_clean_4xx(response)


def test_oversized_deep_and_invalid_bodies(app: Flask) -> None:
    client = app.test_client()
    before = _snapshot(app)
    big = b'{"event_id": "spring-sale", "pad": "' + b"x" * (64 * 1024) + b'"}'
    _post_everywhere(client, big)
    assert client.post("/assign_queue_num", data=big, content_type="application/json").status_code == 413
    for depth in (100, 1000, 5000):
        _post_everywhere(client, b"[" * depth + b"]" * depth)
        _post_everywhere(client, b'{"event_id": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}")
    for raw in (b'{"event_id": "spring-\xff\xfe"}', b"\xc3\x28", b'{"event_id": "\xed\xa0\x80"}', b"\x00" * 50,
                b'{"event_id": "spring-sale"', b"null", b"[]", b'"spring-sale"', b"1e999999",
                b'{"event_id": "\\ud800"}', b'{"event_id": NaN}', "{\"event_id\": \"spring-sale\"}".encode("utf-16")):
        _post_everywhere(client, raw)
    _post_everywhere(client, b"event_id=spring-sale", "application/x-www-form-urlencoded")
    assert _snapshot(app) == before


def test_huge_query_strings_and_repeated_parameters(app: Flask) -> None:
    client = app.test_client()
    before = _snapshot(app)
    huge = "x" * 200_000
    for path in ("/serving_num", "/waiting_num", "/queue_num", "/queue_pos_expiry", "/public_key",
                 "/admin/expired_tokens", "/admin/num_active_tokens"):
        for query in (f"event_id={huge}", "event_id=a&event_id=b", "event_id=%ff%fe", "event_id=%00",
                      "event_id=%ff%fe&" + "&".join(f"p{i}=v" for i in range(5000))):
            _assert_clean_4xx(client.get(f"{path}?{query}", headers=bearer(ADMIN_KEY)))
        response = client.get(f"{path}?event_id={EVENT}&request_id={huge}", headers=bearer(ADMIN_KEY))
        if path in ("/queue_num", "/queue_pos_expiry"):
            _assert_clean_4xx(response)
        assert response.status_code < 500
    r = client.get(f"/authorize?client_id=shop&redirect_uri={quote(SHOP_CB)}&state={huge}&response_type=code")
    assert r.status_code < 500
    assert _snapshot(app) == before or r.status_code == 200  # a waiting page may take a place, nothing else


@pytest.mark.parametrize("event_id", KEY_SYNTAX_IDS)
def test_event_ids_with_key_syntax_are_refused_and_store_nothing(app: Flask, event_id: str) -> None:
    client = app.test_client()
    before = _snapshot(app)
    admin = bearer(ADMIN_KEY)
    responses = [
        client.post("/assign_queue_num", json={"event_id": event_id}),
        client.post("/assign_queue_num", json={"event_id": event_id}, headers={"Idempotency-Key": RETRY_KEY}),
        client.get("/serving_num", query_string={"event_id": event_id}),
        client.get("/waiting_num", query_string={"event_id": event_id}),
        client.get("/queue_num", query_string={"event_id": event_id, "request_id": "r" * 32}),
        client.post("/generate_token", json={"event_id": event_id, "request_id": "r" * 32}),
        client.post("/admin/increment_serving_counter", json={"event_id": event_id, "increment_by": 5}, headers=admin),
        client.post("/admin/reset_initial_state", json={"event_id": event_id}, headers=admin),
        client.get("/admin/num_active_tokens", query_string={"event_id": event_id}, headers=admin),
        client.get("/authorize/status", query_string={"event": event_id}),
    ]
    if event_id and "/" not in event_id and "\n" not in event_id:
        for action in ("pause", "resume", "admission"):
            responses.append(client.post(f"/admin/events/{quote(event_id, safe='')}/{action}",
                                         json={"increment_by": 1}, headers=admin))
        responses.append(client.get(f"/admin/events/{quote(event_id, safe='')}/counts", headers=admin))
    for response in responses:
        _assert_clean_4xx(response)
    assert _snapshot(app) == before


def test_idempotency_keys_with_key_syntax_are_refused_and_valid_ones_opaque(app: Flask) -> None:
    """Store key syntax never passes the key format; a valid key is hashed before it touches a store key."""
    client = app.test_client()
    for key in ("*" * 22, "{x}" * 8, "a:b" * 8, "wr:{spring-sale}:c-0123456789abcdef"):
        r = client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": key})
        assert r.status_code == 400 and r.json["error"] == "invalid_argument", key
    for key in ("wr_-spring-sale-c-0123456789abcdef", "a" * 128):
        r = client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": key})
        assert r.status_code == 200
        again = client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": key})
        assert again.json["queue_number"] == r.json["queue_number"]
    counts = client.get(f"/admin/events/{EVENT}/counts", headers=bearer(ADMIN_KEY)).json
    assert counts["last_position"] == 2 and counts["serving_counter"] == 0
    store = app.extensions["waitingroom"].store
    if hasattr(store, "client"):
        assert all(k.startswith(("wr:{spring-sale}:", "wr:kv:")) for k in store.client.keys("*"))
        assert not any("*" in k or "a:b" in k for k in store.client.keys("*"))


def _authorize(client: FlaskClient, **overrides: str) -> Any:
    _verifier, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": "shop", "redirect_uri": SHOP_CB, "scope": "openid",
              "state": "st", "code_challenge": challenge, "code_challenge_method": "S256", **overrides}
    return browser_get(client, "/authorize?" + urlencode(params))


INJECTIONS = ["\r\nSet-Cookie: evil=1", "\nLocation: https://evil.example", "%0d%0aSet-Cookie:%20evil=1",
              "\r\n\r\n<script>alert(1)</script>", "\u2028\u2029", "a\x00b"]


def _assert_no_injection(response: Any) -> None:
    assert response.status_code < 500
    for name, value in response.headers.items():
        assert "\r" not in value and "\n" not in value, (name, value)
        assert "evil" not in value or (name == "Location" and "evil" not in urlsplit(value).netloc)
    assert "evil=1" not in "".join(response.headers.getlist("Set-Cookie"))
    assert "<script>alert" not in response.get_data(as_text=True)


@pytest.mark.parametrize("injection", INJECTIONS)
def test_crlf_in_redirect_uri_is_an_error_page_not_a_redirect(app: Flask, injection: str) -> None:
    before = _snapshot(app)
    for uri in (SHOP_CB + injection, injection + SHOP_CB, SHOP_CB.replace("/oauth2", injection + "/oauth2")):
        response = _authorize(app.test_client(), redirect_uri=uri)
        _assert_no_injection(response)
        assert response.status_code == 400 and "Location" not in response.headers
    assert _snapshot(app) == before


@pytest.mark.parametrize("injection", INJECTIONS)
def test_crlf_in_state_is_encoded_in_every_redirect(app: Flask, injection: str) -> None:
    state = "st" + injection
    # an OAuth error redirect carries state
    response = _authorize(app.test_client(), state=state, response_type="token")
    _assert_no_injection(response)
    # the waiting page embeds the same URL; then the admitted redirect carries state and a code
    browser = app.test_client()
    waiting = _authorize(browser, state=state)
    _assert_no_injection(waiting)
    assert waiting.status_code == 200
    app.extensions["waitingroom"].room.advance(EVENT, 1)
    admitted = _authorize(browser, state=state)
    _assert_no_injection(admitted)
    assert admitted.status_code == 302
    from urllib.parse import parse_qs

    query = parse_qs(urlsplit(admitted.headers["Location"]).query)
    assert query["state"] == [state] and query["code"]
    assert urlsplit(admitted.headers["Location"]).netloc == "shop.example"


@pytest.mark.parametrize("body", [
    "grant_type=authorization_code&code=x&client_id=shop&client_secret=wrong",
    "grant_type=\udcff",
    "",
])
def test_token_over_plain_http_is_an_oauth_error_not_a_500(app: Flask, body: str) -> None:
    """Plain HTTP to a host that is not the machine itself (a proxy that is not trusted, a Host
    header of the client's choosing) is refused as RFC 6749 ``insecure_transport``, not a crash."""
    response = app.test_client().post(
        "/token", base_url="http://idp.example", data=body.encode("utf-8", "surrogateescape"),
        content_type="application/x-www-form-urlencoded")
    _assert_clean_4xx(response)
    assert response.json["error"] == "insecure_transport"
