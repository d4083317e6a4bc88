"""Configuration of the CloudFront gate, fixed when its bundle is built.

Lambda@Edge functions have no environment variables, so ``waitingroom edge bundle`` reads a TOML
file once and writes what the function needs as ``authorizer/edge_config.json`` inside the zip,
where :func:`EdgeConfig.bundled` finds it at run time. The TOML file (a ``[edge]`` table, or the
same keys at the top level):

========================= =======================================================================
Key                       Meaning (default)
========================= =======================================================================
``issuer``                The waiting room's public base URL, the ``iss`` of its tokens. Required.
``client_id``             The public client registered for the gate (``[clients.X]`` without a
                          secret, its redirect URI = the site origin + ``callback_path``). Required.
``event_id``              The event whose access tokens open the site (their ``aud``). Required.
``callback_path``         Where the waiting room sends visitors back (``/_waitingroom/callback``).
``cookie_name``           The cookie carrying the access token (``waitingroom_token``).
``unprotected_paths``     Path prefixes served without a token: health checks, assets ([]).
``site_origin``           ``scheme://host[:port]`` of the site, for the redirect URI; by default
                          ``https://`` + the request's ``Host`` header.
``scope``                 Scopes asked for (``openid``).
``leeway``                Clock skew tolerated on ``exp``/``nbf``/``iat``, seconds, 0-300 (30).
``login_ttl``             Seconds the sign-in cookie (PKCE verifier, state, nonce, return path)
                          lives: the longest wait in line a sign-in survives (3600).
``jwks_min_interval``     Least seconds between two JWKS fetches, whatever triggers them (30).
``jwks_ttl``              Seconds fetched keys are reused before they are fetched again (3600).
``http_timeout``          Seconds to wait for the waiting room on each call (2; Lambda@Edge
                          viewer-request functions have 5 seconds in all).
``authorization_endpoint`` / ``token_endpoint`` / ``jwks_uri``
                          Override the issuer's ``/authorize``, ``/token`` and
                          ``/.well-known/jwks.json``.
``state_secret``          The HMAC key that signs the sign-in cookie. Generated at build time
                          when absent; give one to make the bundle reproducible.
========================= =======================================================================

Standard library only: this module runs inside the bundle.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

BUNDLED_FILE = "edge_config.json"
DEFAULT_CALLBACK_PATH = "/_waitingroom/callback"
DEFAULT_COOKIE_NAME = "waitingroom_token"
MIN_SECRET_LENGTH = 32


class EdgeConfigError(ValueError):
    """A setting is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class EdgeConfig:
    issuer: str
    client_id: str
    event_id: str
    callback_path: str = DEFAULT_CALLBACK_PATH
    cookie_name: str = DEFAULT_COOKIE_NAME
    unprotected_paths: tuple[str, ...] = ()
    site_origin: str | None = None
    scope: str = "openid"
    leeway: float = 30.0
    login_ttl: int = 3600
    jwks_min_interval: float = 30.0
    jwks_ttl: float = 3600.0
    http_timeout: float = 2.0
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    jwks_uri: str = ""
    state_secret: str = ""
    keys: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    """The issuer's JWKS as of the build (possibly empty): the keys known before any fetch."""

    def __post_init__(self) -> None:
        issuer = self.issuer.rstrip("/") if isinstance(self.issuer, str) else ""
        if not issuer.startswith(("https://", "http://")):
            raise EdgeConfigError("issuer is required: the waiting room's public base URL (https://...)")
        object.__setattr__(self, "issuer", issuer)
        for name in ("client_id", "event_id", "cookie_name"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or any(c in value for c in ' ;,="\\'):
                raise EdgeConfigError(f"{name} is required and must be a plain token (no spaces, ';', ',', '=')")
        if not self.callback_path.startswith("/") or "?" in self.callback_path:
            raise EdgeConfigError("callback_path must be a path starting with '/'")
        if isinstance(self.unprotected_paths, str):
            raise EdgeConfigError('unprotected_paths must be a list of path prefixes, e.g. ["/healthz"]')
        paths = tuple(self.unprotected_paths)
        if any(not isinstance(p, str) or not p.startswith("/") for p in paths):
            raise EdgeConfigError("unprotected_paths must be path prefixes starting with '/'")
        object.__setattr__(self, "unprotected_paths", paths)
        if self.site_origin is not None and not self.site_origin.startswith(("https://", "http://")):
            raise EdgeConfigError("site_origin must be scheme://host[:port]")
        for name in ("leeway", "jwks_min_interval", "jwks_ttl", "http_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise EdgeConfigError(f"{name} must be a number of seconds")
        if isinstance(self.login_ttl, bool) or not isinstance(self.login_ttl, int):
            # The sign-in cookie's expiry is a whole number of seconds; a fractional one never reads back.
            raise EdgeConfigError("login_ttl must be a whole number of seconds")
        if not 0 <= self.leeway <= 300:
            raise EdgeConfigError("leeway must be between 0 and 300 seconds")
        if self.login_ttl <= 0 or self.jwks_min_interval < 0 or self.jwks_ttl <= 0 or not 0 < self.http_timeout < 5:
            raise EdgeConfigError("login_ttl and jwks_ttl must be positive, http_timeout between 0 and 5 seconds")
        defaults = {"authorization_endpoint": "/authorize", "token_endpoint": "/token",
                    "jwks_uri": "/.well-known/jwks.json"}
        for name, path in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, issuer + path)
        if self.state_secret and len(self.state_secret) < MIN_SECRET_LENGTH:
            raise EdgeConfigError(f"state_secret must be at least {MIN_SECRET_LENGTH} characters")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> EdgeConfig:
        """From the keys of the TOML file (an ``[edge]`` table or top-level keys); unknown keys are errors."""
        table = values.get("edge", values)
        if not isinstance(table, dict):
            raise EdgeConfigError("[edge] must be a table")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise EdgeConfigError(f"unknown key(s): {', '.join(unknown)}")
        missing = [k for k in ("issuer", "client_id", "event_id") if k not in table]
        if missing:
            raise EdgeConfigError(f"missing key(s): {', '.join(missing)}")
        values = dict(table)
        try:
            return cls(**values)
        except TypeError as exc:
            raise EdgeConfigError(str(exc)) from None

    @classmethod
    def from_toml(cls, path: str | Path) -> EdgeConfig:
        import tomllib

        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise EdgeConfigError(f"cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise EdgeConfigError(f"{path} is not valid TOML: {exc}") from None
        return cls.from_mapping(data)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EdgeConfig:
        values = json.loads(text)
        values["unprotected_paths"] = tuple(values.get("unprotected_paths", ()))
        return cls(**values)

    @classmethod
    def bundled(cls) -> EdgeConfig:
        """The configuration written into the bundle beside this module."""
        return cls.from_json((Path(__file__).parent / BUNDLED_FILE).read_text(encoding="utf-8"))
