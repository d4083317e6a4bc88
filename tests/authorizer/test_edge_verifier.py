"""The edge gate's pure-Python verifier and ``core.tokens.TokenVerifier`` accept exactly the same tokens.

Both apply :mod:`core.token_rules`; only the signature check differs (``rsa`` against PyJWT and
``cryptography``). Every token here is fed to both: the same claims come back, or the same reason.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import rsa
from cryptography.hazmat.primitives import serialization

from authorizer.edge_verifier import RsaTokenVerifier
from core.tokens import KeySet, SigningKey, TokenError, TokenVerifier

from .forge import b64, compact

ISS = "https://wait.example"
EVENT = "spring-sale"
NOW = time.time()


def now() -> int:
    """The clock when a token is made: tokens are made in the test, which may run minutes after collection."""
    return int(time.time())

KEYS = KeySet([SigningKey.generate(NOW)])
KEY = KEYS.keys[0]
OTHER_KEY = SigningKey.generate(NOW)
JWKS = {KEY.kid: KEY.public_jwk}


def claims(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"iss": ISS, "sub": "t_abc", "aud": EVENT, "iat": now(), "nbf": now(),
                              "exp": now() + 600, "jti": "j1", "event_id": EVENT, "queue_position": 3,
                              "token_use": "access"}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def signed(payload: dict[str, Any], key: SigningKey = KEY, **header: Any) -> str:
    return jwt.encode(payload, key.private_key, algorithm="RS256", headers={"kid": KEY.kid, **header})


def sha1_signed(payload: dict[str, Any]) -> str:
    """A valid PKCS#1 v1.5 signature by the right key, over SHA-1 instead of SHA-256."""
    pem = KEY.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption())
    header = {"alg": "RS256", "kid": KEY.kid, "typ": "JWT"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = rsa.sign(signing_input.encode(), rsa.PrivateKey.load_pkcs1(pem), "SHA-1")
    return f"{signing_input}.{b64(signature)}"


TOKENS: dict[str, Callable[[], str]] = {
    "genuine": lambda: signed(claims()),
    "audience in a list": lambda: signed(claims(aud=["other", EVENT])),
    "no nbf": lambda: signed(claims(nbf=None)),
    "expired": lambda: signed(claims(exp=now() - 600)),
    "expired within leeway": lambda: signed(claims(exp=now() - 10)),
    "not yet valid": lambda: signed(claims(nbf=now() + 600)),
    "issued in the future": lambda: signed(claims(iat=now() + 600, nbf=None)),
    "other issuer": lambda: signed(claims(iss="https://evil.example")),
    "other event": lambda: signed(claims(aud="summer-sale")),
    "no audience": lambda: signed(claims(aud=None)),
    "id token": lambda: signed(claims(token_use="id")),
    "no subject": lambda: signed(claims(sub=None)),
    "no exp": lambda: signed(claims(exp=None)),
    "exp as text": lambda: signed(claims(exp=str(now() + 600))),
    "exp as boolean": lambda: signed(claims(exp=True)),
    "other key, same kid": lambda: signed(claims(), OTHER_KEY),
    "unknown kid": lambda: signed(claims(), kid="made-up"),
    "no kid": lambda: compact({"alg": "RS256"}, claims(), b"x"),
    "alg none": lambda: compact({"alg": "none", "kid": KEY.kid}, claims(), ""),
    "HS256 with the public key": lambda: compact({"alg": "HS256", "kid": KEY.kid}, claims(), b"x" * 32),
    "tampered payload": lambda: ".".join([signed(claims()).split(".")[0], b64(json.dumps(claims(sub="t_x")).encode()),
                                          signed(claims()).split(".")[2]]),
    "SHA-1 signature": lambda: sha1_signed(claims()),
    "truncated signature": lambda: signed(claims())[:-8],
    "two segments": lambda: ".".join(signed(claims()).split(".")[:2]),
    "not base64": lambda: "%%%.%%%.%%%",
    "non-ASCII payload": lambda: f"{signed(claims()).split('.')[0]}.\u00e9t\u00e9.{signed(claims()).split('.')[2]}",
    "payload not an object": lambda: compact({"alg": "RS256", "kid": KEY.kid}, [], b"x"),  # type: ignore[arg-type]
}


PARSED_DIFFERENTLY = {"truncated signature", "two segments", "non-ASCII payload"}
"""Refused by both, PyJWT naming its own parsing error ("invalid token: DecodeError")."""


def outcome(verifier: Any, token: str) -> dict[str, Any] | str:
    try:
        return dict(verifier.verify(token))
    except TokenError as exc:
        return exc.reason


@pytest.mark.parametrize("name", TOKENS)
def test_both_verifiers_agree(name: str) -> None:
    token = TOKENS[name]()
    common: dict[str, Any] = {"issuer": ISS, "audience": EVENT, "leeway": 30, "required_use": "access"}
    reference = outcome(TokenVerifier(JWKS.get, **common), token)
    edge = outcome(RsaTokenVerifier(JWKS.get, **common), token)
    accepted = name in ("genuine", "audience in a list", "no nbf", "expired within leeway")
    assert isinstance(reference, dict) == accepted, reference
    if name in PARSED_DIFFERENTLY:
        # both refuse; PyJWT's wording depends on whether it notices while decoding or, for a
        # truncated signature that still decodes (rarely, by the signature's bytes), at the check
        assert isinstance(edge, str) and reference.startswith(("invalid token", "bad signature")), reference
    else:
        assert edge == reference


def test_a_key_shorter_than_2048_bits_is_refused() -> None:
    weak = rsa.newkeys(1024)[0]
    jwk = {"kty": "RSA", "kid": "weak", "n": b64(weak.n.to_bytes(128, "big")), "e": "AQAB"}
    verifier = RsaTokenVerifier({"weak": jwk}.get, issuer=ISS, audience=EVENT)
    with pytest.raises(TokenError, match="too weak"):
        verifier.verify(compact({"alg": "RS256", "kid": "weak"}, claims(), hashlib.sha256(b"x").digest()))
