"""OAuth 2.0 parameters outside their grammar are refused before the OAuth machinery sees them.

RFC 6749 appendix A (and RFC 7636 section 4.1) allows the protocol's parameters only printable
ASCII (``VSCHAR``, ``%x20-7E``; ``code_verifier`` is narrower still). Authlib repeats some of them
in its error descriptions, and refuses to build a description holding anything else: a
``response_type`` or ``grant_type`` in another script, a control character or a replacement
character from invalid UTF-8 made ``/authorize`` and ``/token`` answer 500. Checking the whole
kind up front makes every such request a 400: an error page at ``/authorize`` (its redirect URI
is not trusted yet), ``{"error": "invalid_request"}`` elsewhere.

``state`` is not checked: it is opaque to the server and percent-encoded in every redirect, and
a relying party that sends an odd one gets it back as it was.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request

CHECKED = frozenset({
    "response_type", "client_id", "client_secret", "redirect_uri", "scope", "grant_type", "code", "code_verifier",
    "code_challenge", "code_challenge_method", "refresh_token", "access_token", "nonce", "prompt", "max_age",
    "response_mode", "token_type_hint"})
"""Parameters whose grammar is printable ASCII."""

ENDPOINTS = frozenset({"oidc.authorize", "oidc.token", "oidc.userinfo", "oidc.userinfo_alias"})


def first_invalid(*sources: Any) -> str | None:
    """The name of the first checked parameter, in any of ``sources`` (MultiDicts: the query,
    the form), holding a character outside ``%x20-7E``, or None. One pass over the parameters
    sent (a handful), not one lookup per checked name."""
    for values in sources:
        for name, value in values.items(multi=True):
            if name in CHECKED and not (value.isascii() and value.isprintable()):
                return name
    return None


def init_app(app: Flask) -> None:
    """Check the OAuth endpoints' query and form parameters before their views run."""

    @app.before_request
    def _check_oauth_parameters() -> Response | None:
        current = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup
        endpoint = current.endpoint
        if endpoint not in ENDPOINTS:
            return None
        if current.method == "POST" and current.mimetype == "application/x-www-form-urlencoded":
            invalid = first_invalid(current.args, current.form)
        else:
            invalid = first_invalid(current.args)
        if invalid is None:
            return None
        message = f"the {invalid} parameter holds characters OAuth does not allow (printable ASCII only)"
        if endpoint == "oidc.authorize":
            response = make_response(render_template("oidc_error.html", message=message), 400)
        else:
            response = jsonify(error="invalid_request", error_description=message)
            response.status_code = 400
        response.headers["Cache-Control"] = "no-store"
        return response


__all__ = ["CHECKED", "first_invalid", "init_app"]
