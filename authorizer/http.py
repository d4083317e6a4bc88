"""The HTTP calls the authorizers make: GET (JWKS, session status) and, for the CloudFront gate, a
form POST (the token request). Standard library only, so the Lambda packages need nothing beyond
PyJWT and cryptography, and the Lambda@Edge bundle nothing at all."""

from __future__ import annotations

import urllib.parse


class FetchError(Exception):
    """The URL could not be fetched. The message names the cause and is safe to log."""


def http_get(url: str, timeout: float, max_bytes: int) -> tuple[int, bytes]:
    """GET ``url`` (http or https only); returns (status, at most ``max_bytes + 1`` bytes of body).

    An HTTP error status is returned with an empty body, not raised; a refused scheme or an
    unreachable host raises FetchError.
    """
    status, body = _send(url, None, timeout, max_bytes)
    return status, body if status < 400 else b""


def http_post_form(url: str, form: dict[str, str], timeout: float, max_bytes: int) -> tuple[int, bytes]:
    """POST ``form`` as ``application/x-www-form-urlencoded`` to ``url`` (http or https only).

    Returns (status, at most ``max_bytes + 1`` bytes of body), the body of an error status
    included (an OAuth error response is JSON, RFC 6749 section 5.2); an unreachable host raises
    FetchError.
    """
    return _send(url, urllib.parse.urlencode(form).encode("ascii"), timeout, max_bytes)


def _send(url: str, data: bytes | None, timeout: float, max_bytes: int) -> tuple[int, bytes]:
    # Imported on the first call, not at import: urllib.request pulls in http.client and email,
    # a sixth of the CloudFront gate's cold start, while most requests never call out.
    import urllib.error
    import urllib.request

    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise FetchError(f"refusing to fetch a {scheme or 'relative'} URL: only http and https are allowed")
    headers = {"Accept": "application/json", "User-Agent": "waitingroom-authorizer"}
    if data is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            return int(response.status), response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        try:
            return int(exc.code), exc.read(max_bytes + 1)
        except OSError:
            return int(exc.code), b""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
