"""The rules a waiting-room token must pass, apart from its signature: standard library only.

:class:`core.tokens.TokenVerifier` (PyJWT and ``cryptography`` check the signature) and the
CloudFront gate :mod:`authorizer.edge` (a pure-Python RSA check, since Lambda@Edge packages must
stay small) both apply these same rules, so a token one accepts the other accepts too:

- the JOSE header names ``alg`` RS256 (nothing else, whatever else the header says: ``none`` and
  HS256-with-the-public-key forgeries fail) and a ``kid`` (RFC 7515 section 4.1);
- the claims hold ``exp``, ``iat``, ``iss`` and ``sub``; ``iss`` is the issuer exactly; ``aud`` (a
  string or a list, RFC 7519 section 4.1.3) holds an accepted audience; ``exp``, ``nbf`` and
  ``iat`` are numbers and hold with ``leeway`` seconds of clock skew; ``token_use`` is the one
  required.

Every failure raises :class:`TokenError` with a reason that is safe to log (never the token).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ("exp", "iat", "iss", "sub")
MAX_HEADER_LENGTH = 1024
"""A waiting-room JOSE header is under 200 characters; longer ones are refused before decoding."""


class TokenError(Exception):
    """A token failed verification. ``reason`` is safe to log (never contains the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def b64url_decode(segment: str) -> bytes:
    """RFC 7515 base64url without padding; raises TokenError("malformed token") on anything else."""
    if not isinstance(segment, str):
        raise TokenError("malformed token")
    try:
        return base64.urlsafe_b64decode(segment.encode("ascii") + b"=" * (-len(segment) % 4))
    except (ValueError, binascii.Error):  # non-ASCII text, bad characters or length
        raise TokenError("malformed token") from None


def json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object from a decoded segment; raises TokenError("malformed token") otherwise."""
    try:
        value = json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise TokenError("malformed token") from None
    if not isinstance(value, dict):
        raise TokenError("malformed token")
    return value


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWT, parsed only to choose the key (nothing in it is trusted)."""
    if not isinstance(token, str):
        raise TokenError("malformed token")
    segment = token.partition(".")[0]
    if not segment or len(segment) > MAX_HEADER_LENGTH:
        raise TokenError("malformed token")
    return json_object(b64url_decode(segment))


def key_id(header: Mapping[str, Any]) -> str:
    """The ``kid`` of a header that names RS256; raises TokenError for any other algorithm."""
    if header.get("alg") != ALGORITHM:
        raise TokenError(f"algorithm {header.get('alg')!r} is not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenError("token has no kid")
    return kid


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audience: str | Iterable[str] | None,
    leeway: float,
    required_use: str | None,
    now: float,
) -> None:
    """Apply the claim rules of the module docstring at ``now`` (seconds since the epoch).

    ``audience=None`` skips the ``aud`` check (the provider checking its own access tokens for
    any event); ``required_use=None`` skips ``token_use``. Raises TokenError on the first failure.
    """
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            raise TokenError(f"token has no {name}")
    for name in ("exp", "iat", "nbf"):
        if name in claims and (isinstance(claims[name], bool) or not isinstance(claims[name], (int, float))):
            raise TokenError(f"{name} is not a number")
    if claims["exp"] <= now - leeway:
        raise TokenError("token expired")
    if claims.get("nbf", claims["iat"]) > now + leeway or claims["iat"] > now + leeway:
        raise TokenError("token not yet valid")
    if claims["iss"] != issuer:
        raise TokenError("wrong issuer")
    if audience is not None:
        accepted = {audience} if isinstance(audience, str) else set(audience)
        aud = claims.get("aud")
        held = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(a, str) and a in accepted for a in held):
            raise TokenError("wrong audience")
    if required_use is not None and claims.get("token_use") != required_use:
        raise TokenError("wrong token_use")


def at_hash(access_token: str) -> str:
    """OIDC ``at_hash`` for RS256: left half of SHA-256 of the token, base64url without padding
    (OpenID Connect Core 1.0 section 3.1.3.6)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).decode().rstrip("=")
