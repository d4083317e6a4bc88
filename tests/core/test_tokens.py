"""core/tokens.py: RS256 with a kid, a JWKS with several keys, rotation, and strict verification."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import jwt
import pytest

from core.tokens import (
    KeySet,
    RememberingVerifier,
    SigningKey,
    TokenError,
    TokenSigner,
    TokenVerifier,
    at_hash,
    session_claims,
)

NOW = 1_800_000_000.0
ISS = "https://wait.example"


def claims(now: float = NOW, use: str = "access", **extra: Any) -> dict[str, Any]:
    return session_claims(issuer=ISS, audience="sale", subject="t_abc", event_id="sale", queue_position=7,
                          jti="j1", issued_at=int(now), expires_at=int(now) + 600, token_use=use, extra=extra)


def verifier_for(keyset: KeySet, now: float = NOW, **kw: Any) -> TokenVerifier:
    jwks = {k["kid"]: k for k in keyset.jwks(now)["keys"]}
    kw.setdefault("leeway", 10**10)  # the tokens carry a fixed future time; expiry is tested apart
    return TokenVerifier(jwks.get, issuer=ISS, audience="sale", **kw)


def test_sign_and_verify(keyset: KeySet) -> None:
    token = TokenSigner(lambda: keyset, lambda: NOW).sign(claims())
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == keyset.keys[0].kid
    got = verifier_for(keyset).verify(token)
    assert (got["sub"], got["queue_position"], got["token_use"], got["jti"]) == ("t_abc", 7, "access", "j1")
    assert set(claims()) >= {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "event_id", "queue_position", "token_use"}
    assert claims(use="id")["jti"] == "j1.id"


def test_kid_is_the_rfc7638_thumbprint(keyset: KeySet) -> None:
    jwk = keyset.keys[0].public_jwk
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":")).encode()
    assert jwk["kid"] == base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).decode().rstrip("=")
    assert set(jwk) == {"kty", "use", "alg", "kid", "n", "e"}  # public parts only


def test_rotation_publishes_first_signs_later_and_retires_old_keys(keyset: KeySet) -> None:
    old = keyset.keys[0]
    rotated = keyset.rotated(NOW, activate_after=300, keep_old_for=3600)
    new = rotated.keys[-1]
    assert new.kid != old.kid
    assert {k["kid"] for k in rotated.jwks(NOW)["keys"]} == {old.kid, new.kid}  # published before use
    assert rotated.current(NOW + 299).kid == old.kid
    assert rotated.current(NOW + 300).kid == new.kid
    old_token = TokenSigner(lambda: rotated, lambda: NOW).sign(claims())
    new_token = TokenSigner(lambda: rotated, lambda: NOW + 300).sign(claims())
    during = verifier_for(rotated, NOW + 3000)
    assert during.verify(old_token)["sub"] == during.verify(new_token)["sub"] == "t_abc"
    assert [k["kid"] for k in rotated.jwks(NOW + 300 + 3600)["keys"]] == [new.kid]
    with pytest.raises(TokenError, match="unknown kid"):
        verifier_for(rotated, NOW + 300 + 3600).verify(old_token)
    again = rotated.rotated(NOW + 5000, activate_after=0, keep_old_for=60)
    assert old.kid not in {k.kid for k in again.keys}  # past retirement: dropped from the file too


def test_keyset_survives_json(keyset: KeySet) -> None:
    rotated = keyset.rotated(NOW, 10, 20)
    back = KeySet.from_json(rotated.to_json())
    assert [(k.kid, k.not_before, k.retire_at) for k in back.keys] == [
        (k.kid, k.not_before, k.retire_at) for k in rotated.keys
    ]
    assert back.jwks(NOW) == rotated.jwks(NOW)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_alg_none_is_rejected(keyset: KeySet) -> None:
    forged = f"{_b64({'alg': 'none', 'kid': keyset.keys[0].kid})}.{_b64(claims())}."
    with pytest.raises(TokenError, match="not accepted"):
        verifier_for(keyset).verify(forged)


def test_hs256_signed_with_the_public_key_is_rejected(keyset: KeySet) -> None:
    secret = keyset.keys[0].public_pem.encode()
    header = {"alg": "HS256", "kid": keyset.keys[0].kid}
    import hmac

    signing_input = f"{_b64(header)}.{_b64(claims())}"
    sig = base64.urlsafe_b64encode(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()).decode()
    forged = f"{signing_input}.{sig.rstrip('=')}"
    with pytest.raises(TokenError, match="not accepted"):
        verifier_for(keyset).verify(forged)


def test_a_key_outside_the_jwks_is_rejected(keyset: KeySet) -> None:
    stranger = KeySet([SigningKey.generate(NOW)])
    token = TokenSigner(lambda: stranger, lambda: NOW).sign(claims())
    with pytest.raises(TokenError, match="unknown kid"):
        verifier_for(keyset).verify(token)
    # The same token with our kid in the header: the signature does not match our key.
    resigned = jwt.encode(claims(), stranger.keys[0].private_key, algorithm="RS256",
                          headers={"kid": keyset.keys[0].kid})
    with pytest.raises(TokenError, match="bad signature"):
        verifier_for(keyset).verify(resigned)


def test_tampered_payload_is_rejected(keyset: KeySet) -> None:
    token = TokenSigner(lambda: keyset, lambda: NOW).sign(claims())
    header, _, sig = token.split(".")
    with pytest.raises(TokenError):
        verifier_for(keyset).verify(f"{header}.{_b64(claims(queue_position=1))}.{sig}")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"issuer": "https://evil.example"}, "wrong issuer"),
        ({"audience": "other-event"}, "wrong audience"),
        ({"required_use": "id"}, "wrong token_use"),
    ],
)
def test_claims_are_checked(keyset: KeySet, kwargs: dict[str, Any], reason: str) -> None:
    token = TokenSigner(lambda: keyset, lambda: NOW).sign(claims())
    jwks = {k["kid"]: k for k in keyset.jwks(NOW)["keys"]}
    options: dict[str, Any] = {"issuer": ISS, "audience": "sale", "leeway": 10**10, **kwargs}
    with pytest.raises(TokenError, match=reason):
        TokenVerifier(jwks.get, **options).verify(token)


def test_expired_and_not_yet_valid_tokens_are_rejected(keyset: KeySet) -> None:
    import time

    now = time.time()
    sign = TokenSigner(lambda: keyset, lambda: now).sign
    jwks = {k["kid"]: k for k in keyset.jwks(now)["keys"]}
    strict = TokenVerifier(jwks.get, issuer=ISS, audience="sale", leeway=0)
    assert strict.verify(sign(claims(now)))["sub"] == "t_abc"
    with pytest.raises(TokenError, match="expired"):
        strict.verify(sign(claims(now - 700)))
    with pytest.raises(TokenError, match="not yet valid"):
        strict.verify(sign(claims(now + 100)))


def test_a_key_is_built_once_per_kid_and_again_when_its_numbers_change(
        keyset: KeySet, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real = jwt.PyJWK

    def counting(data: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        built.append(data["kid"])
        return real(data, *args, **kwargs)

    monkeypatch.setattr(jwt, "PyJWK", counting)
    kid = keyset.keys[0].kid
    jwks = {kid: dict(keyset.jwks(NOW)["keys"][0])}
    verifier = TokenVerifier(jwks.get, issuer=ISS, audience="sale", leeway=10**10)
    token = TokenSigner(lambda: keyset, lambda: NOW).sign(claims())
    for _ in range(3):
        assert verifier.verify(token)["sub"] == "t_abc"
    assert built == [kid]
    # The same kid now names other numbers (a JWKS that changed under it): the old key is not reused.
    other = KeySet([SigningKey.generate(NOW)])
    jwks[kid] = {**other.jwks(NOW)["keys"][0], "kid": kid}
    with pytest.raises(TokenError, match="bad signature"):
        verifier.verify(token)
    assert built == [kid, kid]
    resigned = jwt.encode(claims(), other.keys[0].private_key, algorithm="RS256", headers={"kid": kid})
    assert verifier.verify(resigned)["sub"] == "t_abc"


class CountingVerifier(TokenVerifier):
    """A TokenVerifier that counts the signature checks it makes."""

    checks = 0

    def verify(self, token: str) -> dict[str, Any]:
        self.checks += 1
        return super().verify(token)


def test_remembering_verifier_checks_each_token_string_once(keyset: KeySet) -> None:
    import time

    now = time.time()
    jwks = {k["kid"]: k for k in keyset.jwks(now)["keys"]}
    inner = CountingVerifier(jwks.get, issuer=ISS, audience="sale", leeway=0)
    verifier = RememberingVerifier(inner, capacity=1)
    sign = TokenSigner(lambda: keyset, lambda: now).sign
    token = sign(claims(now))
    for _ in range(3):
        got = verifier.verify(token)
        assert got["sub"] == "t_abc"
        got["sub"] = "changed by the caller"
    assert inner.checks == 1
    # Another string is checked in full: a tampered payload under the same signature fails.
    header, _, sig = token.split(".")
    with pytest.raises(TokenError):
        verifier.verify(f"{header}.{_b64(claims(now, queue_position=1))}.{sig}")
    # A token this process signed is known without a check; its claim rules still run every time.
    own_claims = claims(now, jti="j2")
    own = sign(own_claims)
    verifier.remember_signed(own, own_claims)
    assert verifier.verify(own)["jti"] == "j2" and inner.checks == 2
    # The first token was forgotten (capacity 1): it is checked again.
    assert verifier.verify(token)["sub"] == "t_abc" and inner.checks == 3


def test_a_remembered_token_still_expires_and_is_then_forgotten(keyset: KeySet) -> None:
    import time

    now = time.time()
    jwks = {k["kid"]: k for k in keyset.jwks(now)["keys"]}
    inner = CountingVerifier(jwks.get, issuer=ISS, audience="sale", leeway=0)
    verifier = RememberingVerifier(inner)
    old = claims(now - 700)  # expired 100 s ago
    token = TokenSigner(lambda: keyset, lambda: now - 700).sign(old)
    verifier.remember_signed(token, old)
    with pytest.raises(TokenError, match="expired"):
        verifier.verify(token)
    with pytest.raises(TokenError, match="expired"):  # forgotten: the full check refuses it too
        verifier.verify(token)
    assert inner.checks == 1
    wrong_use = claims(now, use="id")
    id_token = TokenSigner(lambda: keyset, lambda: now).sign(wrong_use)
    verifier.remember_signed(id_token, wrong_use)
    with pytest.raises(TokenError, match="wrong token_use"):
        verifier.verify(id_token)


def test_garbage_is_a_token_error(keyset: KeySet) -> None:
    for junk in ("", "a.b", "not-a-jwt", "....", f"{_b64({'alg': 'RS256'})}.{_b64({})}.x", "bm90IGpzb24.e30.x",
                 f"{_b64([1, 2])}.e30.x", "A" * 5000, None, 7):  # type: ignore[list-item]
        with pytest.raises(TokenError):
            verifier_for(keyset).verify(junk)  # type: ignore[arg-type]


def test_at_hash_matches_the_oidc_definition() -> None:
    digest = hashlib.sha256(b"token-value").digest()[:16]
    assert at_hash("token-value") == base64.urlsafe_b64encode(digest).decode().rstrip("=")
