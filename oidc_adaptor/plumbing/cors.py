"""CORS for the public REST API: which browser origins may call it (``[server] cors_origins``)."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Request, Response

CORS_ALLOWED_HEADERS = "Content-Type, Idempotency-Key"
CORS_MAX_AGE = "600"


def cors(request: Request, response: Response, allowed: Sequence[str]) -> Response:
    """Allow browsers on the configured origins (``[server] cors_origins``) to call the public API.

    No origin is allowed unless configured; ``"*"`` in the list allows every origin (no
    credentials are involved: the API uses no cookies). Called for every response of this
    blueprint by the app's response hook.
    """
    if not allowed:
        return response
    wildcard = "*" in allowed
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
