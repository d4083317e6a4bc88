"""The one HTTP GET the authorizer makes (JWKS, session status): standard library only, so the
Lambda package needs nothing beyond PyJWT and cryptography."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request


class FetchError(Exception):
    """The URL could not be fetched. The message names the cause and is safe to log."""


def http_get(url: str, timeout: float, max_bytes: int) -> tuple[int, bytes]:
    """GET ``url`` (http or https only); returns (status, at most ``max_bytes + 1`` bytes of body).

    An HTTP error status is returned with an empty body, not raised; a refused scheme or an
    unreachable host raises FetchError.
    """
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise FetchError(f"refusing to fetch a {scheme or 'relative'} URL: only http and https are allowed")
    headers = {"Accept": "application/json", "User-Agent": "waitingroom-authorizer"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            return int(response.status), response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
