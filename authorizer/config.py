"""Configuration of the authorizer and the site gate, from environment variables.

=================================== ======================================================================
Variable                            Meaning (default)
=================================== ======================================================================
``WAITINGROOM_ISSUER``              The waiting room's public base URL, the ``iss`` of its tokens. Required.
``WAITINGROOM_EVENT_ID``            The event(s) whose tokens are accepted (the ``aud`` claim); several
                                    may be given separated by commas. Required.
``WAITINGROOM_JWKS_URL``            Where to fetch the public keys (``<issuer>/.well-known/jwks.json``).
``WAITINGROOM_JWKS``                A static JWKS instead of fetching: the JSON text itself, or the path
                                    of a file holding it (air-gapped setups). Overrides the URL.
``WAITINGROOM_JWKS_TTL``            Seconds a fetched JWKS is reused before it is refreshed (300).
``WAITINGROOM_JWKS_MIN_INTERVAL``   Least seconds between two JWKS fetches, whatever triggers them,
                                    e.g. a flood of unknown ``kid`` values (30; capped at the TTL).
``WAITINGROOM_HTTP_TIMEOUT``        Seconds to wait for the waiting room on each HTTP call (3).
``WAITINGROOM_LEEWAY``              Clock skew tolerated on ``exp``/``nbf``/``iat``, seconds, 0-300 (30).
``WAITINGROOM_TOKEN_HEADER``        Request header carrying the token, with or without ``Bearer``
                                    (``Authorization``).
``WAITINGROOM_TOKEN_COOKIE``        Cookie carrying the token, tried after the header (none).
``WAITINGROOM_TOKEN_QUERY_PARAM``   Query parameter carrying the token, tried last (none).
``WAITINGROOM_POLICY_SCOPE``        What an Allow policy covers: ``method`` (only the method ARN of the
                                    request), ``stage`` (every method of the same API and stage) or
                                    ``api`` (every stage of the same API). Use ``stage`` when API
                                    Gateway caches authorizer results (``method``).
``WAITINGROOM_HTTP_API_SIMPLE``     HTTP API (payload 2.0) authorizers answer with simple responses
                                    ``{"isAuthorized": ...}``; ``false`` answers with IAM policies (true).
``WAITINGROOM_SESSION_STATUS_URL``  Turns on the revocation check: a URL template asked whether the
                                    token's session was ended; ``{jti}``, ``{sub}`` and ``{event_id}``
                                    are replaced (URL-quoted). Off when unset.
``WAITINGROOM_SESSION_STATUS_TTL``  Seconds a session status answer is reused (10). Ended sessions are
                                    remembered until their token expires.
``WAITINGROOM_SESSION_STATUS_FAIL_OPEN``  ``true`` lets tokens through when the status cannot be
                                    obtained; by default they are denied (false).
``WAITINGROOM_REDIRECT_URL``        Site gate only: send browsers without a valid token here (for
                                    example the OIDC login route of the site) instead of a 401; a
                                    ``{return_to}`` placeholder receives the requested URL (none).
``WAITINGROOM_REALM``               Site gate only: the realm of ``WWW-Authenticate`` (``waitingroom``).
=================================== ======================================================================

Booleans accept ``true/false``, ``1/0``, ``yes/no``, ``on/off``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

PREFIX = "WAITINGROOM_"
POLICY_SCOPES = ("method", "stage", "api")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class AuthorizerConfig:
    issuer: str
    audience: tuple[str, ...]
    jwks_url: str
    static_jwks: str | None = None
    jwks_ttl: float = 300.0
    jwks_min_interval: float = 30.0
    http_timeout: float = 3.0
    leeway: float = 30.0
    token_header: str = "Authorization"  # a header name, not a secret
    token_cookie: str | None = None
    token_query_param: str | None = None
    policy_scope: str = "method"
    http_api_simple_responses: bool = True
    session_status_url: str | None = None
    session_status_ttl: float = 10.0
    session_status_fail_open: bool = False
    redirect_url: str | None = None
    realm: str = "waitingroom"

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ConfigError(f"{PREFIX}ISSUER is required: the waiting room's public base URL")
        if not self.audience:
            raise ConfigError(f"{PREFIX}EVENT_ID is required: the event whose tokens are accepted")
        if self.policy_scope not in POLICY_SCOPES:
            raise ConfigError(f"{PREFIX}POLICY_SCOPE must be one of {', '.join(POLICY_SCOPES)}")
        if not 0 <= self.leeway <= 300:
            raise ConfigError(f"{PREFIX}LEEWAY must be between 0 and 300 seconds")
        if self.jwks_ttl <= 0 or self.jwks_min_interval < 0 or self.http_timeout <= 0 or self.session_status_ttl < 0:
            raise ConfigError("durations must be positive numbers of seconds")
        template = self.session_status_url
        if template and "{jti}" not in template and "{sub}" not in template:
            raise ConfigError(f"{PREFIX}SESSION_STATUS_URL must contain {{jti}} or {{sub}}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthorizerConfig:
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(PREFIX + name, "").strip()
            return value or None

        def number(name: str, default: float) -> float:
            raw = text(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ConfigError(f"{PREFIX}{name} must be a number of seconds, not {raw!r}") from None

        def flag(name: str, default: bool) -> bool:
            raw = text(name)
            if raw is None:
                return default
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{PREFIX}{name} must be true or false, not {raw!r}")

        issuer = (text("ISSUER") or "").rstrip("/")
        audience = tuple(a.strip() for a in (text("EVENT_ID") or "").split(",") if a.strip())
        return cls(
            issuer=issuer,
            audience=audience,
            jwks_url=text("JWKS_URL") or f"{issuer}/.well-known/jwks.json",
            static_jwks=text("JWKS"),
            jwks_ttl=number("JWKS_TTL", 300.0),
            jwks_min_interval=number("JWKS_MIN_INTERVAL", 30.0),
            http_timeout=number("HTTP_TIMEOUT", 3.0),
            leeway=number("LEEWAY", 30.0),
            token_header=text("TOKEN_HEADER") or "Authorization",
            token_cookie=text("TOKEN_COOKIE"),
            token_query_param=text("TOKEN_QUERY_PARAM"),
            policy_scope=(text("POLICY_SCOPE") or "method").lower(),
            http_api_simple_responses=flag("HTTP_API_SIMPLE", True),
            session_status_url=text("SESSION_STATUS_URL"),
            session_status_ttl=number("SESSION_STATUS_TTL", 10.0),
            session_status_fail_open=flag("SESSION_STATUS_FAIL_OPEN", False),
            redirect_url=text("REDIRECT_URL"),
            realm=text("REALM") or "waitingroom",
        )
