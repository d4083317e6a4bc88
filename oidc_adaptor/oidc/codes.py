"""Authorization codes: sealed, single-use, short-lived, bound to what the request said.

A code carries its own record, sealed (AES-256-GCM, :mod:`.sealing`) under a key derived from
the current token signing key, whose ``kid`` it names: a random 128-bit code id and what the
code is for (the place, ``auth_time``, ``scope``, ``nonce``, when it was made). Issuing a code
writes nothing to the store, so a dump of the store holds no code; and one who holds the
signing key can sign tokens outright, so forging a code gives them nothing more. A code opens
for :data:`CODE_TTL` seconds after it was made, by the clock of the worker redeeming it (one
made more than ``clock_skew`` seconds in that clock's future is refused), while the key that
sealed it is published: a code sealed just before a rotation still opens. Its expiry is checked
in the store step of its redemption, so a replay after it is still recognised.

The seal binds the code to the client it was issued to, its PKCE challenge and the
``redirect_uri`` of its request (the associated data, :func:`binding`). The token endpoint
rebuilds that binding from the token request: another client, a wrong verifier or another
redirect URI does not open the code, so it can neither use it, nor burn it, nor pass for a
replay (RFC 6749 section 4.1.3, RFC 9700 section 4.2), and the store is not touched.

Single use is the store's, at redemption only: the room's ``redeem_for_oidc_session`` records
the code id as redeemed (by this attempt) if it is not recorded yet and opens the session of
the place, in one atomic store step, so two concurrent redemptions never both succeed, on any
number of workers sharing the store. The record is kept for :data:`GRANT_MEMORY`, so a second
redemption is recognised as a replay (RFC 6749 section 4.1.2) and what the first one issued
revoked, also after the code itself expired.

A code is recorded as used only together with the session its tokens are signed for, and a
redemption whose answer was lost (StoreUnavailable: the store may have acted) releases it
again: the client's retry of the same code, as the same client with the same verifier,
completes the issue for the same session, and only one token response ever succeeds per
code. So a replay, and a revocation, is only ever a second presentation after tokens were
issued under the code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authlib.oidc.core import AuthorizationCodeMixin

from core import randomness
from core.tokens import KeySet, new_jti

from .sealing import SealingKeys

CODE_TTL = 60.0
"""Seconds a code stays redeemable (OIDC and RFC 6749 ask for short; we say at most 60)."""
GRANT_MEMORY = 24 * 3600.0
"""Seconds a redeemed code is still recognised after its redemption, to detect replays."""

MAX_CARRIED = 1024
"""The most characters an authorization request's ``nonce``, and its ``scope``, may have: a code
carries both, sealed (4/3 of their length in base64url), and must fit in the redirect's URL and
in the token request's body (``[server] max_body_bytes``, 16 KiB by default). Longer ones are
refused before the visitor is put in line, not after their wait with a code no relying party
can redeem."""

CODE_NAMESPACE = "oidc-code"
CODE_VERSION = "1"
"""The first part of every code, naming the format of the rest: ``1.<kid>.<sealed>``."""
SEALING_INFO = b"waitingroom oidc authorization code v1"
"""The HKDF ``info`` of the codes' sealing keys: they seal nothing else."""


def binding(client_id: str, code_challenge: str | None, redirect_uri: str | None) -> bytes:
    """The associated data a code is sealed with: the format version, the client id, the S256
    PKCE challenge (empty without PKCE) and the authorization request's ``redirect_uri``
    (empty if it had none), so only that client with that verifier and that redirect URI
    opens it. Newline-separated: a client id or redirect URI with a newline is never
    registered, and a challenge is base64url."""
    return f"{CODE_VERSION}\n{client_id}\n{code_challenge or ''}\n{redirect_uri or ''}".encode()


def _bindings(client_id: str, code_challenge: str | None, redirect_uri: str | None) -> list[tuple[str | None, bytes]]:
    """The bindings a token request may open a code with, and the ``redirect_uri`` of each:
    with a ``redirect_uri``, also that of a code whose request left it out (RFC 6749 section
    4.1.3 binds only a redirect URI the request had)."""
    tries = [(redirect_uri, binding(client_id, code_challenge, redirect_uri))]
    if redirect_uri:
        tries.append((None, binding(client_id, code_challenge, None)))
    return tries


def _unpadded(data: bytes) -> str:
    """``data`` in unpadded base64url (RFC 4648 section 5): the sealed part of a code."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def s256_challenge(code_verifier: str) -> str:
    """The S256 ``code_challenge`` of a verifier (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class AuthorizationCode(AuthorizationCodeMixin):
    """Everything a code is bound to. ``key`` is the code id: the grant the store records on
    redemption and a replay revokes. ``redirect_uri`` is None when the request omitted it."""

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

    def grant(self) -> str:
        """What the store records on redemption: the place the code names, as the JSON object
        :meth:`core.ports.QueueStore.redeem_for_session` reads (nothing of the code itself)."""
        return json.dumps({"event_id": self.event_id, "request_id": self.request_id}, separators=(",", ":"))


@dataclass(frozen=True)
class Redemption:
    """The result of trying to redeem a code: the grant, or why not."""

    code: AuthorizationCode | None
    replayed: AuthorizationCode | None = None
    opened: Any = None
    """With ``code``: the session its redemption opened, for ``WaitingRoom.issue_oidc_tokens``."""
    attempt: str | None = None
    """With ``code``: the id of the try that redeemed it, for :meth:`SealedCodes.release`."""


class SealedCodes:
    """Issues sealed codes, and redeems them through the room's store step."""

    def __init__(self, keyset: Callable[[], KeySet], now: Callable[[], float], clock_skew: float = 0.0) -> None:
        self._keys = SealingKeys(keyset, now, SEALING_INFO)
        self._now = now
        self._clock_skew = clock_skew

    def issue(self, *, client_id: str, redirect_uri: str | None, code_challenge: str | None, event_id: str,
              request_id: str, auth_time: int, scope: str, nonce: str | None) -> str:
        """A new code for the place ``request_id`` of ``event_id``, for ``client_id`` with the
        request's S256 ``code_challenge`` (None without PKCE) and ``redirect_uri`` (None if the
        request had none). No store step. ``1.<kid>.<base64url>``: some 300 characters for a
        typical request (the ``nonce`` and ``scope`` add their own length)."""
        # The creation time to the millisecond, rounded down: a code never lives past CODE_TTL.
        created_at = math.floor(self._now() * 1000) / 1000
        sealed = [randomness.token_urlsafe(16), event_id, request_id, auth_time, scope, nonce, created_at]
        plaintext = json.dumps(sealed, separators=(",", ":")).encode()
        kid, box = self._keys.seal(plaintext, binding(client_id, code_challenge, redirect_uri))
        return f"{CODE_VERSION}.{kid}.{_unpadded(box)}"

    def open(self, code: str, client_id: str, code_challenge: str | None,
             redirect_uri: str | None) -> AuthorizationCode | None:
        """The record of ``code`` presented by ``client_id`` with ``code_challenge`` (the S256
        of the request's verifier) and the token request's ``redirect_uri``, or None: a code
        that is not one of ours, was changed in any character, was sealed under a key no longer
        published, is bound to another client, challenge or redirect URI, or was made more than
        ``clock_skew`` seconds in the future. An expired code opens too (:meth:`redeem` tells
        its replay from nothing). Reads nothing from the store."""
        version, _, rest = code.partition(".")
        kid, _, text = rest.rpartition(".")
        if version != CODE_VERSION or not kid:
            return None
        try:
            box = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            return None
        if _unpadded(box) != text:
            # One code, one spelling: padding, or bits of the last character that no byte uses,
            # would give one code many strings (validate=True already refuses other characters).
            return None
        for sent_redirect_uri, associated in _bindings(client_id, code_challenge, redirect_uri):
            plaintext = self._keys.open(kid, box, associated)
            if plaintext is None:
                continue
            key, event_id, request_id, auth_time, scope, nonce, created_at = json.loads(plaintext)
            if created_at - self._clock_skew > self._now():
                return None
            return AuthorizationCode(
                key=key, client_id=client_id, redirect_uri=sent_redirect_uri, scope=scope, nonce=nonce,
                code_challenge=code_challenge, code_challenge_method="S256" if code_challenge else None,
                event_id=event_id, request_id=request_id, auth_time=auth_time, created_at=created_at,
            )
        return None

    def redeem(self, room: Any, event_id: str, code: str, client_id: str, code_verifier: str | None,
               redirect_uri: str | None, validity: int | None) -> Redemption:
        """Use the code as ``client_id`` (already authenticated) with ``code_verifier`` and
        ``redirect_uri``, and open the session of its place for ``validity`` seconds: one atomic
        store step. A code used before gives the grant as ``replayed`` (after its own expiry
        too); a code that does not open (:meth:`open`: changed, presented by another client,
        with another verifier or redirect URI) gives nothing and the store is not touched; an
        expired one unused gives nothing and the store step writes nothing. Raises the room's
        errors when the place can have no session (the code stays unused), and
        StoreUnavailable (the code released, so a retry redeems it as the first time)."""
        challenge = s256_challenge(code_verifier) if code_verifier else None
        record = self.open(code, client_id, challenge, redirect_uri)
        if record is None or self._now() >= record.created_at + CODE_TTL + GRANT_MEMORY:
            return Redemption(None)
        attempt = new_jti()
        first, replayed, opened = room.redeem_for_oidc_session(
            event_id, CODE_NAMESPACE, record.key, record.grant(), record.created_at + CODE_TTL, GRANT_MEMORY,
            validity, attempt)
        if first is not None:
            return Redemption(record, opened=opened, attempt=attempt)
        if replayed is not None:
            return Redemption(None, replayed=record)
        return Redemption(None)

    @staticmethod
    def release(room: Any, redemption: Redemption) -> None:
        """Make a redeemed code usable again by its own client, with its verifier: its tokens
        could not be sent (signing failed, say). The session it opened stays, for the retry.
        Best effort (``WaitingRoom.release_redemption``)."""
        if redemption.code is not None and redemption.attempt is not None:
            room.release_redemption(CODE_NAMESPACE, redemption.code.key, redemption.attempt)

    def issued_without_challenge(self, code: str, client_id: str, redirect_uri: str | None) -> bool:
        """Whether ``code`` opens for ``client_id`` with no PKCE challenge and has not expired:
        tells a verifier sent for such a code (refused, RFC 9700 section 4.8) from a wrong one.
        No store step."""
        record = self.open(code, client_id, None, redirect_uri)
        return record is not None and self._now() < record.created_at + CODE_TTL
