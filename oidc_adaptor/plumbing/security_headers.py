"""Security headers on every response of the app, as a floor under what each blueprint sets.

Blueprints with pages of their own (the waiting page, the control panel) set a tighter policy
first; this hook only fills in what is missing (:func:`fill_missing`), so it never loosens theirs:

- every response: ``X-Content-Type-Options: nosniff`` (no MIME sniffing of JSON into HTML) and
  ``Referrer-Policy: no-referrer`` (authorization URLs carry ``state`` and codes);
- HTML: a Content-Security-Policy allowing only this origin's scripts and styles, no plugins,
  no ``<base>``, forms only to this origin, and ``frame-ancestors 'none'`` with the legacy
  ``X-Frame-Options: DENY`` (a waiting page must not be framed: clickjacking);
- over HTTPS: ``Strict-Transport-Security`` for a year.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response
from werkzeug.datastructures import Headers

DEFAULT_HTML_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"

_EVERY = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))
_HTML = (("Content-Security-Policy", DEFAULT_HTML_CSP), ("X-Frame-Options", "DENY"))
_HTTPS = (("Strict-Transport-Security", HSTS),)
_FLOORS = {(html, secure): _EVERY + (_HTML if html else ()) + (_HTTPS if secure else ())
           for html in (False, True) for secure in (False, True)}
"""The headers :func:`apply` fills in, by (HTML response, over HTTPS)."""


def fill_missing(headers: Headers, defaults: Iterable[tuple[str, str]]) -> None:
    """Add each ``(name, value)`` of ``defaults`` whose header ``headers`` does not have yet
    (names compared case-insensitively, as HTTP does): ``setdefault`` for several headers in
    one pass over the response's headers. Werkzeug's ``setdefault`` looks a name up by raising
    and catching ``KeyError`` when it is absent, which is the usual case here, several times per
    response."""
    present = {name.lower() for name, _ in headers.items()}
    for name, value in defaults:
        if name.lower() not in present:
            headers.add(name, value)


def is_html(response: Response) -> bool:
    """Whether ``response`` is an HTML page (``text/html``, whatever its parameters)."""
    content_type = response.headers.get("Content-Type")
    return content_type is not None and content_type.split(";", 1)[0].strip().lower() == "text/html"


def apply(response: Response, *, secure: bool) -> Response:
    """Fill in the security headers ``response`` lacks (see the module docstring)."""
    fill_missing(response.headers, _FLOORS[is_html(response), secure])
    return response
