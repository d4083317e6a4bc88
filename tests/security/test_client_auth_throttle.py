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
    for n in range(limit + 30):  # from many addresses: the per-client count is what blocks
        assert _token(app, "shop", f"wrong-{n}", f"203.0.113.{n % 200}") == 401
    assert len(scrypt_calls) - checked == limit  # every attempt after the limit was refused unchecked
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
