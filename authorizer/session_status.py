"""The optional revocation check: ask the waiting room whether a token's session has ended.

A token stays cryptographically valid until ``exp`` even after the site reported the visitor
``completed`` or ``abandoned``. With ``WAITINGROOM_SESSION_STATUS_URL`` set, the verifier asks
the waiting room about the token's session and denies ended ones, so ending a session really
revokes it.

The endpoint contract (the URL is a template; ``{jti}``, ``{sub}``, ``{event_id}`` are filled in,
URL-quoted)::

    GET <template>          e.g. https://wr.example/session_status?event_id={event_id}&jti={jti}
    200 {"status": "issued" | "completed" | "abandoned" | "timed_out" | ..., "active": true | false}
    404 or 410              the session is unknown or gone: treated as ended

``active: false``, or a ``status`` of ``completed``, ``abandoned``, ``timed_out`` or ``expired``,
means ended. Answers are cached: live sessions for ``ttl`` seconds (the revocation delay), ended
ones until the token would expire anyway (ending is final), failures for at most one second (so an
outage is not hammered). When the waiting room cannot answer, the token is denied unless
``fail_open``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from core.tokens import TokenError

from .http import FetchError, http_get

log = logging.getLogger("waitingroom.authorizer.session_status")

ENDED = frozenset({"completed", "abandoned", "timed_out", "expired"})
MAX_BODY_BYTES = 16 * 1024
FAILURE_CACHE_SECONDS = 1.0


class StatusUnavailable(Exception):
    """The waiting room did not give a usable answer. The message is safe to log."""


Fetch = Callable[[str], tuple[int, Any]]
"""GET a URL, return (HTTP status, parsed JSON body or None); raise StatusUnavailable on I/O failure."""


def http_get_json(url: str, timeout: float) -> tuple[int, Any]:
    try:
        status, body = http_get(url, timeout, MAX_BODY_BYTES)
    except FetchError as exc:
        raise StatusUnavailable(f"session status endpoint: {exc}") from None
    try:
        return status, json.loads(body[:MAX_BODY_BYTES]) if body else None
    except ValueError:
        return status, None


def verdict_for(status: int, document: Any) -> str | None:
    """None for a live session, a reason for an ended one; raises StatusUnavailable otherwise."""
    if status in (404, 410):
        return "session unknown or gone"
    if status != 200 or not isinstance(document, Mapping):
        raise StatusUnavailable(f"session status endpoint answered HTTP {status}")
    if document.get("active") is False:
        return f"session {document.get('status') or 'inactive'}"
    state = document.get("status")
    if isinstance(state, str) and state.lower() in ENDED:
        return f"session {state.lower()}"
    if document.get("active") is True or isinstance(state, str):
        return None
    raise StatusUnavailable("session status answer has neither 'active' nor 'status'")


class SessionStatusClient:
    """Asks the waiting room about a session, with a small in-memory cache. Thread-safe."""

    def __init__(
        self,
        url_template: str,
        *,
        ttl: float = 10.0,
        timeout: float = 3.0,
        fail_open: bool = False,
        fetch: Fetch | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        max_entries: int = 50_000,
    ) -> None:
        self.url_template = url_template
        self.ttl = ttl
        self.fail_open = fail_open
        self._fetch: Fetch = fetch or (lambda url: http_get_json(url, timeout))
        self._clock = clock
        self._wall = wall_clock
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str | None, bool]] = {}  # key -> (until, verdict, failed)
        self.requests = 0

    def url_for(self, claims: Mapping[str, Any]) -> str:
        def quoted(name: str) -> str:
            return urllib.parse.quote(str(claims.get(name, "")), safe="")

        return (
            self.url_template.replace("{jti}", quoted("jti"))
            .replace("{sub}", quoted("sub"))
            .replace("{event_id}", quoted("event_id"))
        )

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise TokenError if the session of these (already verified) claims has ended."""
        url = self.url_for(claims)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None and cached[0] > now:
            _, verdict, failed = cached
        else:
            verdict, failed = self._ask(url, claims, now)
        if failed:
            if self.fail_open:
                return
            raise TokenError("session status unavailable")
        if verdict is not None:
            raise TokenError(verdict)

    def _ask(self, url: str, claims: Mapping[str, Any], now: float) -> tuple[str | None, bool]:
        self.requests += 1
        try:
            status, document = self._fetch(url)
            verdict = verdict_for(status, document)
        except StatusUnavailable as exc:
            log.warning("session status check failed: %s", exc)
            self._remember(url, now + min(self.ttl, FAILURE_CACHE_SECONDS), None, True)
            return None, True
        except Exception as exc:  # a broken fetch hook must not take the authorizer down
            log.warning("session status check failed: %s", type(exc).__name__)
            self._remember(url, now + min(self.ttl, FAILURE_CACHE_SECONDS), None, True)
            return None, True
        if verdict is None:
            until = now + self.ttl
        else:  # ending is final: remember it until the token is worthless anyway
            exp = claims.get("exp")
            remaining = float(exp) - self._wall() if isinstance(exp, int | float) else 0.0
            until = now + max(self.ttl, remaining)
        self._remember(url, until, verdict, False)
        return verdict, False

    def _remember(self, key: str, until: float, verdict: str | None, failed: bool) -> None:
        with self._lock:
            if len(self._cache) >= self._max_entries:
                now = self._clock()
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= self._max_entries:  # still full of live entries: drop the oldest half
                    keep = list(self._cache.items())[len(self._cache) // 2 :]
                    self._cache = dict(keep)
            self._cache[key] = (until, verdict, failed)
