"""Where the authorizer finds the waiting room's public keys.

Two sources, both callables ``(kid) -> JWK | None`` that plug into
``core.tokens.TokenVerifier(jwks_for_kid=...)``:

- :class:`JwksCache` fetches the JWKS from the waiting room's ``jwks_uri`` over HTTP(S), keeps
  it for ``ttl`` seconds, and refetches once when a token names a ``kid`` it does not hold (so a
  key rotation needs no redeploy). Every fetch, whatever triggered it, is rate-limited to one
  per ``min_interval`` seconds, so a flood of tokens with made-up ``kid`` values cannot turn the
  authorizer into a load generator against the waiting room. A failed refresh keeps serving the
  keys it already has. Thread-safe: concurrent callers that miss share one fetch.
- :class:`StaticJwks` holds a fixed JWKS (JSON text or a file), for air-gapped deployments.

Only keys usable for RS256 signatures are kept (``kty`` RSA, ``use`` absent or ``sig``, ``alg``
absent or RS256); anything else in the document is ignored.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.token_rules import ALGORITHM

from .http import FetchError, http_get

log = logging.getLogger("waitingroom.authorizer.jwks")

MAX_JWKS_BYTES = 256 * 1024
"""A JWKS of a few keys is a few kilobytes; refuse anything absurdly large."""

JWK = Mapping[str, Any]


class JwksError(Exception):
    """The JWKS could not be fetched or parsed. The message is safe to log."""


def usable_keys(document: Any) -> dict[str, JWK]:
    """The RS256 signing keys of a JWKS document, by ``kid``. Raises JwksError if it is no JWKS."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JwksError("not a JWKS: expected an object with a 'keys' list")
    keys: dict[str, JWK] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, Mapping):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid or jwk.get("kty") != "RSA":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
            continue
        if not isinstance(jwk.get("n"), str) or not isinstance(jwk.get("e"), str):
            continue
        keys[kid] = dict(jwk)
    return keys


def fetch_json(url: str, timeout: float) -> Any:
    """GET ``url`` (http or https only) and parse the JSON body, at most MAX_JWKS_BYTES."""
    try:
        status, body = http_get(url, timeout, MAX_JWKS_BYTES)
    except FetchError as exc:
        raise JwksError(str(exc)) from None
    if status != 200:
        raise JwksError(f"HTTP {status} from {url}")
    if len(body) > MAX_JWKS_BYTES:
        raise JwksError(f"response from {url} is larger than {MAX_JWKS_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise JwksError(f"response from {url} is not JSON") from None


class JwksCache:
    """The JWKS of ``url``, cached for ``ttl`` seconds, refetched at most once per ``min_interval``.

    ``fetch(url)`` returns the parsed JSON document (default: :func:`fetch_json` with ``timeout``);
    ``clock`` is a monotonic clock in seconds. Both are injectable for tests. ``seed``: a JWKS
    document whose keys are held from the start, as if just fetched.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 300.0,
        min_interval: float = 30.0,
        timeout: float = 3.0,
        fetch: Callable[[str], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        seed: Mapping[str, Any] | None = None,
    ) -> None:
        if ttl <= 0 or min_interval < 0:
            raise ValueError("ttl must be positive and min_interval not negative")
        self.url = url
        self.ttl = ttl
        self.min_interval = min(min_interval, ttl)
        self._fetch = fetch or (lambda u: fetch_json(u, timeout))
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, JWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self.fetches = 0  # attempts made, for metrics and tests
        if seed is not None and usable_keys(seed):
            # Keys known in advance (the CloudFront gate bundles the JWKS of its build time) count as
            # just fetched: no fetch until the TTL passes or a token names another kid.
            self._keys = usable_keys(seed)
            self._fetched_at = clock()

    def __call__(self, kid: str) -> JWK | None:
        return self.get(kid)

    def get(self, kid: str) -> JWK | None:
        """The JWK for ``kid``, refreshing the cache when stale or when ``kid`` is unknown (rate-limited)."""
        keys = self._keys
        if kid in keys and not self._stale():
            return keys[kid]
        with self._lock:
            # Another thread may have refreshed while this one waited for the lock.
            if (kid not in self._keys or self._stale()) and self._may_fetch():
                self._refresh()
            return self._keys.get(kid)

    def keys(self) -> dict[str, JWK]:
        """The keys currently cached (fetching first if nothing was ever fetched)."""
        with self._lock:
            if self._fetched_at is None and self._may_fetch():
                self._refresh()
            return dict(self._keys)

    def _stale(self) -> bool:
        fetched = self._fetched_at
        return fetched is None or self._clock() - fetched >= self.ttl

    def _may_fetch(self) -> bool:
        attempted = self._attempted_at
        return attempted is None or self._clock() - attempted >= self.min_interval

    def _refresh(self) -> None:
        """Fetch and replace the keys; on failure keep the old ones (caller holds the lock)."""
        self._attempted_at = self._clock()
        self.fetches += 1
        try:
            keys = usable_keys(self._fetch(self.url))
        except JwksError as exc:
            log.warning("JWKS refresh failed, keeping %d cached key(s): %s", len(self._keys), exc)
            return
        except Exception as exc:  # a broken fetch hook must not take the authorizer down
            log.warning("JWKS refresh failed, keeping %d cached key(s): %s", len(self._keys), type(exc).__name__)
            return
        self._keys = keys
        self._fetched_at = self._clock()
        log.info("JWKS refreshed from %s: %d key(s)", self.url, len(keys))


class StaticJwks:
    """A fixed JWKS, for deployments that cannot reach the waiting room."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._keys = usable_keys(document)
        if not self._keys:
            raise JwksError("the static JWKS holds no RS256 signing key")

    @classmethod
    def from_text(cls, text: str) -> StaticJwks:
        try:
            return cls(json.loads(text))
        except ValueError:
            raise JwksError("the static JWKS is not valid JSON") from None

    @classmethod
    def from_file(cls, path: str | Path) -> StaticJwks:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise JwksError(f"cannot read the static JWKS file {path}: {exc.strerror}") from None
        return cls.from_text(text)

    @classmethod
    def from_setting(cls, value: str) -> StaticJwks:
        """JSON text if ``value`` starts with ``{``, otherwise the path of a file holding it."""
        return cls.from_text(value) if value.lstrip().startswith("{") else cls.from_file(value.strip())

    def __call__(self, kid: str) -> JWK | None:
        return self._keys.get(kid)

    def keys(self) -> dict[str, JWK]:
        return dict(self._keys)
