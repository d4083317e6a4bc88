"""A per-client-address limit on entering the line (``[server] enter_rate_limit``, off by default).

Fixed windows counted in the shared store (``incr`` of the SQLite, Redis and DynamoDB stores), so the limit
holds across every worker and machine: ``"10/minute"`` lets one address take at most 10 places
per clock minute. A refused entry is HTTP 429 with ``Retry-After`` (seconds until the window
ends). Only entering is limited: polling a place, the waiting page and token requests are not.
An entry counts only once it could take a place: ``POST /assign_queue_num`` counts after its
event and idempotency key are checked, ``/authorize`` only when it is about to take a new place,
and a CORS preflight never reaches either, so a preflight is never answered 429 (a browser would
report that as an opaque CORS failure) and never uses up a browser's budget.

The client address is the request's remote address: the peer's, or with ``[server]
trusted_proxies = N`` the N-th address from the right of ``X-Forwarded-For``, as
:mod:`oidc_adaptor.plumbing.proxies` sets it for the whole app. IPv6 clients are counted per /64, since one host
usually owns a whole /64. Addresses are stored as a salted digest, never in clear.

A store without ``incr`` falls back to a counter in this process, so the limit then holds per
worker; the app logs that once.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
from dataclasses import dataclass

from flask import Flask, Response, current_app, jsonify, make_response, render_template, request

from core.errors import WaitingRoomError
from core.settings import parse_rate

log = logging.getLogger("waitingroom.ratelimit")

NAMESPACE = "rate-enter"
EXTENSION = "waitingroom_ratelimit"


class RateLimited(WaitingRoomError):
    """Too many entries from one client address in the current window (HTTP 429)."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def client_address(remote_addr: str | None) -> str:
    """The address to count: see the module docstring. Never fails; unknown is ``"unknown"``."""
    address = remote_addr or "unknown"
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address[:64]  # not an IP: count it as given, bounded
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class LocalCounter:
    """Fallback for stores without ``incr``: fixed windows in this process only (same ``incr``)."""

    counts: dict[str, tuple[float, int]]
    lock: threading.Lock

    def incr(self, key: str, ttl: float, now: float) -> int:
        with self.lock:
            expires, count = self.counts.get(key, (0.0, 0))
            if expires <= now:
                expires, count = now + ttl, 0
            count += 1
            self.counts[key] = (expires, count)
            if len(self.counts) > 100_000:  # drop ended windows now and then
                self.counts = {k: v for k, v in self.counts.items() if v[0] > now}
            return count


class EntryRateLimiter:
    def __init__(self, store: object, limit: int, window: float, salt: bytes) -> None:
        self.store = store
        self.limit = limit
        self.window = window
        self.salt = salt
        self._local: LocalCounter | None = None
        if not callable(getattr(store, "incr", None)):
            log.warning("the store has no shared counters: enter_rate_limit is enforced per worker process")
            self._local = LocalCounter({}, threading.Lock())

    def check(self, address: str, now: float) -> None:
        """Count one entry from ``address``; raise RateLimited past the limit of this window."""
        index = math.floor(now / self.window)
        digest = hashlib.sha256(self.salt + address.encode()).hexdigest()[:32]
        key = f"{digest}:{index}"
        ttl = (index + 1) * self.window - now + 1
        if self._local is not None:
            count = self._local.incr(key, ttl, now)
        else:
            count = self.store.incr(NAMESPACE, key, ttl, now)  # type: ignore[attr-defined]
        if count > self.limit:
            retry_after = max(1, math.ceil((index + 1) * self.window - now))
            raise RateLimited(f"too many entries from this address; try again in {retry_after} s", retry_after)


def init_app(app: Flask) -> None:
    """Build the limiter from the settings if ``enter_rate_limit`` is set; install the 429 answer."""
    app.register_error_handler(RateLimited, _too_many)
    services = app.extensions["waitingroom"]
    server = services.settings.server
    rate = parse_rate(server.enter_rate_limit)
    if rate is None:
        return
    salt = hashlib.sha256(b"waitingroom-ratelimit:" + server.issuer.encode()).digest()
    app.extensions[EXTENSION] = EntryRateLimiter(services.store, rate[0], rate[1], salt)


def _too_many(exc: RateLimited) -> Response:
    """429 with Retry-After: JSON for the API, the error page for a browser at ``/authorize``."""
    log.info("entry refused by the rate limit", extra={"endpoint": request.endpoint})
    if request.endpoint == "oidc.authorize":
        response = make_response(render_template("oidc_error.html", message=(
            "Too many people have joined the line from your network in the last moments. "
            f"Please try again in {exc.retry_after} seconds.")), 429)
    else:
        response = jsonify(error=exc.code, message=str(exc))
        response.status_code = 429
    response.headers["Retry-After"] = str(exc.retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


def check_entry() -> None:
    """Count an entry from the current request's client; raise RateLimited when over the limit.

    Call it once the request could take a place (see the module docstring). Does nothing when no
    limit is configured.
    """
    limiter: EntryRateLimiter | None = current_app.extensions.get(EXTENSION)
    if limiter is None:
        return
    address = client_address(request.remote_addr)  # behind trusted proxies, ProxyFix has set it
    limiter.check(address, current_app.extensions["waitingroom"].clock.now())
