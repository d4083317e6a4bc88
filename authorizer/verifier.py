"""One verifier for the Lambda authorizer and the site gate, and finding the token in a request.

:class:`AccessVerifier` = :class:`core.tokens.TokenVerifier` (signature, ``kid``, ``iss``,
``aud``, ``exp``/``nbf``/``iat``, ``token_use == access``) over a JWKS source, plus the optional
session status check. It raises :class:`core.tokens.TokenError` whose ``reason`` is safe to log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.tokens import TokenError, TokenVerifier

from .config import AuthorizerConfig
from .jwks import JWK, JwksCache, StaticJwks
from .session_status import SessionStatusClient

MAX_TOKEN_LENGTH = 8192
"""Waiting-room tokens are well under 2 KB; longer strings are refused before any parsing."""


class AccessVerifier:
    """Verifies waiting-room access tokens. Thread-safe; build once per process and reuse."""

    def __init__(
        self,
        token_verifier: TokenVerifier,
        session_status: SessionStatusClient | None = None,
        jwks: Callable[[str], JWK | None] | None = None,
    ) -> None:
        self.token_verifier = token_verifier
        self.session_status = session_status
        self.jwks = jwks

    @classmethod
    def from_config(cls, config: AuthorizerConfig) -> AccessVerifier:
        jwks = jwks_source(config)
        verifier = TokenVerifier(
            jwks,
            issuer=config.issuer,
            audience=config.audience[0] if len(config.audience) == 1 else config.audience,
            leeway=config.leeway,
            required_use="access",
        )
        status = None
        if config.session_status_url:
            status = SessionStatusClient(
                config.session_status_url,
                ttl=config.session_status_ttl,
                timeout=config.http_timeout,
                fail_open=config.session_status_fail_open,
            )
        return cls(verifier, status, jwks)

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``; raises TokenError otherwise."""
        if not isinstance(token, str) or not token:
            raise TokenError("no token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("token too long")
        claims = self.token_verifier.verify(token)
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise TokenError("token has no subject")
        if self.session_status is not None:
            self.session_status.check(claims)
        return claims


def jwks_source(config: AuthorizerConfig) -> Callable[[str], JWK | None]:
    if config.static_jwks:
        return StaticJwks.from_setting(config.static_jwks)
    return JwksCache(
        config.jwks_url, ttl=config.jwks_ttl, min_interval=config.jwks_min_interval, timeout=config.http_timeout
    )


# -- finding the token ------------------------------------------------------------------------


def from_authorization(value: str | None) -> str | None:
    """The token of an ``Authorization``-style header value: ``Bearer <token>`` or a bare token.

    Any other scheme (``Basic ...``) yields None: that request carries no waiting-room token.
    """
    if not value:
        return None
    value = value.strip()
    scheme, sep, rest = value.partition(" ")
    if not sep:
        return None if value.lower() == "bearer" else value or None
    if scheme.lower() != "bearer":
        return None
    return rest.strip() or None


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A header's value from a mapping whose key case is unknown (API Gateway keeps the client's)."""
    if not headers:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == lowered and isinstance(value, str):
            return value
    return None


def header_values(headers: Mapping[str, Any] | None, name: str) -> list[str]:
    """Every value of a header from a multi-value mapping (``{"Cookie": ["a=1", "b=2"]}``)."""
    if not headers:
        return []
    lowered = name.lower()
    values: list[str] = []
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == lowered:
            if isinstance(value, str):
                values.append(value)
            elif isinstance(value, list):
                values.extend(v for v in value if isinstance(v, str))
    return values
