"""The CloudFront gate's sign-in in progress, kept in the visitor's browser as a signed cookie.

Lambda@Edge keeps no state between requests that a visitor can count on, so what the callback
needs (RFC 7636 PKCE ``code_verifier``, the ``state`` and OIDC ``nonce`` sent to ``/authorize``,
and the path to return to) travels in one cookie: base64url JSON, a dot, and the base64url
HMAC-SHA256 of that JSON under the gate's ``state_secret``. Anything unsigned, altered or past
its expiry is treated as absent. The cookie is ``HttpOnly``, so page scripts never read the
verifier. Standard library only: this module runs inside the bundle.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import urllib.parse
from dataclasses import asdict, dataclass

from core.token_rules import TokenError, b64url_decode

MAX_COOKIE_LENGTH = 3072
"""A sign-in cookie is a few hundred bytes (the return path is capped); longer ones are forged."""
MAX_RETURN_PATH = 1024


@dataclass(frozen=True)
class Login:
    """One sign-in: ``state``, ``nonce`` and ``code_verifier`` are 256-bit random strings;
    ``return_to`` is a same-site path (with query); ``expires_at`` is in seconds since the epoch."""

    state: str
    nonce: str
    code_verifier: str
    return_to: str
    expires_at: int

    @classmethod
    def start(cls, return_to: str, ttl: int, now: float) -> Login:
        return cls(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(48),  # 64 characters, within RFC 7636's 43-128
            return_to=safe_return_path(return_to),
            expires_at=int(now) + ttl,
        )

    @property
    def code_challenge(self) -> str:
        """RFC 7636 section 4.2, method S256."""
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def seal(self, secret: str) -> str:
        payload = _b64(json.dumps(asdict(self), separators=(",", ":")).encode())
        return f"{payload}.{_b64(_mac(secret, payload))}"

    @classmethod
    def unseal(cls, value: str | None, secret: str, now: float) -> Login | None:
        """The login a cookie value holds, or None if it is absent, altered, malformed or expired."""
        if not value or len(value) > MAX_COOKIE_LENGTH or value.count(".") != 1:
            return None
        payload, _, mac = value.partition(".")
        try:
            if not hmac.compare_digest(b64url_decode(mac), _mac(secret, payload)):
                return None
            fields = json.loads(b64url_decode(payload))
            login = cls(**fields)
        except (TokenError, ValueError, TypeError):
            return None
        if not all(isinstance(v, str) for v in (login.state, login.nonce, login.code_verifier, login.return_to)):
            return None
        if not isinstance(login.expires_at, int) or login.expires_at <= now:
            return None
        return login


def safe_return_path(path: str) -> str:
    """``path`` if it is a path of this site, else ``/``: never an open redirect (``//evil.example``,
    ``/\\evil.example`` and absolute URLs are refused). Characters beyond ASCII are percent-encoded
    as UTF-8, since the path goes back out in a ``Location`` header."""
    if (not path.startswith("/") or path.startswith(("//", "/\\"))
            or any(ord(c) < 0x21 or ord(c) == 0x7F for c in path)):
        return "/"
    path = urllib.parse.quote(path, safe=_PRINTABLE_ASCII)
    return path if len(path) <= MAX_RETURN_PATH else "/"


_PRINTABLE_ASCII = "".join(map(chr, range(0x21, 0x7F)))


def _mac(secret: str, payload: str) -> bytes:
    return hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
