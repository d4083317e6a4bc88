"""RS256 verification for the CloudFront gate, without ``cryptography``.

A Lambda@Edge viewer-request package must stay under 1 MB zipped; ``cryptography`` alone is
larger. So the gate checks signatures with ``rsa`` (pure Python, Apache-2.0, PKCS#1 v1.5 as
RFC 8017 section 8.2.2 defines it: the whole padded block is rebuilt and compared, so a forged
padding cannot pass), and applies every other rule through :mod:`core.token_rules`, the same
code :class:`core.tokens.TokenVerifier` runs. The only JWT handling here is what JWS compact
serialization makes unavoidable (RFC 7515 section 5.2): split on dots, decode base64url, parse
JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import rsa

from core.token_rules import TokenError, b64url_decode, check_claims, json_object, key_id

MAX_TOKEN_LENGTH = 8192
"""Waiting-room tokens are well under 2 KB; longer strings are refused before any parsing."""
SIGNATURE_HASH = "SHA-256"  # RS256 = RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3)


class RsaTokenVerifier:
    """Verifies RS256 tokens against ``jwk_for_kid(kid) -> JWK | None``, like
    :class:`core.tokens.TokenVerifier` and with the same arguments and reasons."""

    def __init__(
        self,
        jwk_for_kid: Callable[[str], Mapping[str, Any] | None],
        *,
        issuer: str,
        audience: str | Iterable[str] | None,
        leeway: float = 30.0,
        required_use: str | None = "access",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jwk_for = jwk_for_kid
        self.issuer = issuer
        self.audience = audience if audience is None or isinstance(audience, str) else list(audience)
        self.leeway = leeway
        self.required_use = required_use
        self._clock = clock
        self._keys: dict[str, tuple[tuple[Any, Any], rsa.PublicKey]] = {}

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of ``token``; raises TokenError (with a reason safe to log) otherwise."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise TokenError("malformed token")
        header_segment, payload_segment, signature_segment = token.split(".")
        kid = key_id(json_object(b64url_decode(header_segment)))
        jwk = self._jwk_for(kid)
        if jwk is None:
            raise TokenError("unknown kid")
        if jwk.get("kty") != "RSA":
            raise TokenError("key is not an RSA key")
        # UTF-8 as PyJWT does: a cookie may carry any text, and a non-ASCII token must fail as a bad
        # signature (TokenError), not escape as a UnicodeEncodeError.
        signing_input = f"{header_segment}.{payload_segment}".encode()
        try:
            hash_name = rsa.verify(signing_input, b64url_decode(signature_segment), self._public_key(kid, jwk))
        except (rsa.VerificationError, ValueError, OverflowError):
            raise TokenError("bad signature") from None
        if hash_name != SIGNATURE_HASH:  # a valid PKCS#1 signature over another hash is not RS256
            raise TokenError("bad signature")
        claims = json_object(b64url_decode(payload_segment))
        check_claims(claims, issuer=self.issuer, audience=self.audience, leeway=self.leeway,
                     required_use=self.required_use, now=self._clock())
        return claims

    def _public_key(self, kid: str, jwk: Mapping[str, Any]) -> rsa.PublicKey:
        numbers = (jwk.get("n"), jwk.get("e"))
        cached = self._keys.get(kid)
        if cached is not None and cached[0] == numbers:
            return cached[1]
        n, e = (int.from_bytes(b64url_decode(str(v)), "big") for v in numbers)
        if n.bit_length() < 2048 or e < 3:
            raise TokenError("key is too weak")
        key = rsa.PublicKey(n, e)
        if len(self._keys) >= 64:  # keys rotate rarely; a flood of kids must not grow this
            self._keys.clear()
        self._keys[kid] = (numbers, key)
        return key
