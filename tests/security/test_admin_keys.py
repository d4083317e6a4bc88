"""The admin API: no key, a wrong key and a key for another event are all refused; keys are
compared in constant time; every admin action is logged with who, what and when, never the key."""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from pathlib import Path

import pytest
from flask import Flask

from core.settings import Settings, SettingsError
from oidc_adaptor.plumbing import auth
from oidc_adaptor.plumbing.failed_auth import LIMITS
from oidc_adaptor.plumbing.logging_setup import JsonFormatter

from ..support import write_config
from .conftest import ADMIN_KEY, EVENT, EVENT_KEY, OTHER, OTHER_KEY, bearer, counters

# (method, path, json body) of every admin endpoint, acting on EVENT
ADMIN_CALLS = [
    ("POST", "/admin/increment_serving_counter", {"event_id": EVENT, "increment_by": 1}),
    ("POST", "/admin/update_session", {"event_id": EVENT, "request_id": "x" * 32, "status": "completed"}),
    ("GET", f"/admin/expired_tokens?event_id={EVENT}", None),
    ("GET", f"/admin/num_active_tokens?event_id={EVENT}", None),
    ("POST", "/admin/reset_initial_state", {"event_id": EVENT}),
    ("POST", "/admin/generate_token", {"event_id": EVENT, "request_id": "x" * 32}),
    ("GET", f"/admin/events/{EVENT}/counts", None),
    ("POST", f"/admin/events/{EVENT}/pause", None),
    ("POST", f"/admin/events/{EVENT}/resume", None),
    ("POST", f"/admin/events/{EVENT}/admission", {"increment_by": 5}),
    ("POST", "/admin/sessions/end", {"event_id": EVENT, "jti": "j" * 22, "status": "completed"}),
]
GLOBAL_ONLY = [
    ("GET", "/admin/events", None),
    ("GET", "/admin/clients", None),
]


def _call(app: Flask, method: str, path: str, body: object, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    response = app.test_client().open(path, method=method, json=body, headers=headers)
    return response.status_code, dict(response.headers)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS + GLOBAL_ONLY)
def test_no_key_and_wrong_keys_are_refused(app: Flask, method: str, path: str, body: object) -> None:
    app.extensions["waitingroom"].room.enter(EVENT)
    before = counters(app)
    for headers in ({}, bearer("wrong"), bearer(ADMIN_KEY + "x"), bearer(ADMIN_KEY[:-1]), {"Authorization": ADMIN_KEY},
                    {"Authorization": f"Basic {ADMIN_KEY}"}, bearer(""), bearer(ADMIN_KEY.upper())):
        status, response_headers = _call(app, method, path, body, headers)
        assert status == 401, (path, headers, status)
        assert response_headers["WWW-Authenticate"].startswith("Bearer")
    assert counters(app) == before
    assert app.extensions["waitingroom"].room.is_paused(EVENT) is False


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_a_key_for_another_event_is_refused(app: Flask, method: str, path: str, body: object) -> None:
    app.extensions["waitingroom"].room.enter(EVENT)
    before = counters(app)
    status, _ = _call(app, method, path, body, bearer(OTHER_KEY))
    assert status == 401
    assert counters(app) == before
    # the event's own key and a global key get past authentication (whatever the endpoint answers then)
    for key in (EVENT_KEY, ADMIN_KEY):
        status, _ = _call(app, method, path, body, bearer(key))
        assert status != 401, (path, key)


@pytest.mark.parametrize(("method", "path", "body"), GLOBAL_ONLY)
def test_event_keys_cannot_use_deployment_wide_endpoints(app: Flask, method: str, path: str, body: object) -> None:
    assert _call(app, method, path, body, bearer(EVENT_KEY))[0] == 401
    assert _call(app, method, path, body, bearer(ADMIN_KEY))[0] != 401


@pytest.mark.parametrize(("method", "path", "body"), GLOBAL_ONLY)
def test_naming_its_own_event_does_not_open_a_listing_to_an_event_key(app: Flask, method: str, path: str,
                                                                      body: object) -> None:
    for suffix in (f"?event_id={EVENT}", f"?event_id={EVENT}&event={EVENT}"):
        assert _call(app, method, path + suffix, {"event_id": EVENT}, bearer(EVENT_KEY))[0] == 401


def test_an_event_key_acts_on_its_own_clients_only(app: Flask) -> None:
    """The scope check looks at the client's event, not at what the request names."""
    client = app.test_client()
    other = client.post("/admin/clients", json={"event": OTHER, "redirect_uris": ["https://b.example/cb"]},
                        headers=bearer(OTHER_KEY)).get_json()["client_id"]
    for suffix in ("", f"?event_id={EVENT}"):
        assert client.get(f"/admin/clients/{other}{suffix}", headers=bearer(EVENT_KEY)).status_code == 401
        assert client.delete(f"/admin/clients/{other}{suffix}", json={"event_id": EVENT},
                             headers=bearer(EVENT_KEY)).status_code == 401
    assert client.get(f"/admin/clients/{other}", headers=bearer(ADMIN_KEY)).status_code == 200  # still there
    assert client.get("/admin/clients/no-such-client", headers=bearer(EVENT_KEY)).status_code == 401
    # its own event's client: readable and deletable with the event's key
    own = client.post("/admin/clients", json={"event": EVENT, "redirect_uris": ["https://a.example/cb"]},
                      headers=bearer(EVENT_KEY)).get_json()["client_id"]
    assert client.get(f"/admin/clients/{own}", headers=bearer(EVENT_KEY)).status_code == 200
    assert client.get(f"/admin/clients/{own}", headers=bearer(OTHER_KEY)).status_code == 401
    assert client.delete(f"/admin/clients/{own}", headers=bearer(EVENT_KEY)).status_code == 204


def test_an_event_key_registers_clients_for_its_event_only(app: Flask) -> None:
    client = app.test_client()
    body = {"event": OTHER, "redirect_uris": ["https://x.example/cb"]}
    assert client.post("/admin/clients", json=body, headers=bearer(EVENT_KEY)).status_code == 401
    assert client.post("/admin/clients", json=body, headers=bearer(OTHER_KEY)).status_code == 201


def test_an_event_key_cannot_reach_another_event_by_naming_both(app: Flask) -> None:
    client = app.test_client()
    path = f"/admin/num_active_tokens?event_id={EVENT}&event_id={OTHER}"
    assert client.get(path, headers=bearer(EVENT_KEY)).status_code == 401
    r = client.post(f"/admin/events/{OTHER}/pause", json={"event_id": EVENT}, headers=bearer(EVENT_KEY))
    assert r.status_code == 401
    assert app.extensions["waitingroom"].room.is_paused(OTHER) is False
    r = client.post("/admin/increment_serving_counter", data=b'{"event_id": "spring-sale", "event_id": "autumn-sale"}',
                    headers={**bearer(EVENT_KEY), "Content-Type": "application/json"})
    assert r.status_code == 401  # JSON with a repeated name: the last one counts, and it is another event


def test_every_key_is_compared_in_full_whichever_matches(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit: the number of constant-time comparisons and their input lengths do not
    depend on the presented key, so timing reveals neither which key matched nor its length."""
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    seen = []
    for presented in (ADMIN_KEY, EVENT_KEY, OTHER_KEY, "wrong", "w" * 5000):
        calls.clear()
        with app.test_request_context(headers=bearer(presented)):
            auth.match_admin_key(presented)
        seen.append(list(calls))
    assert all(c == seen[0] for c in seen)
    assert len(seen[0]) == 3 and {n for pair in seen[0] for n in pair} == {32}


def test_admin_actions_are_logged_with_who_what_when_and_no_secret(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    room = app.extensions["waitingroom"].room
    place = room.enter(EVENT)
    client = app.test_client()
    with caplog.at_level(logging.DEBUG):
        client.post("/admin/increment_serving_counter", json={"event_id": EVENT, "increment_by": 1},
                    headers=bearer(EVENT_KEY))
        client.post(f"/admin/events/{EVENT}/pause", headers=bearer(ADMIN_KEY))
        client.post("/admin/generate_token", json={"event_id": EVENT, "request_id": place.request_id},
                    headers=bearer(ADMIN_KEY))
        client.post(f"/admin/events/{OTHER}/pause", headers=bearer(EVENT_KEY))
        client.post(f"/admin/events/{OTHER}/pause", headers=bearer("not-a-key"))
    formatter = JsonFormatter()
    entries = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "waitingroom.admin"]
    actions = [(e.get("action"), e.get("admin_key"), e.get("event_id")) for e in entries if e.get("action")]
    assert ("increment_serving_counter", f"#{EVENT}/0", EVENT) in actions
    assert ("pause", "#0", EVENT) in actions
    assert ("generate_token", "#0", EVENT) in actions
    assert all(e["time"] and e["level"] for e in entries)  # when
    refusals = [e for e in entries if "refused" in e["message"]]
    assert len(refusals) == 2 and refusals[0]["admin_key"] == f"#{EVENT}/0"
    text = caplog.text + "\n".join(json.dumps(e) for e in entries)
    for secret in (ADMIN_KEY, EVENT_KEY, OTHER_KEY, "not-a-key", place.request_id):
        assert secret not in text


def test_event_admin_keys_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "wr.toml"
    config.write_text('[server]\nadmin_keys = ["g"]\n[events.a]\nadmin_keys = ["ka1", "ka2"]\n[events.b]\n')
    settings = Settings.load(config, environ={"WAITINGROOM_EVENTS__B__ADMIN_KEYS": '["kb"]'})
    assert settings.event_admin_keys == {"a": ("ka1", "ka2"), "b": ("kb",)}
    assert "ka1" not in repr(settings)
    with pytest.raises(SettingsError, match="admin_keys"):
        Settings.from_mapping({"events": {"a": {"admin_keys": [1]}}})
    with pytest.raises(SettingsError, match="admin_keys"):
        Settings.from_mapping({"events": {"a": {"admin_keys": [""]}}})


def test_only_event_keys_still_enable_the_admin_api_for_that_event(tmp_path: Path) -> None:
    from .conftest import build

    app = build(tmp_path, server={"admin_keys": []})
    r = app.test_client().get(f"/admin/events/{EVENT}/counts", headers=bearer(EVENT_KEY))
    assert r.status_code == 200
    assert app.test_client().get("/admin/events", headers=bearer(EVENT_KEY)).status_code == 401


@pytest.mark.parametrize("key", ["change-me", "CHANGE-ME", "x", "admin", "short-key-1", "a" * 64, "0123456789abcdef"])
def test_check_config_and_serve_refuse_weak_admin_keys(tmp_path: Path, key: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from oidc_adaptor.entrypoints import cli

    for where in ({"server": {"admin_keys": [key]}}, {"server": {}, "events": {"e": {"admin_keys": [key]}}}):
        config = write_config(tmp_path / "wr.toml", {"events": {"e": {}}, **where})  # type: ignore[dict-item]
        assert cli.main(["check-config", "--config", str(config)]) == cli.EXIT_CONFIG
        assert cli.main(["serve", "--config", str(config), "--port", "1"]) == cli.EXIT_CONFIG  # refused before start
        err = capsys.readouterr().err
        assert "admin_keys[0]" in err and "128" in err and key not in err.replace("admin_keys", "")
    allowed = write_config(tmp_path / "ok.toml", {"server": {"admin_keys": [key], "allow_weak_admin_keys": True}})
    assert cli.main(["check-config", "--config", str(allowed)]) == cli.EXIT_OK


def test_strong_admin_keys_pass() -> None:
    import secrets

    from core.settings import check_admin_key_strength

    for key in (secrets.token_urlsafe(32), secrets.token_hex(16), ADMIN_KEY, str(uuid.uuid4()) + "-x"):
        check_admin_key_strength(Settings.from_mapping({"server": {"admin_keys": [key]}}))


def test_failed_admin_keys_are_throttled_per_address(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[int] = []
    real = auth.match_admin_key
    monkeypatch.setattr(auth, "match_admin_key", lambda presented: compared.append(1) or real(presented))
    client = app.test_client()
    limit = LIMITS["admin-address"]
    here = {"REMOTE_ADDR": "198.51.100.7"}
    statuses = [client.get("/admin/events", headers=bearer(f"guess-{n}"), environ_base=here).status_code
                for n in range(limit + 20)]
    assert statuses == [401] * limit + [429] * 20
    assert len(compared) == limit  # past the limit, guesses are not even compared
    refused = client.get("/admin/events", headers=bearer(ADMIN_KEY), environ_base=here)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json["error"] == "too_many_failures"
    # another address is not affected; requests without a key guess nothing and count nothing
    assert client.get("/admin/events", headers=bearer(ADMIN_KEY),
                      environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 200
    for _ in range(limit + 5):
        assert client.get("/admin/events", environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 401
    assert client.get("/admin/events", headers=bearer(ADMIN_KEY),
                      environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 200
