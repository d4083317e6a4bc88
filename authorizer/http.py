"""The HTTP calls the authorizers make: GET (JWKS, session status) and, for the CloudFront gate, a
form POST (the token request). Standard library only, so the Lambda packages need nothing beyond
PyJWT and cryptography, and the Lambda@Edge bundle nothing at all."""

from __future__ import annotations

import time
import urllib.parse
from typing import Any


class FetchError(Exception):
    """The URL could not be fetched. The message names the cause and is safe to log."""


def http_get(url: str, timeout: float, max_bytes: int, same_host: bool = False) -> tuple[int, bytes]:
    """GET ``url`` (http or https only); returns (status, at most ``max_bytes + 1`` bytes of body).

    Redirects are followed to http and https URLs only, and with ``same_host`` only to the same
    host name (never from https to http): a document that proves something about one host
    (a draw) must not come from another.

    An HTTP error status is returned with an empty body, not raised; a refused scheme or an
    unreachable host raises FetchError, as does a body still arriving ``timeout`` seconds after
    the response began (``timeout`` also bounds each socket operation).
    """
    status, body = _send(url, None, timeout, max_bytes, same_host)
    return status, body if status < 400 else b""


def http_post_form(url: str, form: dict[str, str], timeout: float, max_bytes: int) -> tuple[int, bytes]:
    """POST ``form`` as ``application/x-www-form-urlencoded`` to ``url`` (http or https only).

    Returns (status, at most ``max_bytes + 1`` bytes of body), the body of an error status
    included (an OAuth error response is JSON, RFC 6749 section 5.2); an unreachable host raises
    FetchError.
    """
    return _send(url, urllib.parse.urlencode(form).encode("ascii"), timeout, max_bytes)


def _send(url: str, data: bytes | None, timeout: float, max_bytes: int,
          same_host: bool = False) -> tuple[int, bytes]:
    # Imported on the first call, not at import: urllib.request pulls in http.client and email,
    # a sixth of the CloudFront gate's cold start, while most requests never call out.
    import urllib.error
    import urllib.request

    class Redirects(urllib.request.HTTPRedirectHandler):
        """urllib's redirects, refused to another scheme than http(s) (urllib allows ftp) and,
        with ``same_host``, to another host or from https down to http."""

        def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
            old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
            if new.scheme not in ("http", "https") or (same_host and (
                    new.hostname != old.hostname or (old.scheme, new.scheme) == ("https", "http"))):
                raise urllib.error.URLError(f"refusing a redirect to {newurl}")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise FetchError(f"refusing to fetch a {scheme or 'relative'} URL: only http and https are allowed")
    headers = {"Accept": "application/json", "User-Agent": "waitingroom-authorizer"}
    if data is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.build_opener(Redirects).open(request, timeout=timeout) as response:
            return int(response.status), _read_within(response, max_bytes + 1, time.monotonic() + timeout)
    except urllib.error.HTTPError as exc:
        try:
            return int(exc.code), _read_within(exc, max_bytes + 1, time.monotonic() + timeout)
        except OSError:
            return int(exc.code), b""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None


CHUNK = 1 << 16


def _read_within(response: Any, limit: int, deadline: float) -> bytes:
    """At most ``limit`` bytes of ``response``'s body, read by chunks. Raises TimeoutError (an
    OSError) once the ``deadline`` (``time.monotonic()``) passes: the socket's timeout bounds each
    read only, so a peer sending a byte now and then would otherwise hold the caller for ever."""
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the response's body was still arriving when the time ran out")
        chunk = response.read1(min(CHUNK, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
