"""Authorization codes: opaque, single-use, short-lived, bound to what the request said.

A code is 256 random bits handed to the relying party. The store keeps it only under the
SHA-256 of its value (a dump of the store yields no usable code), in two records:

* ``oidc-code``: the redeemable grant, TTL :data:`CODE_TTL`. Redemption is ``take``, which
  reads and deletes in one atomic step, so two concurrent redemptions never both succeed, on
  any number of workers sharing the store.
* ``oidc-code-grant``: what the code was for, kept longer, so that a second redemption can be
  recognised as a replay (RFC 6749 section 4.1.2) and what the first one issued revoked.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from authlib.oidc.core import AuthorizationCodeMixin

CODE_TTL = 60.0
"""Seconds a code stays redeemable (OIDC and RFC 6749 ask for short; we say at most 60)."""
GRANT_MEMORY = 24 * 3600.0
"""Seconds a redeemed or expired code is still recognised, to detect replays."""

CODE_NAMESPACE = "oidc-code"
GRANT_NAMESPACE = "oidc-code-grant"
REVOKED_CODE_NAMESPACE = "oidc-code-revoked"


def new_code() -> str:
    return secrets.token_urlsafe(32)


def code_key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


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
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> AuthorizationCode:
        return cls(**json.loads(text))


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
        now = self._now()
        record = AuthorizationCode(key=code_key(code), created_at=now, **binding)
        self.store.put(GRANT_NAMESPACE, record.key, json.dumps({"grant": record.to_json(), "redeemed": False}),
                       GRANT_MEMORY, now)
        self.store.put(CODE_NAMESPACE, record.key, record.to_json(), CODE_TTL, now)
        return record

    def redeem(self, code: str) -> Redemption:
        """Take the code (atomic). If it cannot be taken, tell a replay from an unknown or
        expired code: a code taken within its lifetime, or marked redeemed, was used before."""
        key = code_key(code)
        now = self._now()
        taken = self.store.take(CODE_NAMESPACE, key, now)
        if taken is not None:
            grant = AuthorizationCode.from_json(taken)
            self.store.put(GRANT_NAMESPACE, key, json.dumps({"grant": taken, "redeemed": True}),
                           max(GRANT_MEMORY - (now - grant.created_at), 1.0), now)
            return Redemption(grant)
        raw = self.store.get(GRANT_NAMESPACE, key, now)
        if raw is None:
            return Redemption(None)
        memory = json.loads(raw)
        grant = AuthorizationCode.from_json(memory["grant"])
        if memory["redeemed"] or now - grant.created_at < CODE_TTL:
            return Redemption(None, replayed=grant)
        return Redemption(None)  # expired before anyone redeemed it

    def mark_revoked(self, key: str) -> None:
        """Tell a redemption still in flight that its code was replayed (it revokes its tokens)."""
        self.store.put(REVOKED_CODE_NAMESPACE, key, "1", GRANT_MEMORY, self._now())

    def is_revoked(self, key: str) -> bool:
        return self.store.get(REVOKED_CODE_NAMESPACE, key, self._now()) is not None
