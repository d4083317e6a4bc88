"""Security headers on every response of the app, as a floor under what each blueprint sets.

Blueprints with pages of their own (the waiting page, the control panel) set a tighter policy
first; this hook only fills in what is missing (``setdefault``), so it never loosens theirs:

- every response: ``X-Content-Type-Options: nosniff`` (no MIME sniffing of JSON into HTML) and
  ``Referrer-Policy: no-referrer`` (authorization URLs carry ``state`` and codes);
- HTML: a Content-Security-Policy allowing only this origin's scripts and styles, no plugins,
  no ``<base>``, forms only to this origin, and ``frame-ancestors 'none'`` with the legacy
  ``X-Frame-Options: DENY`` (a waiting page must not be framed: clickjacking);
- over HTTPS: ``Strict-Transport-Security`` for a year.
"""

from __future__ import annotations

from flask import Response

DEFAULT_HTML_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"


def apply(response: Response, *, secure: bool) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", DEFAULT_HTML_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
    if secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response
