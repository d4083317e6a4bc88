"""Authorization responses: how a code or an error reaches the client, by response mode.

``query`` (the default of the code flow, RFC 6749 section 4.1.2) redirects with the parameters
in the redirect URI's query. ``form_post`` (OAuth 2.0 Form Post Response Mode) answers a page
whose form posts them to the redirect URI: an external script submits it, and without
JavaScript the visitor presses its button. The page's Content-Security-Policy runs no inline
script and loads nothing but this origin's script and style. It sets no ``form-action``:
Chromium applies that directive to every redirect after the submission, so a relying party
whose callback sends the visitor on to another origin would strand them on this page; the
page's only markup from the request is escaped. Every response of the authorization endpoint
carries ``iss`` (RFC 9207), errors included.
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import Response, make_response, render_template

QUERY = "query"
FORM_POST = "form_post"
RESPONSE_MODES = (QUERY, FORM_POST)
"""What discovery advertises as ``response_modes_supported``; any other mode is refused."""

FORM_POST_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def response_mode(value: str | None) -> str:
    """The response mode a request asks for (``query`` when it names none). Raises
    InvalidRequestError for any other mode, which the caller answers in ``query`` mode."""
    if not value:
        return QUERY
    if value not in RESPONSE_MODES:
        raise InvalidRequestError(f"The response_mode {value!r} is not supported; use query or form_post.")
    return value


def authorization_response(redirect_uri: str, params: list[tuple[str, str]], mode: str) -> Response:
    """Deliver ``params`` to ``redirect_uri`` (a registered, exactly matched URI without
    fragment) in ``mode``: a 302 for ``query``, a 200 page for ``form_post``. Never cached."""
    if mode == FORM_POST:
        html = render_template("form_post.html", action=redirect_uri, params=params)
        response = make_response(html, 200)
        response.headers["Content-Security-Policy"] = FORM_POST_CSP
    else:
        response = make_response("", 302)
        # No content, so no Content-Type (RFC 9110 section 8.3): nor, then, the headers of a
        # page (Content-Security-Policy, X-Frame-Options) on a response no browser renders.
        del response.headers["Content-Type"]
        separator = "&" if "?" in redirect_uri else "?"
        response.headers["Location"] = f"{redirect_uri}{separator}{urlencode(params)}"
    response.headers["Cache-Control"] = "no-store"
    return response
