"""Sealed authorization codes: the code carries its own record, sealed under a key derived
from the signing key; the store learns of a code only when it is redeemed.

A code that does not open (changed, another client, verifier or redirect URI, a key no longer
published) is ``invalid_grant`` and leaves the store as it was, so the rightful client redeems
it afterwards; keys rotate without breaking a code in flight."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask

from core.adapters.filekeys import FileKeySource
from core.clock import ManualClock
from core.model import Status
from core.tokens import KeySet, SigningKey
from oidc_adaptor.app import create_app
from oidc_adaptor.oidc.codes import CODE_NAMESPACE, CODE_TTL, MAX_CARRIED
from oidc_adaptor.plumbing import counter_cache
from tests.conftest import make_settings

from .conftest import CLIENTS, SECRET, Flow, redirect_params
from .helpers import EVENT, pkce_pair

MAX_CODE_LENGTH = 400
"""The bound for a typical request's code: it travels in a URL, often in a Location header."""


class Keys:
    """A key set that a test can rotate, as ``waitingroom keys rotate`` does to the key file."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.keyset = KeySet([SigningKey.generate(clock.now())])

    def __call__(self) -> KeySet:
        return self.keyset

    def rotate(self, keep_old_for: float) -> None:
        self.keyset = self.keyset.rotated(self.clock.now(), activate_after=0, keep_old_for=keep_old_for)


@pytest.fixture
def keys(clock: ManualClock) -> Keys:
    return Keys(clock)


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock, keys: Keys) -> Flask:
    return create_app(make_settings(tmp_path, clients=CLIENTS), clock=clock, keyset=keys, start_scheduler=False)


def admitted_code(flow: Flow, **extra: Any) -> str:
    assert flow.authorize(**extra).status_code == 200
    flow.admit()
    return flow.code(**extra)


def code_records(tmp_path: Path) -> list[tuple[str, str]]:
    """The code records in the SQLite store: (key, value) of each."""
    with sqlite3.connect(tmp_path / "state.db") as db:
        return db.execute("SELECT key, value FROM kv WHERE namespace = ?", (CODE_NAMESPACE,)).fetchall()


def refused(response: Any) -> bool:
    return response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def changed_at(code: str, index: int) -> str:
    """``code`` with the character at ``index`` replaced by another base64url character."""
    other = "A" if code[index] != "A" else "B"
    return code[:index] + other + code[index + 1:]


def test_issuing_a_code_stores_nothing_and_its_redemption_stores_no_code(flow: Flow, tmp_path: Path) -> None:
    code = admitted_code(flow)
    assert code_records(tmp_path) == []  # /authorize wrote nothing for the code
    response = flow.redeem(code)
    assert response.status_code == 200
    ((key, value),) = code_records(tmp_path)  # the redemption, recorded for replay detection
    assert code not in key and code not in value
    assert code.rsplit(".", 1)[1] not in value  # nor its sealed part
    # The code carries the place's request id encrypted only: not readable from the code.
    request_id = flow.room.session_ticket(EVENT, _jti(response.get_json()["access_token"])).request_id
    sealed = code.rsplit(".", 1)[1]
    assert request_id not in code
    assert request_id.encode() not in base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))


def test_a_code_changed_in_one_character_is_refused_and_burns_nothing(flow: Flow, tmp_path: Path) -> None:
    code = admitted_code(flow)
    version_kid, _, sealed = code.rpartition(".")
    # The sealed part at its start (the nonce), middle (the record) and end (the tag), and the kid.
    for index in (len(version_kid) + 1, len(version_kid) + 1 + len(sealed) // 2, len(code) - 2, 3):
        assert refused(flow.redeem(changed_at(code, index))), index
    assert refused(flow.redeem("2" + code[1:]))  # another format version
    assert refused(flow.redeem(code[:-4]))  # cut short
    assert refused(flow.redeem(code + "AAAA"))  # lengthened
    assert code_records(tmp_path) == []  # none of them reached the store
    assert flow.redeem(code).status_code == 200  # the code itself is still good


def test_a_code_opens_only_for_its_client_verifier_and_redirect_uri(app: Flask, tmp_path: Path) -> None:
    flow = Flow(app)
    code = admitted_code(flow)
    thief = Flow(app, "proxy")  # another confidential client of the same event
    assert refused(thief.redeem(code, verifier=flow.verifier))
    spa = Flow(app, "spa")
    assert refused(spa.redeem(code, secret=None, redirect_uri=flow.redirect_uri, verifier=flow.verifier))
    assert refused(flow.redeem(code, verifier=pkce_pair()[0]))
    assert refused(flow.redeem(code, redirect_uri="https://shop.example/other"))
    assert code_records(tmp_path) == []
    assert flow.redeem(code).status_code == 200


def test_an_expired_code_is_refused_but_its_replay_after_expiry_still_revokes(flow: Flow, clock: ManualClock,
                                                                             tmp_path: Path) -> None:
    unused = admitted_code(flow)
    clock.advance(CODE_TTL)
    assert refused(flow.redeem(unused))
    assert code_records(tmp_path) == []  # an expired code records nothing
    code = flow.code()
    tokens = flow.redeem(code).get_json()
    clock.advance(CODE_TTL + 1)
    assert refused(flow.redeem(code))  # a replay after the code's own expiry is still a replay
    info = flow.app.test_client().get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401
    ticket = flow.room.ticket(EVENT, flow.room.session_ticket(EVENT, _jti(tokens["access_token"])).request_id)
    assert ticket.status is Status.ABANDONED


def test_a_code_from_the_future_is_refused(flow: Flow, clock: ManualClock) -> None:
    """A code made more than the allowed clock skew ahead of this worker's clock: not ours to trust."""
    code = admitted_code(flow)
    clock.advance(-30)
    assert refused(flow.redeem(code))
    clock.advance(30)
    assert flow.redeem(code).status_code == 200


def test_a_code_sealed_before_a_rotation_still_redeems(flow: Flow, keys: Keys) -> None:
    code = admitted_code(flow)
    old_kid = keys().current(keys.clock.now()).kid
    keys.rotate(keep_old_for=3600)
    assert keys().current(keys.clock.now()).kid != old_kid  # the new key signs (and seals) now
    assert code.split(".")[1] == old_kid
    assert flow.redeem(code).status_code == 200
    assert flow.code().split(".")[1] != old_kid  # a new code is sealed under the new key


def test_a_code_whose_key_is_no_longer_published_or_unknown_is_refused(flow: Flow, keys: Keys,
                                                                       clock: ManualClock) -> None:
    code = admitted_code(flow)
    version, kid, sealed = code.split(".")
    assert refused(flow.redeem(f"{version}.{'x' * len(kid)}.{sealed}"))  # a kid we never had
    keys.rotate(keep_old_for=5)
    new_kid = keys().current(clock.now()).kid
    assert refused(flow.redeem(f"{version}.{new_kid}.{sealed}"))  # a published kid, but not the one that sealed it
    clock.advance(6)  # the old key leaves the key set: codes sealed under it open no more
    assert refused(flow.redeem(code))


def test_a_typical_code_is_short_enough_for_a_url(flow: Flow) -> None:
    code = admitted_code(flow, scope="openid email", nonce=base64.urlsafe_b64encode(b"n" * 32).decode())
    assert len(code) < MAX_CODE_LENGTH, len(code)
    assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    again = flow.code(scope="openid email", nonce=base64.urlsafe_b64encode(b"n" * 32).decode())
    assert again != code  # a fresh code id and nonce each time


def _jti(access_token: str) -> str:
    import jwt

    return str(jwt.decode(access_token, options={"verify_signature": False})["jti"])


def test_the_secret_is_checked_before_the_code(flow: Flow, tmp_path: Path) -> None:
    """A client that fails authentication learns nothing of the code and burns nothing."""
    code = admitted_code(flow)
    response = flow.redeem(code, secret=SECRET + "-wrong")
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert code_records(tmp_path) == []
    assert flow.redeem(code).status_code == 200


def test_a_code_spelled_another_way_is_refused(flow: Flow, tmp_path: Path) -> None:
    """One code, one spelling: characters base64 decoding would skip (outside the alphabet,
    padding) or bits it would ignore (the last character's) give another string, and another
    string is another code, refused like any changed one."""
    code = admitted_code(flow)
    head, _, sealed = code.rpartition(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(sealed[-1])
    unused_bits = {2: 4, 3: 2}.get(len(sealed) % 4, 0)  # bits of the last character no byte uses
    spellings = [
        f"{head}.{sealed[:10]}!{sealed[10:]}",  # a character outside the alphabet, skipped by b64decode
        f"{head}.{sealed[:10]}~{sealed[10:]}",
        f"{head}.{sealed}{'=' * (-len(sealed) % 4 or 4)}",  # padding
        f"{head}.{sealed[:-1]}{alphabet[last ^ 1]}" if unused_bits else f"{head}.{sealed[:10]}+{sealed[10:]}",
    ]
    for spelling in spellings:
        assert spelling != code
        assert refused(flow.redeem(spelling)), spelling
    assert code_records(tmp_path) == []
    assert flow.redeem(code).status_code == 200


@pytest.mark.parametrize("garbage", [
    "1", "1.", "1..", "1.kid.", ".x.y", "1.kid.A", "1.kid.!!!!", "1.kid.====", "1.kid.A=AA", "0" * 64,
    "1." + "k" * 5000 + ".AAAA", "1.kid." + "A" * 15_000, "1.kid." + "Ab" * 24, "1.kid.AAAA.AAAA",
])
def test_a_garbage_code_is_invalid_grant(flow: Flow, tmp_path: Path, garbage: str) -> None:
    """Whatever printable text the token request names as the code, at any length the body
    limit lets through: 400 invalid_grant, never an error of the server, nothing stored."""
    admitted_code(flow)
    response = flow.redeem(garbage)
    assert refused(response), (response.status_code, response.get_data(as_text=True)[:300])
    assert code_records(tmp_path) == []


@pytest.mark.parametrize("garbage", ["1.\u00e9.AAAA", "1.kid.AAAA\u00e9", "\u2028", "1.kid.\x00AAAA"])
def test_a_code_outside_printable_ascii_is_invalid_request(flow: Flow, garbage: str) -> None:
    """RFC 6749 appendix A.11: a code is printable ASCII; anything else is a malformed request."""
    admitted_code(flow)
    response = flow.redeem(garbage)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_a_code_over_the_body_limit_is_413(flow: Flow) -> None:
    admitted_code(flow)
    response = flow.redeem("1.kid." + "A" * 200_000)
    assert response.status_code == 413 and response.get_json()["error"] == "request_entity_too_large"


def test_a_key_rotated_in_to_sign_at_once_is_known_to_every_worker(tmp_path: Path, clock: ManualClock) -> None:
    """``waitingroom keys rotate --activate-after 0``: the new key signs at once. A worker that
    has seen the rotation seals codes and signs tokens under it while another has not looked at
    the key file again yet (it does at most once a second): that one still redeems the code and
    verifies the token, looking at the file again for a kid it does not know."""
    still = lambda: 0.0  # noqa: E731 - each worker's clock of the key file: its second never ends
    keys_file = tmp_path / "keys.json"
    FileKeySource(keys_file).ensure(clock.now())
    settings = make_settings(tmp_path, clients=CLIENTS)
    sources = [FileKeySource(keys_file, monotonic=still) for _ in range(3)]
    first, second, third = (create_app(settings, clock=clock, keyset=source, start_scheduler=False)
                            for source in sources)
    old_kid = sources[0]().current(clock.now()).kid  # every worker has read the file
    assert all(source().current(clock.now()).kid == old_kid for source in sources)
    FileKeySource(keys_file).rotate(clock.now(), activate_after=0, keep_old_for=3600)  # the command
    new_kid = sources[0].refresh().current(clock.now()).kid  # the first worker has looked again
    assert new_kid != old_kid and sources[1]().current(clock.now()).kid == old_kid

    flow = Flow(first)
    code = admitted_code(flow)
    assert code.split(".")[1] == new_kid
    flow.app = second  # the relying party's token request reaches the other worker
    assert flow.redeem(code).status_code == 200

    flow.app = first
    tokens = flow.redeem(flow.code()).get_json()
    assert jwt.get_unverified_header(tokens["access_token"])["kid"] == new_kid
    assert sources[2]().current(clock.now()).kid == old_kid
    info = third.test_client().get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200, info.get_data(as_text=True)


def test_a_code_issued_before_a_reset_of_the_event_is_refused(flow: Flow, tmp_path: Path) -> None:
    """A reset forgets every place: a code still in flight names a place that is no more. It is
    invalid_grant (never a server error), records nothing, and gives no session to anyone."""
    code = admitted_code(flow)
    flow.room.reset(EVENT)
    counter_cache.for_app(flow.app).counters_changed(EVENT)
    response = flow.redeem(code)
    assert refused(response), response.get_data(as_text=True)
    assert code_records(tmp_path) == []
    assert flow.room.counters(EVENT).issued == 0


@pytest.mark.parametrize("name", ["nonce", "scope"])
def test_a_nonce_or_scope_too_long_for_a_code_is_refused_before_the_line(flow: Flow, name: str) -> None:
    """A code carries the request's nonce and scope: one too long for the redirect URL and the
    token request's body (a 12,000-character nonce made a 16 KB code, refused at /token with 413
    after the visitor's whole wait) is refused at once, to the relying party, as invalid_request,
    and nobody is put in line. The longest allowed still completes the flow."""
    too_long = "openid " + "x" * MAX_CARRIED if name == "scope" else "n" * (MAX_CARRIED + 1)
    response = flow.authorize(**{name: too_long})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    params = redirect_params(response)
    assert params["error"] == "invalid_request" and "code" not in params
    assert flow.room.counters(EVENT).last_position == 0
    longest = "n" * MAX_CARRIED
    code = admitted_code(flow, nonce=longest)
    tokens = flow.redeem(code).get_json()
    assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["nonce"] == longest
