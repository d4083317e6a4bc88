"""Only requests that came through the deployment's CDN reach the app (``X-Origin-Verify``).

On AWS the public API Gateway stage is reachable by anyone who finds its URL. A caller going
around CloudFront would skip the edge cache and could choose ``X-Forwarded-For`` for itself. The
distribution adds a secret header to every request it forwards; the app answers 403 to any
request without it. The secret lives in Secrets Manager; the value is compared in constant time.

Rotation: after the secret gets a new value and the distribution sends it, requests carrying it
no longer match; the verifier then reads the secret again (at most once per ``refresh_interval``
seconds, so unknown values cannot make it hammer Secrets Manager) and from then on accepts the
new value and the one before it, so edges that still send the old one keep working.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable

from flask import Flask, Response, request

from .errors import error_response

log = logging.getLogger("waitingroom.origin")

HEADER = "X-Origin-Verify"
EXTENSION = "waitingroom_origin_verifier"


class OriginVerifier:
    """Accepts the current secret value and, after a rotation was seen, the previous one."""

    def __init__(self, fetch: Callable[[], str], refresh_interval: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._refresh_interval = refresh_interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._accepted: tuple[bytes, ...] = (fetch().encode(),)
        self._fetched_at = monotonic()

    def _matches(self, value: bytes) -> bool:
        # every accepted value compared, no early exit
        found = False
        for accepted in self._accepted:
            found |= hmac.compare_digest(value, accepted)
        return found

    def verify(self, presented: str | None) -> bool:
        """Whether ``presented`` (the header's value, or None) is an accepted secret value."""
        if not presented:
            return False
        value = presented.encode()
        if self._matches(value):
            return True
        with self._lock:
            if self._monotonic() - self._fetched_at < self._refresh_interval:
                return False
            self._fetched_at = self._monotonic()
            try:
                current = self._fetch().encode()
            except Exception as exc:  # keep the values held; the next interval tries again
                log.warning("could not read the origin secret again: %s", exc)
                return False
            if current != self._accepted[0]:
                log.info("the origin secret changed: accepting the new value and the previous one")
                self._accepted = (current, self._accepted[0])
        return self._matches(value)


def init_app(app: Flask, verifier: OriginVerifier) -> None:
    """Answer 403 ``{"error": "forbidden"}`` to every request without the secret header, before
    any other request hook runs (a request around the CDN costs no store call)."""
    app.extensions[EXTENSION] = verifier

    def _verify_origin() -> Response | None:
        if verifier.verify(request.headers.get(HEADER)):
            return None
        return error_response(403, "forbidden", "this API is served through its CDN only")

    app.before_request_funcs.setdefault(None, []).insert(0, _verify_origin)
