"""Tokens of the waiting room verify with independent JWT libraries, using the JWKS it serves."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from .conftest import EVENT, RunningRoom


def served_jwks(room: RunningRoom) -> dict[str, object]:
    with urllib.request.urlopen(room.jwks_url, timeout=5) as response:
        document: dict[str, object] = json.load(response)
    return document


def test_jwcrypto_verifies_a_waiting_room_token(waiting_room: RunningRoom) -> None:
    from jwcrypto import jwk, jwt

    issued, _ = waiting_room.tokens()
    keys = jwk.JWKSet.from_json(json.dumps(served_jwks(waiting_room)))
    checked = jwt.JWT(jwt=issued.access_token, key=keys, algs=["RS256"],
                      check_claims={"iss": waiting_room.url, "aud": EVENT, "exp": None, "nbf": None})
    claims = json.loads(checked.claims)
    assert claims["sub"] == issued.ticket.ticket_id
    assert claims["token_use"] == "access"


def test_python_jose_verifies_a_waiting_room_token(waiting_room: RunningRoom) -> None:
    from jose import jwt

    issued, _ = waiting_room.tokens()
    claims = jwt.decode(issued.access_token, served_jwks(waiting_room), algorithms=["RS256"],
                        audience=EVENT, issuer=waiting_room.url)
    assert claims["sub"] == issued.ticket.ticket_id
    assert claims["queue_position"] == issued.ticket.position


def test_joserfc_verifies_a_waiting_room_token(waiting_room: RunningRoom) -> None:
    from joserfc import jwt
    from joserfc.jwk import KeySet

    issued, _ = waiting_room.tokens()
    keys = KeySet.import_key_set(served_jwks(waiting_room))  # type: ignore[arg-type]
    token = jwt.decode(issued.access_token, keys, algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(
        now=int(time.time()),
        iss={"essential": True, "value": waiting_room.url},
        aud={"essential": True, "value": EVENT},
        sub={"essential": True},
        exp={"essential": True},
    )
    registry.validate(token.claims)
    assert token.header["kid"] == keys.keys[0].kid


def test_the_libraries_also_refuse_a_tampered_token(waiting_room: RunningRoom) -> None:
    from jose import JWTError
    from jose import jwt as jose_jwt
    from jwcrypto import jwk
    from jwcrypto import jwt as jwcrypto_jwt
    from jwcrypto.common import JWException

    from . import forge

    token = forge.tampered(waiting_room.access_token())
    document = served_jwks(waiting_room)
    with pytest.raises(JWTError):
        jose_jwt.decode(token, document, algorithms=["RS256"], audience=EVENT)
    with pytest.raises(JWException):  # with a key set, a bad signature reads as 'no key verifies'
        jwcrypto_jwt.JWT(jwt=token, key=jwk.JWKSet.from_json(json.dumps(document)), algs=["RS256"])
