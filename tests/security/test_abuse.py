"""Abuse: entering the line is rate limited per client address across workers (429 with
Retry-After), and one browser cannot hold many places by replaying its requests."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask

from core.clock import ManualClock
from core.settings import SettingsError, parse_rate
from oidc_adaptor.oidc.places import COOKIE_NAME
from oidc_adaptor.plumbing.ratelimit import client_address

from ..support import browser_get
from .conftest import EVENT, SHOP_CB, build, counters, pkce_pair


def _enter(app: Flask, address: str = "198.51.100.7", **headers: str) -> int:
    response = app.test_client().post("/assign_queue_num", json={"event_id": EVENT},
                                      environ_base={"REMOTE_ADDR": address}, headers=headers)
    if response.status_code == 429:
        assert int(response.headers["Retry-After"]) >= 1
        assert response.json == {"error": "rate_limited", "message": response.json["message"]}
    return response.status_code


def test_rate_limit_is_off_by_default(app: Flask) -> None:
    assert [_enter(app) for _ in range(30)] == [200] * 30


def test_entries_per_address_are_limited_and_the_window_resets(tmp_path: Path, clock: ManualClock) -> None:
    clock.value = 1_800_000_010.0  # 10 s into a minute
    app = build(tmp_path, clock, server={"enter_rate_limit": "3/minute"})
    assert [_enter(app) for _ in range(5)] == [200, 200, 200, 429, 429]
    r = app.test_client().post("/assign_queue_num", json={"event_id": EVENT},
                               environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert r.status_code == 429 and r.headers["Retry-After"] == "50"
    assert counters(app).last_position == 3  # refused entries took no place
    assert _enter(app, "198.51.100.8") == 200  # another address has its own window
    clock.advance(50)
    assert _enter(app) == 200


def test_the_limit_holds_across_workers_sharing_the_store(tmp_path: Path, clock: ManualClock) -> None:
    """Two apps (two workers) on one store file share one count per address."""
    first = build(tmp_path, clock, server={"enter_rate_limit": "4/minute"})
    second = build(tmp_path, clock, server={"enter_rate_limit": "4/minute"})
    results = [_enter(app) for app in (first, second) * 3]
    assert results.count(200) == 4 and results.count(429) == 2


def test_the_limit_holds_across_workers_on_redis(tmp_path: Path, clock: ManualClock, redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    apps = [build(tmp_path, clock, store=redis_url, server={"enter_rate_limit": "2/10s"}) for _ in range(2)]
    assert [_enter(app) for app in apps * 2] == [200, 200, 429, 429]


def test_forwarded_for_counts_only_behind_trusted_proxies(tmp_path: Path, clock: ManualClock) -> None:
    untrusting = build(tmp_path / "a", clock, server={"enter_rate_limit": "1/minute"})
    # without trusted proxies a client cannot pick a fresh address with X-Forwarded-For
    assert _enter(untrusting, "203.0.113.9", **{"X-Forwarded-For": "192.0.2.1"}) == 200
    assert _enter(untrusting, "203.0.113.9", **{"X-Forwarded-For": "192.0.2.2"}) == 429

    behind_one = build(tmp_path / "b", clock, server={"enter_rate_limit": "1/minute", "trusted_proxies": 1})
    # the proxy appends the real peer; what the client wrote before it is ignored
    assert _enter(behind_one, "10.0.0.2", **{"X-Forwarded-For": "spoofed, 192.0.2.1"}) == 200
    assert _enter(behind_one, "10.0.0.2", **{"X-Forwarded-For": "other-spoof, 192.0.2.1"}) == 429
    assert _enter(behind_one, "10.0.0.2", **{"X-Forwarded-For": "192.0.2.3"}) == 200


def test_client_address_rules() -> None:
    assert client_address("10.0.0.1") == "10.0.0.1"
    assert client_address("2001:db8:1:2:3::4") == "2001:db8:1:2::/64"
    assert client_address("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_address("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_address(None) == "unknown"


def test_rate_settings_are_validated() -> None:
    assert parse_rate("10/minute") == (10, 60.0)
    assert parse_rate("5 / 30s") == (5, 30.0)
    assert parse_rate("100/hour") == (100, 3600.0)
    assert parse_rate("") is None
    for bad in ("10", "ten/minute", "0/minute", "10/0s", "10/fortnight"):
        with pytest.raises(SettingsError):
            parse_rate(bad)
    from core.settings import Settings

    with pytest.raises(SettingsError, match="trusted_proxies"):
        Settings.from_mapping({"server": {"trusted_proxies": -1}})


def _authorize_url() -> str:
    _verifier, challenge = pkce_pair()
    return "/authorize?" + urlencode({
        "response_type": "code", "client_id": "shop", "redirect_uri": SHOP_CB, "scope": "openid",
        "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})


def test_one_cookie_holds_one_place_however_often_it_replays(app: Flask) -> None:
    browser = app.test_client()
    url = _authorize_url()
    first = browser_get(browser, url)
    assert first.status_code == 200
    cookie = browser.get_cookie(COOKIE_NAME)
    assert cookie is not None
    for _ in range(20):
        assert browser.get(url).status_code == 200
        assert browser.get(_authorize_url()).status_code == 200  # a new state / PKCE pair: still the same place
    assert counters(app).last_position == 1
    # a replay from a fresh client carrying the same cookie value is the same browser
    replay = app.test_client()
    replay.set_cookie(COOKIE_NAME, cookie.value)
    for _ in range(5):
        assert replay.get(url).status_code == 200
    assert counters(app).last_position == 1
    # forged or malformed cookies are not a way around it: each one is a new browser, which gets a
    # real cookie first, and is rate limited
    forged = app.test_client()
    forged.set_cookie(COOKIE_NAME, "../../etc")
    assert forged.get(url).status_code == 303
    assert counters(app).last_position == 1
    assert browser_get(forged, url).status_code == 200
    assert counters(app).last_position == 2


def test_new_places_at_authorize_are_rate_limited_but_held_places_are_not(tmp_path: Path, clock: ManualClock) -> None:
    app = build(tmp_path, clock, server={"enter_rate_limit": "2/minute"})
    holder = app.test_client()
    url = _authorize_url()
    assert browser_get(holder, url).status_code == 200
    assert browser_get(app.test_client(), url).status_code == 200
    refused = browser_get(app.test_client(), url)  # a third browser from the same address
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "text/html" in refused.content_type and "try again" in refused.get_data(as_text=True)
    assert refused.headers["Content-Security-Policy"]
    for _ in range(5):  # the first browser keeps polling its place freely
        assert holder.get(url).status_code == 200
    assert counters(app).last_position == 2


def test_only_entries_that_could_take_a_place_count(tmp_path: Path, clock: ManualClock) -> None:
    """Under 3/minute a browser's three preflight + POST pairs give three places; preflights,
    unknown events and malformed entries use up nothing, and a preflight is never a 429."""
    origin = "https://shop.example"
    app = build(tmp_path, clock, server={"enter_rate_limit": "3/minute", "cors_origins": [origin]})
    client = app.test_client()
    here = {"REMOTE_ADDR": "198.51.100.70"}
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type, idempotency-key"}
    for _ in range(3):
        assert client.post("/assign_queue_num", json={"event_id": "no-such-event"}, environ_base=here,
                           headers={"Origin": origin}).status_code == 404
        assert client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": "short"},
                           environ_base=here).status_code == 400
        assert client.post("/assign_queue_num", data=b"{", environ_base=here).status_code == 400
    statuses = []
    for _ in range(3):
        statuses.append(client.options("/assign_queue_num", headers=preflight, environ_base=here).status_code)
        statuses.append(client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Origin": origin},
                                    environ_base=here).status_code)
    assert statuses == [200, 200] * 3
    for _ in range(5):
        preflighted = client.options("/assign_queue_num", headers=preflight, environ_base=here)
        assert preflighted.status_code == 200 and preflighted.headers["Access-Control-Allow-Origin"] == origin
    refused = client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Origin": origin},
                          environ_base=here)
    assert refused.status_code == 429  # the fourth real entry; readable by the page (CORS headers)
    assert refused.headers["Access-Control-Allow-Origin"] == origin
    assert counters(app).last_position == 3
