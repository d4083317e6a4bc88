"""CORS: for the public REST API, the browser origins ``[server] cors_origins`` allows; for the
OpenID Connect provider's documents and endpoints, every origin (:func:`allow_public_clients`)."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Request, Response

from . import security_headers

CORS_ALLOWED_HEADERS = "Content-Type, Idempotency-Key"
CORS_MAX_AGE = "600"
PUBLIC_CLIENT_HEADERS = (("Access-Control-Allow-Origin", "*"),)
PUBLIC_CLIENT_PREFLIGHT_HEADERS = (
    *PUBLIC_CLIENT_HEADERS,
    ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    ("Access-Control-Max-Age", CORS_MAX_AGE),
)


def allow_public_clients(request: Request, response: Response) -> Response:
    """Let a browser-based relying party (a public client, in any origin) read ``response``:
    discovery, the JWKS its id tokens are checked with, and the token and userinfo answers. No
    cookie or credential of the browser is involved, so any origin may; headers a view set
    itself are kept (one pass: :func:`oidc_adaptor.plumbing.security_headers.fill_missing`).
    The methods and request headers allowed go on the answer to a preflight (``OPTIONS``) only:
    browsers read them nowhere else (Fetch standard, "CORS-preflight fetch")."""
    headers = PUBLIC_CLIENT_PREFLIGHT_HEADERS if request.method == "OPTIONS" else PUBLIC_CLIENT_HEADERS
    security_headers.fill_missing(response.headers, headers)
    return response


def cors(request: Request, response: Response, allowed: Sequence[str]) -> Response:
    """Allow browsers on the configured origins (``[server] cors_origins``) to call the public API.

    No origin is allowed unless configured; ``"*"`` in the list allows every origin (no
    credentials are involved: the API uses no cookies). Once any origin is configured, publicly
    cacheable answers (``Cache-Control: public``) allow every origin and do not vary on it.
    Called for every response of this blueprint by the app's response hook.
    """
    if not allowed:
        return response
    # A publicly cacheable answer (the status documents) is the same for every request and needs
    # no credentials: any origin may read it, and it must not say Vary: Origin, or a shared cache
    # would keep a copy per Origin value and a client sending a new one each time would reach the
    # server on every request.
    wildcard = "*" in allowed or bool(response.cache_control.public)
    if not wildcard:
        # Even without an Origin: a shared cache must not hand this answer to another origin.
        response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if not origin:
        return response
    if wildcard:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
    else:
        return response
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = CORS_ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
    return response
