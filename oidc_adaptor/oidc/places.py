"""The waiting visitor's place in line, remembered by a cookie.

The cookie holds a random handle (one per browser), never the request id: the request id is
the secret that proves a place and stays on the server, in the shared store, as an alias of the
place named by the SHA-256 of the handle and the event id (``QueueStore.set_alias``), so the
place and its ticket are read in one step. Re-requesting the same authorization URL with the
same cookie finds the same place; a browser without the cookie gets a new one.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from core.model import Ticket

from .clients import is_loopback

COOKIE_NAME = "wr_place"
HANDLE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
PLACE_TTL = 2 * 24 * 3600  # seconds a browser's place is remembered (cookie max-age too)


@dataclass(frozen=True)
class PlaceRef:
    """Which place a browser holds in one event.

    ``generation`` counts places this browser took in the event (a new one after the old one
    ended). ``fresh`` is true for a place taken because ``max_age`` or ``prompt=login`` asked
    to re-authenticate: the visitor authenticates when they come back to claim it once
    admitted, so it is not sent back to the line again. ``authenticated_at`` (epoch seconds)
    is when they did, for a place that was fresh; None for the others, whose authentication
    is their admission.
    """

    request_id: str
    generation: int = 0
    fresh: bool = False
    authenticated_at: int | None = None


def new_handle() -> str:
    return secrets.token_urlsafe(32)


def valid_handle(value: str | None) -> str | None:
    return value if value and HANDLE_PATTERN.match(value) else None


@functools.lru_cache(maxsize=8)
def cookie_is_secure(issuer: str) -> bool:
    """Secure cookies everywhere except a plain-http issuer on a loopback host (local demos)."""
    parts = urlsplit(issuer)
    return not (parts.scheme == "http" and is_loopback(parts.hostname or ""))


class Places:
    def __init__(self, store: Any, now: Any) -> None:
        self.store = store
        self._now = now

    @staticmethod
    def _key(handle: str, event_id: str) -> str:
        """The alias of the browser's place: 128 bits of SHA-256, URL-safe base64 (22 characters).
        The handle is a 256-bit secret; the alias only names it, and stays small in the store."""
        return base64.urlsafe_b64encode(hashlib.sha256(f"{handle}\n{event_id}".encode()).digest()[:16]).decode()[:22]

    @staticmethod
    def idempotency_key(handle: str, event_id: str, generation: int) -> str:
        """Entering twice with one handle (two tabs at once) still takes one place."""
        return "oidc-" + hashlib.sha256(f"{handle}\n{event_id}\n{generation}".encode()).hexdigest()[:40]

    def find(self, handle: str, event_id: str) -> tuple[PlaceRef | None, Ticket | None]:
        """The place this browser holds in the event and its ticket (None if the place is gone),
        in one store read."""
        key = self._key(handle, event_id)
        found = self.store.resolve_alias(event_id, key, self._now())
        if found is None:
            return None, None
        request_id, note, ticket = found
        note, _, authenticated_at = note.partition("@")
        return PlaceRef(request_id, int(note.rstrip("f") or 0), note.endswith("f"),
                        int(authenticated_at) if authenticated_at else None), ticket

    def remember(self, handle: str, event_id: str, ref: PlaceRef) -> None:
        """Store the place with a note of a few bytes: the generation, then ``f`` if fresh, then
        ``@`` and the time of its authentication if it has one."""
        note = f"{ref.generation}{'f' if ref.fresh else ''}"
        if ref.authenticated_at is not None:
            note += f"@{ref.authenticated_at}"
        self.store.set_alias(event_id, self._key(handle, event_id), ref.request_id, note, PLACE_TTL, self._now())
