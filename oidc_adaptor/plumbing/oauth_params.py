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

from flask import Flask, Response, jsonify, make_response, render_template, request

CHECKED = ("response_type", "client_id", "client_secret", "redirect_uri", "scope", "grant_type", "code",
           "code_verifier", "code_challenge", "code_challenge_method", "refresh_token", "access_token", "nonce",
           "prompt", "max_age", "response_mode", "token_type_hint")
"""Parameters whose grammar is printable ASCII."""

ENDPOINTS = frozenset({"oidc.authorize", "oidc.token", "oidc.userinfo", "oidc.userinfo_alias"})


def first_invalid(values: dict[str, list[str]]) -> str | None:
    """The name of the first checked parameter holding a character outside ``%x20-7E``, or None."""
    for name in CHECKED:
        for value in values.get(name, ()):
            if not value.isascii() or not value.isprintable():
                return name
    return None


def init_app(app: Flask) -> None:
    """Check the OAuth endpoints' query and form parameters before their views run."""

    @app.before_request
    def _check_oauth_parameters() -> Response | None:
        if request.endpoint not in ENDPOINTS:
            return None
        values: dict[str, list[str]] = {name: request.args.getlist(name) for name in CHECKED if name in request.args}
        if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
            for name in CHECKED:
                values.setdefault(name, []).extend(request.form.getlist(name))
        invalid = first_invalid(values)
        if invalid is None:
            return None
        message = f"the {invalid} parameter holds characters OAuth does not allow (printable ASCII only)"
        if request.endpoint == "oidc.authorize":
            response = make_response(render_template("oidc_error.html", message=message), 400)
        else:
            response = jsonify(error="invalid_request", error_description=message)
            response.status_code = 400
        response.headers["Cache-Control"] = "no-store"
        return response


__all__ = ["CHECKED", "first_invalid", "init_app"]
