"""A place in line only for a browser that returns the place cookie.

A browser that does not keep cookies (or cannot send this one back, such as a ``Secure`` cookie
on a plain-http address) would otherwise take a new place on every request and never be
admitted, while each of those places holds a slot. So a request without the cookie gets no
place: it gets the cookie and a redirect to the same authorization URL with :data:`MARKER`
added. Coming back with the cookie, it enters the line; coming back without it, it gets a page
that says cookies are needed, and nothing is handed out.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Response, make_response

MARKER = "wr_cookie_check"
"""Query parameter of the redirect that follows setting the cookie: the time it was set."""

MARKER_LIFETIME = 30.0
"""Seconds a marker counts as the redirect just made. A browser follows it at once; an older
marker is a copied or bookmarked address, opened in a browser that was never asked for the
cookie, which is asked now instead of being told cookies are needed."""


def without_marker(url: str) -> str:
    """``url`` without :data:`MARKER` in its query (the URL a visitor may bookmark or re-request)."""
    parts = urlsplit(url)
    if MARKER not in parts.query:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != MARKER]
    return urlunsplit(parts._replace(query=urlencode(query)))


def returned_before(marker: str | None, now: float) -> bool:
    """Whether this request follows the redirect that set the cookie just now (so the cookie
    should be here): its :data:`MARKER` value is a time within :data:`MARKER_LIFETIME`."""
    try:
        return marker is not None and -5.0 <= now - int(marker) <= MARKER_LIFETIME
    except ValueError:
        return False


def ask_for_cookie(authorize_url: str, now: float) -> Response:
    """The answer to a first request without the cookie: redirect to ``authorize_url`` (the same
    authorization request) marked with the time, so the next request tells whether the cookie
    came back. The caller sets the cookie on it."""
    separator = "&" if "?" in authorize_url else "?"
    response = make_response("", 303)
    response.headers["Location"] = f"{authorize_url}{separator}{MARKER}={int(now)}"
    response.headers["Cache-Control"] = "no-store"
    return response


def cookies_needed_page(html: str) -> Response:
    """The page for a browser that did not return the cookie (no place was taken): ``html`` is
    ``cookies_needed.html`` rendered for the event (:func:`oidc_adaptor.oidc.page.render`)."""
    response = make_response(html, 200)
    response.headers["Cache-Control"] = "no-store"
    return response
