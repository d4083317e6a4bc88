"""Authorization codes: opaque, single-use, short-lived, bound to what the request said.

A code is 256 random bits handed to the relying party. The store keeps it only under the
SHA-256 of its value with the client it was issued to, its PKCE challenge and the
``redirect_uri`` of its request (:func:`code_key`; a dump of the store yields no usable code),
in one ``oidc-code`` record: what the code was for, redeemable for :data:`CODE_TTL` seconds.
The token endpoint finds the record only by presenting the code as the client it was issued
to, with the right ``code_verifier`` and the same ``redirect_uri``: another client, a wrong
verifier or another redirect URI finds nothing, so it can neither use the code, nor burn it,
nor pass for a replay (RFC 6749 section 4.1.3, RFC 9700 section 4.2). Redemption is the
room's ``redeem_for_oidc_session``: one atomic store step that uses the record, marks it used
and opens the session of the place it names, so two concurrent redemptions never both
succeed, on any number of workers sharing the store. The used record is kept for
:data:`GRANT_MEMORY`, so a second redemption is recognised as a replay (RFC 6749 section
4.1.2) and what the first one issued revoked.

A record is marked used only together with the session its tokens are signed for, and a
redemption whose answer was lost (StoreUnavailable: the store may have acted) releases it
again: the client's retry of the same code, as the same client with the same verifier,
completes the issue for the same session, and only one token response ever succeeds per
code. So a replay, and a revocation, is only ever a second presentation after tokens were
issued under the code.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any

from authlib.oidc.core import AuthorizationCodeMixin

from core import randomness
from core.tokens import new_jti

CODE_TTL = 60.0
"""Seconds a code stays redeemable (OIDC and RFC 6749 ask for short; we say at most 60)."""
GRANT_MEMORY = 24 * 3600.0
"""Seconds a redeemed code is still recognised after its redemption, to detect replays."""

CODE_NAMESPACE = "oidc-code"


def new_code() -> str:
    return randomness.token_urlsafe(32)


def code_key(code: str, client_id: str, code_challenge: str | None, redirect_uri: str | None) -> str:
    """The store key of a code: SHA-256 over the code, the client id, the S256 PKCE challenge
    (empty without PKCE) and the authorization request's ``redirect_uri`` (empty if it had
    none), so only that client with that verifier and that redirect URI can name it."""
    material = f"{code}\n{client_id}\n{code_challenge or ''}\n{redirect_uri or ''}"
    return hashlib.sha256(material.encode()).hexdigest()


def _keys_for(code: str, client_id: str, code_challenge: str | None, redirect_uri: str | None) -> list[str]:
    """The keys a token request may name: with a ``redirect_uri``, also the key of a code whose
    request left it out (RFC 6749 section 4.1.3 binds only a redirect URI the request had)."""
    keys = [code_key(code, client_id, code_challenge, redirect_uri)]
    if redirect_uri:
        keys.append(code_key(code, client_id, code_challenge, None))
    return keys


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
    opened: Any = None
    """With ``code``: the session its redemption opened, for ``WaitingRoom.issue_oidc_tokens``."""
    attempt: str | None = None
    """With ``code``: the id of the try that redeemed it, for :meth:`CodeStore.release`."""


class CodeStore:
    """Saves and redeems codes in a :class:`core.ports.KeyValueStore`."""

    def __init__(self, store: Any, now: Any) -> None:
        self.store = store
        self._now = now

    def save(self, code: str, **binding: Any) -> AuthorizationCode:
        """One write: the code's record, redeemable for :data:`CODE_TTL` seconds."""
        now = self._now()
        key = code_key(code, binding["client_id"], binding.get("code_challenge"), binding.get("redirect_uri"))
        record = AuthorizationCode(key=key, created_at=now, **binding)
        self.store.put(CODE_NAMESPACE, record.key, record.to_json(), CODE_TTL, now)
        return record

    def redeem(self, room: Any, event_id: str, code: str, client_id: str, code_verifier: str | None,
               redirect_uri: str | None, validity: int | None) -> Redemption:
        """Use the code as ``client_id`` (already authenticated) with ``code_verifier`` and
        ``redirect_uri``, and open the session of its place for ``validity`` seconds: one atomic
        store step (a second one only when a ``redirect_uri`` finds nothing: a code whose request
        had none). A code used before gives the grant as ``replayed``; an unknown or expired
        one, or one presented by another client, with another verifier or redirect URI, gives
        nothing and leaves the code as it was. Raises the room's errors when the place can
        have no session (the code stays unused), and StoreUnavailable (the code released, so
        a retry redeems it as the first time)."""
        challenge = s256_challenge(code_verifier) if code_verifier else None
        attempt = new_jti()
        for key in _keys_for(code, client_id, challenge, redirect_uri):
            first, replayed, opened = room.redeem_for_oidc_session(event_id, CODE_NAMESPACE, key, GRANT_MEMORY,
                                                                   validity, attempt)
            if first is not None:
                return Redemption(AuthorizationCode.from_json(first), opened=opened, attempt=attempt)
            if replayed is not None:
                return Redemption(None, replayed=AuthorizationCode.from_json(replayed))
        return Redemption(None)

    @staticmethod
    def release(room: Any, redemption: Redemption) -> None:
        """Make a redeemed code usable again by its own client, with its verifier: its tokens
        could not be sent (signing failed, say). The session it opened stays, for the retry.
        Best effort (``WaitingRoom.release_redemption``)."""
        if redemption.code is not None and redemption.attempt is not None:
            room.release_redemption(CODE_NAMESPACE, redemption.code.key, redemption.attempt)

    def issued_without_challenge(self, code: str, client_id: str, redirect_uri: str | None) -> bool:
        """Whether ``code`` is live and unused for ``client_id`` with no PKCE challenge. A read:
        tells a verifier sent for such a code (refused, RFC 9700 section 4.8) from a wrong one."""
        now = self._now()
        return any(self.store.get(CODE_NAMESPACE, key, now) is not None
                   for key in _keys_for(code, client_id, None, redirect_uri))
