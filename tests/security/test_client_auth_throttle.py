"""Wrong client secrets at ``/token`` cost little and are throttled: generated secrets have a fast
keyed hash, chosen ones a slow hash that is not computed once a client or an address has failed
too often; a legitimate client whose secret is checked cheaply is never locked out."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from flask import Flask

from oidc_adaptor.oidc import passwords
from oidc_adaptor.oidc.clients import CLIENT_NAMESPACE
from oidc_adaptor.plumbing.failed_auth import LIMITS

from .conftest import ADMIN_KEY, CLIENT_SECRET, EVENT, SHOP_CB, bearer, build


def _token(app: Flask, client_id: str, secret: str, address: str = "198.51.100.1") -> int:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = app.test_client().post("/token", data={
        "grant_type": "authorization_code", "code": "not-a-code", "redirect_uri": SHOP_CB,
    }, headers={"Authorization": f"Basic {basic}"}, environ_base={"REMOTE_ADDR": address})
    return response.status_code


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(passwords.hashlib, "scrypt", counting)
    monkeypatch.setattr(passwords, "_VERIFIED", {})
    return calls


def test_a_generated_secret_is_checked_without_the_slow_hash(app: Flask, scrypt_calls: list[int]) -> None:
    registered = app.test_client().post("/admin/clients", headers=bearer(ADMIN_KEY), json={
        "event": EVENT, "redirect_uris": [SHOP_CB]}).get_json()
    client_id, secret = registered["client_id"], registered["client_secret"]
    assert len(base64.urlsafe_b64decode(secret + "==")) == 32  # 256 random bits
    for n in range(5):
        assert _token(app, client_id, secret[:-1] + ("A" if secret[-1] != "A" else "B"), f"198.51.100.{n}") == 401
    assert _token(app, client_id, secret) == 400  # authenticated; the code is what is wrong
    assert scrypt_calls == []


def test_a_chosen_secret_hash_must_be_slow(app: Flask) -> None:
    _secret, fast = passwords.generate_secret()
    response = app.test_client().post("/admin/clients", headers=bearer(ADMIN_KEY), json={
        "event": EVENT, "redirect_uris": [SHOP_CB], "secret_hash": fast})
    assert response.status_code == 400
    chosen = app.test_client().post("/admin/clients", headers=bearer(ADMIN_KEY), json={
        "event": EVENT, "redirect_uris": [SHOP_CB], "secret": "a-secret-someone-chose-1"})
    assert chosen.status_code == 201
    stored = app.extensions["waitingroom"].store.get(CLIENT_NAMESPACE, chosen.get_json()["client_id"], 0)
    assert json.loads(stored)["secret_hash"].startswith("scrypt$")


def test_failures_per_client_stop_the_slow_hash(app: Flask, scrypt_calls: list[int]) -> None:
    assert _token(app, "shop", CLIENT_SECRET) == 400  # the right secret, verified once by this worker
    checked = len(scrypt_calls)
    limit = LIMITS["client"]
    for n in range(limit + 30):  # from five addresses, none at its own limit: the per-client count blocks
        assert _token(app, "shop", f"wrong-{n}", f"203.0.113.{n % 5}") == 401
    # after the limit, each address is refused unchecked from its next failure on: the one that
    # reached the limit at once, each of the four others after one more check
    assert len(scrypt_calls) - checked == limit + 4
    assert _token(app, "shop", CLIENT_SECRET) == 400  # the relying party itself is not locked out


def test_failures_per_address_stop_the_slow_hash(tmp_path: Path, scrypt_calls: list[int]) -> None:
    clients = {f"rp{i}": {"event": EVENT, "secret": f"secret-of-rp-{i}-0123456789", "redirect_uris": [SHOP_CB]}
               for i in range(3)}
    app = build(tmp_path, clients=clients)
    before = len(scrypt_calls)
    limit = LIMITS["client-address"]
    for n in range(limit + 30):  # spread over clients: the per-address count is what blocks
        assert _token(app, f"rp{n % 3}", f"wrong-{n}", "192.0.2.66") == 401
    assert len(scrypt_calls) - before == limit
    assert _token(app, "rp0", "secret-of-rp-0-0123456789", "192.0.2.99") == 400  # another address is checked


def test_failures_from_others_do_not_lock_out_the_relying_party(app: Flask, scrypt_calls: list[int]) -> None:
    """A client id is public (it is in every sign-in URL): wrong secrets sent for it from other
    addresses must not keep its own relying party out. A worker that has not verified the chosen
    secret yet (every worker after a restart) still checks it for an address that has not failed."""
    limit = LIMITS["client"]
    for n in range(limit + 10):
        assert _token(app, "shop", f"wrong-{n}", f"203.0.113.{n % 5}") == 401
    checked = len(scrypt_calls)
    assert _token(app, "shop", CLIENT_SECRET, "198.51.100.7") == 400  # authenticated; the code is what is wrong
    for n in range(10):  # the addresses that failed stay refused unchecked
        assert _token(app, "shop", f"again-{n}", f"203.0.113.{n % 5}") == 401
    assert len(scrypt_calls) == checked + 1


def test_blocks_from_many_addresses_stay_bounded_and_cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocked keys from more addresses than a worker remembers (an attacker with many IPv6 /64s):
    the worker's memory stays bounded, and it does not rescan every live block at every failure."""
    from oidc_adaptor.plumbing import failed_auth

    monkeypatch.setattr(failed_auth, "MAX_BLOCKED", 10)
    throttle = failed_auth.FailureThrottle(object(), b"salt")  # no incr: counts in this process
    scans = 0
    real_items = dict.items

    class CountingDict(dict):  # type: ignore[type-arg]
        def items(self):  # type: ignore[no-untyped-def]
            nonlocal scans
            scans += 1
            return real_items(self)

    monkeypatch.setattr(throttle, "_blocked", CountingDict())
    for n in range(100):
        throttle._blocked = CountingDict(throttle._blocked)
        for _ in range(LIMITS["admin-address"]):
            throttle.failed(1000.0, ("admin-address", f"2001:db8:{n:x}::/64"))
        assert len(throttle._blocked) <= 11
    assert scans <= 100 // 5  # at most once per five new blocks, not once per block past the limit
