"""The only JWT code of the project: signing, the JWKS, and verification.

Used by the REST API, the OpenID Connect provider and the authorizer alike. Tokens are RS256
with a ``kid`` header; anything else (``none``, HS256, another key) is rejected on verification.
The rules besides the signature (header, ``iss``, ``aud``, ``exp``/``nbf``/``iat``, ``token_use``)
live in :mod:`core.token_rules`, which the CloudFront gate applies too.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import randomness
from .token_rules import ALGORITHM, TokenError, at_hash, check_claims, key_id, unverified_header

RSA_KEY_BITS = 2048

__all__ = ["ALGORITHM", "KeySet", "SigningKey", "TokenError", "TokenSigner", "TokenVerifier", "at_hash", "new_jti",
           "session_claims"]


@dataclass(frozen=True)
class SigningKey:
    """One RSA key pair of the key set.

    ``not_before``: signing starts at this time (the public key is published earlier so that
    caches hold it before any token signed with it arrives). ``retire_at``: after this time the
    public key leaves the JWKS (None = still current).
    """

    kid: str
    private_key: rsa.RSAPrivateKey
    created_at: float
    not_before: float
    retire_at: float | None = None

    @classmethod
    def generate(cls, now: float, not_before: float | None = None) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        starts = now if not_before is None else not_before
        return cls(kid=_kid_for(key), private_key=key, created_at=now, not_before=starts)

    @property
    def public_jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": ALGORITHM,
            "kid": self.kid,
            "n": _b64uint(numbers.n),
            "e": _b64uint(numbers.e),
        }

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def to_record(self) -> dict[str, Any]:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "kid": self.kid,
            "private_key": pem,
            "created_at": self.created_at,
            "not_before": self.not_before,
            "retire_at": self.retire_at,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SigningKey:
        key = serialization.load_pem_private_key(record["private_key"].encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("signing keys must be RSA keys")
        return cls(
            kid=str(record["kid"]),
            private_key=key,
            created_at=float(record["created_at"]),
            not_before=float(record["not_before"]),
            retire_at=None if record.get("retire_at") is None else float(record["retire_at"]),
        )


class KeySet:
    """An ordered set of signing keys: the newest one whose ``not_before`` has passed signs."""

    def __init__(self, keys: Iterable[SigningKey]) -> None:
        self.keys = sorted(keys, key=lambda k: k.created_at)
        if not self.keys:
            raise ValueError("a key set needs at least one key")

    def current(self, now: float) -> SigningKey:
        usable = [k for k in self.keys if k.not_before <= now and (k.retire_at is None or k.retire_at > now)]
        return usable[-1] if usable else self.keys[0]

    def published(self, now: float) -> list[SigningKey]:
        return [k for k in self.keys if k.retire_at is None or k.retire_at > now]

    def jwks(self, now: float) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.public_jwk for k in self.published(now)]}

    def rotated(self, now: float, activate_after: float, keep_old_for: float) -> KeySet:
        """A new key set with a fresh key that starts signing ``activate_after`` seconds from now.

        Older keys stay published until ``keep_old_for`` seconds after the new key activates
        (long enough for every token they signed to expire); keys already past retirement are dropped.
        """
        new = SigningKey.generate(now, not_before=now + activate_after)
        retire = new.not_before + keep_old_for
        kept = [
            k if k.retire_at is not None else SigningKey(k.kid, k.private_key, k.created_at, k.not_before, retire)
            for k in self.keys
            if k.retire_at is None or k.retire_at > now
        ]
        return KeySet([*kept, new])

    def to_json(self) -> str:
        return json.dumps({"keys": [k.to_record() for k in self.keys]}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> KeySet:
        return cls(SigningKey.from_record(r) for r in json.loads(text)["keys"])


def published_key(source: Callable[[], KeySet], kid: str, now: float) -> SigningKey | None:
    """The key named ``kid`` among the keys ``source`` publishes at ``now``, or None. A kid the
    source's key set does not hold is looked for once more in the key set as it is now, if the
    source caches it (has ``refresh()``, as :class:`core.adapters.filekeys.FileKeySource`): a
    key rotated in to sign at once is known to the worker that signed with it first."""
    key = _published(source(), kid, now)
    refresh = getattr(source, "refresh", None)
    if key is None and refresh is not None:
        key = _published(refresh(), kid, now)
    return key


def _published(keyset: KeySet, kid: str, now: float) -> SigningKey | None:
    return next((k for k in keyset.published(now) if k.kid == kid), None)


class TokenSigner:
    """Signs claims with the current key of a key set (re-read on every call, so rotation applies live)."""

    def __init__(self, keyset: Callable[[], KeySet], clock: Callable[[], float]) -> None:
        self._keyset = keyset
        self._clock = clock

    def sign(self, claims: Mapping[str, Any]) -> str:
        key = self._keyset().current(self._clock())
        return jwt.encode(dict(claims), key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"})

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return self._keyset().jwks(self._clock())

    def current_public_pem(self) -> str:
        return self._keyset().current(self._clock()).public_pem


def new_jti() -> str:
    return randomness.token_urlsafe(16)


def session_claims(
    *,
    issuer: str,
    audience: str,
    subject: str,
    event_id: str,
    queue_position: int,
    jti: str,
    issued_at: int,
    expires_at: int,
    token_use: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The claims every token of a waiting-room session carries."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": expires_at,
        "jti": jti if token_use == "access" else f"{jti}.{token_use}",
        "event_id": event_id,
        "queue_position": queue_position,
        "token_use": token_use,
    }
    if extra:
        claims.update(extra)
    return claims


class TokenVerifier:
    """Verifies RS256 tokens against a JWKS supplied by ``jwks_for_kid``.

    ``jwks_for_kid(kid)`` returns the public JWK for a kid or None; a cache that refetches on an
    unknown kid lives behind it (see :mod:`authorizer.jwks`). Only RS256 is accepted, whatever the
    token header says, so ``alg=none`` and HS256-with-the-public-key forgeries fail.
    """

    def __init__(
        self,
        jwks_for_kid: Callable[[str], Mapping[str, Any] | None],
        *,
        issuer: str,
        audience: str | Iterable[str] | None,
        leeway: float = 30.0,
        required_use: str | None = "access",
    ) -> None:
        self._jwk_for = jwks_for_kid
        self.issuer = issuer
        self.audience = audience if audience is None or isinstance(audience, str) else list(audience)
        self.leeway = leeway
        self.required_use = required_use
        self._keys: dict[str, tuple[tuple[Any, Any], Any]] = {}
        """kid -> ((n, e) of the JWK, its public key object): building a key from a JWK costs more
        than checking a signature with it. A JWK with other numbers under the same kid is built anew."""

    def _public_key(self, kid: str, jwk: Mapping[str, Any]) -> Any:
        numbers = (jwk.get("n"), jwk.get("e"))
        cached = self._keys.get(kid)
        if cached is not None and cached[0] == numbers:
            return cached[1]
        key = jwt.PyJWK(dict(jwk), algorithm=ALGORITHM).key
        if len(self._keys) >= 64:  # keys rotate rarely; a flood of kids must not grow this
            self._keys.clear()
        self._keys[kid] = (numbers, key)
        return key

    def verify(self, token: str) -> dict[str, Any]:
        kid = key_id(unverified_header(token))
        jwk = self._jwk_for(kid)
        if jwk is None:
            raise TokenError("unknown kid")
        if jwk.get("kty") != "RSA":
            raise TokenError("key is not an RSA key")
        try:
            key = self._public_key(kid, jwk)
            # PyJWT checks the signature (RS256 only) and parses the payload; the claim rules are
            # core.token_rules', shared with the CloudFront gate, so they are off here.
            claims: dict[str, Any] = jwt.decode(token, key, algorithms=[ALGORITHM], options=_SIGNATURE_ONLY)
        except jwt.InvalidSignatureError:
            raise TokenError("bad signature") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {type(exc).__name__}") from None
        check_claims(claims, issuer=self.issuer, audience=self.audience, leeway=self.leeway,
                     required_use=self.required_use, now=time.time())
        return claims


class RememberingVerifier:
    """A :class:`TokenVerifier` that checks each exact token string's signature once.

    ``verify`` gives what the wrapped verifier gives; the claims of a token verified before are
    kept, keyed by the exact token string, and on every later call only the claim rules
    (:func:`core.token_rules.check_claims`: expiry, issuer, audience, ``token_use``) run again at
    the current time, so a remembered token still expires on time. :meth:`remember_signed` adds
    a token this process has just signed itself, whose signature needs no check.

    At most ``capacity`` tokens are kept (the oldest go first); a token that fails the rules is
    dropped. The memory belongs to one key set: build a new verifier when the keys change, so
    a retired key's tokens are checked against the keys published then. Not thread-safe beyond
    what dict operations give: at worst a token is verified twice.
    """

    def __init__(self, verifier: TokenVerifier, capacity: int = 4096) -> None:
        self._verifier = verifier
        self._capacity = capacity
        self._claims: dict[str, dict[str, Any]] = {}

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims (a copy: the caller may change it); TokenError as TokenVerifier."""
        claims = self._claims.get(token)
        if claims is None:
            claims = self._verifier.verify(token)
            self._keep(token, claims)
        else:
            v = self._verifier
            try:
                check_claims(claims, issuer=v.issuer, audience=v.audience, leeway=v.leeway,
                             required_use=v.required_use, now=time.time())
            except TokenError:
                self._claims.pop(token, None)
                raise
        return dict(claims)

    def remember_signed(self, token: str, claims: Mapping[str, Any]) -> None:
        """Remember ``claims`` for ``token``, which this process signed with exactly those claims
        (never a token received from outside: its signature is not checked here)."""
        self._keep(token, json.loads(json.dumps(claims)))  # as a verification would parse them

    def _keep(self, token: str, claims: dict[str, Any]) -> None:
        if len(self._claims) >= self._capacity:
            # Another thread may change the dict meanwhile; then this one forgets nothing.
            with contextlib.suppress(KeyError, StopIteration, RuntimeError):
                del self._claims[next(iter(self._claims))]
        self._claims[token] = claims


_SIGNATURE_ONLY: Any = {
    "verify_signature": True, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
    "verify_iss": False, "verify_aud": False, "require": [],
}


def _kid_for(key: rsa.RSAPrivateKey) -> str:
    """RFC 7638 thumbprint of the public key: stable, unique, reveals nothing."""
    numbers = key.public_key().public_numbers()
    canonical = json.dumps({"e": _b64uint(numbers.e), "kty": "RSA", "n": _b64uint(numbers.n)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")


def _b64uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
