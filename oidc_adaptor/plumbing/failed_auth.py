"""Throttling failed authentication: wrong client secrets at ``/token``, wrong admin keys.

Every failure is counted in the shared store (fixed windows, the store's atomic ``incr``), per
client and per client address for client secrets, per address for admin keys. Once a key of
this kind has failed :data:`LIMITS` times in a window, this worker refuses further attempts for
that key until the window ends, without checking them: a wrong client secret checked against a
slow hash costs tens of milliseconds of CPU, and an unthrottled attacker could guess admin keys
at the rate the server answers. Other workers learn of the block at their next failure for the
key, so each worker checks at most one more wrong attempt per window after the limit.

A legitimate client whose secret is checked cheaply (a generated secret, or one this worker
verified before: see :mod:`oidc_adaptor.oidc.passwords`) is never refused by the block.
Addresses are the request's remote address (``[server] trusted_proxies`` applies), stored as
salted digests like the entry rate limit's.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading

from flask import current_app, request

from .ratelimit import LocalCounter, client_address

log = logging.getLogger("waitingroom.auth")

NAMESPACE = "auth-failures"
EXTENSION = "waitingroom_failed_auth"
WINDOW = 60.0
"""Seconds of one counting window."""

LIMITS = {"client": 20, "client-address": 20, "admin-address": 10}
"""Failures per window before attempts for that key are refused unchecked: per OAuth client, per
address presenting client secrets, per address presenting admin keys."""


class FailureThrottle:
    """Counts failures per (kind, value) and blocks a key that reached its limit (see the module)."""

    def __init__(self, store: object, salt: bytes, window: float = WINDOW) -> None:
        self.store = store
        self.salt = salt
        self.window = window
        self._blocked: dict[str, float] = {}  # key -> end of the window it is blocked for
        self._lock = threading.Lock()
        self._local = None if callable(getattr(store, "incr", None)) else LocalCounter({}, threading.Lock())

    def _key(self, kind: str, value: str) -> str:
        return f"{kind}:{hashlib.sha256(self.salt + value.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"

    def retry_after(self, now: float, *keys: tuple[str, str]) -> int:
        """Seconds until the first of these keys is unblocked; 0 if none is blocked here."""
        with self._lock:
            ends = [self._blocked.get(self._key(*key), 0.0) for key in keys]
        latest = max(ends, default=0.0)
        return max(1, math.ceil(latest - now)) if latest > now else 0

    def failed(self, now: float, *keys: tuple[str, str]) -> None:
        """Count one failure for each key; block those that reached their limit."""
        index = math.floor(now / self.window)
        end = (index + 1) * self.window
        for kind, value in keys:
            key = self._key(kind, value)
            window_key = f"{key}:{index}"
            if self._local is not None:
                count = self._local.incr(window_key, end - now + 1, now)
            else:
                count = self.store.incr(NAMESPACE, window_key, end - now + 1, now)  # type: ignore[attr-defined]
            if count >= LIMITS[kind]:
                with self._lock:
                    if len(self._blocked) > 100_000:
                        self._blocked = {k: v for k, v in self._blocked.items() if v > now}
                    self._blocked[key] = end
                log.warning("authentication failures: %s blocked until the window ends", kind,
                            extra={"failures": count, "retry_after": math.ceil(end - now)})


def throttle() -> FailureThrottle:
    """The app's throttle (made on first use, with the app's store and a salt from its issuer)."""
    found = current_app.extensions.get(EXTENSION)
    if found is None:
        services = current_app.extensions["waitingroom"]
        salt = hashlib.sha256(b"waitingroom-failed-auth:" + services.settings.server.issuer.encode()).digest()
        found = current_app.extensions.setdefault(EXTENSION, FailureThrottle(services.store, salt))
    assert isinstance(found, FailureThrottle)
    return found


def now() -> float:
    return float(current_app.extensions["waitingroom"].clock.now())


def address() -> str:
    return client_address(request.remote_addr)


__all__ = ["LIMITS", "FailureThrottle", "address", "now", "throttle"]
