"""Authorization codes: opaque, single-use, short-lived, bound to what the request said.

A code is 256 random bits handed to the relying party. The store keeps it only under the
SHA-256 of its value with the client it was issued to and its PKCE challenge
(:func:`code_key`; a dump of the store yields no usable code), in one ``oidc-code`` record:
what the code was for, redeemable for :data:`CODE_TTL` seconds. The token endpoint finds the
record only by presenting the code as the client it was issued to, with the right
``code_verifier``: another client or a wrong verifier finds nothing, so it can neither use the
code, nor burn it, nor pass for a replay (RFC 6749 section 4.1.3, RFC 9700 section 4.2).
Redemption is the store's
``redeem``, one atomic step that uses the record and marks it used, so two concurrent
redemptions never both succeed, on any number of workers sharing the store. The used record is
kept for :data:`GRANT_MEMORY`, so a second redemption is recognised as a replay (RFC 6749
section 4.1.2) and what the first one issued revoked.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any

from authlib.oidc.core import AuthorizationCodeMixin

from core import randomness

CODE_TTL = 60.0
"""Seconds a code stays redeemable (OIDC and RFC 6749 ask for short; we say at most 60)."""
GRANT_MEMORY = 24 * 3600.0
"""Seconds a redeemed code is still recognised after its redemption, to detect replays."""

CODE_NAMESPACE = "oidc-code"


def new_code() -> str:
    return randomness.token_urlsafe(32)


def code_key(code: str, client_id: str, code_challenge: str | None) -> str:
    """The store key of a code: SHA-256 over the code, the client id and the S256 PKCE
    challenge (empty without PKCE), so only that client with that verifier can name it."""
    return hashlib.sha256(f"{code}\n{client_id}\n{code_challenge or ''}".encode()).hexdigest()


def s256_challenge(code_verifier: str) -> str:
    """The S256 ``code_challenge`` of a verifier (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class AuthorizationCode(AuthorizationCodeMixin):
    """Everything a code is bound to. ``redirect_uri`` is None when the request omitted it."""

    key: str
    client_id: str
    redirect_uri: str | None
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    event_id: str
    request_id: str
    auth_time: int
    created_at: float

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None

    def to_json(self) -> str:
        return json.dumps({f.name: getattr(self, f.name) for f in _FIELDS})

    @classmethod
    def from_json(cls, text: str) -> AuthorizationCode:
        return cls(**json.loads(text))


_FIELDS = fields(AuthorizationCode)


@dataclass(frozen=True)
class Redemption:
    """The result of trying to redeem a code: the grant, or why not."""

    code: AuthorizationCode | None
    replayed: AuthorizationCode | None = None


class CodeStore:
    """Saves and redeems codes in a :class:`core.ports.KeyValueStore`."""

    def __init__(self, store: Any, now: Any) -> None:
        self.store = store
        self._now = now

    def save(self, code: str, **binding: Any) -> AuthorizationCode:
        """One write: the code's record, redeemable for :data:`CODE_TTL` seconds."""
        now = self._now()
        key = code_key(code, binding["client_id"], binding.get("code_challenge"))
        record = AuthorizationCode(key=key, created_at=now, **binding)
        self.store.put(CODE_NAMESPACE, record.key, record.to_json(), CODE_TTL, now)
        return record

    def redeem(self, code: str, client_id: str, code_verifier: str | None) -> Redemption:
        """Use the code as ``client_id`` (already authenticated) with ``code_verifier`` (one
        atomic step). A code used before gives the grant as ``replayed``; an unknown or expired
        one, or one presented by another client or with another verifier, gives nothing and
        leaves the code as it was."""
        challenge = s256_challenge(code_verifier) if code_verifier else None
        key = code_key(code, client_id, challenge)
        first, replayed = self.store.redeem(CODE_NAMESPACE, key, GRANT_MEMORY, self._now())
        if first is not None:
            return Redemption(AuthorizationCode.from_json(first))
        if replayed is not None:
            return Redemption(None, replayed=AuthorizationCode.from_json(replayed))
        return Redemption(None)

    def issued_without_challenge(self, code: str, client_id: str) -> bool:
        """Whether ``code`` is live and unused for ``client_id`` with no PKCE challenge. A read:
        tells a verifier sent for such a code (refused, RFC 9700 section 4.8) from a wrong one."""
        return self.store.get(CODE_NAMESPACE, code_key(code, client_id, None), self._now()) is not None
