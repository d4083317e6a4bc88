"""The one place where domain errors become HTTP responses.

REST endpoints answer ``{"error": <code>, "message": <text>}``; nothing ever returns a stack
trace. OAuth endpoints format their own errors (RFC 6749 section 5.2) in the ``oidc`` package.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from core import errors

log = logging.getLogger("waitingroom.http")

STATUS_FOR: dict[type[errors.WaitingRoomError], int] = {
    errors.UnknownEvent: 404,
    errors.UnknownRequest: 404,
    errors.NotAdmitted: 403,
    errors.PositionExpired: 410,
    errors.SessionEnded: 410,
    errors.InvalidTransition: 409,
    errors.InvalidArgument: 400,
    errors.StoreUnavailable: 503,
}


class BadRequest(errors.WaitingRoomError):
    """Malformed client input caught in a view (missing field, wrong type)."""

    code = "bad_request"


STATUS_FOR[BadRequest] = 400


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify(error=code, message=message)
    response.status_code = status
    if status == 503:
        from .services import services

        response.headers["Retry-After"] = str(services().settings.server.retry_after)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(errors.WaitingRoomError)
    def _domain(exc: errors.WaitingRoomError) -> Response:
        status = STATUS_FOR.get(type(exc), 400)
        if status == 503:
            log.warning("store unavailable: %s", exc)
        return error_response(status, exc.code, str(exc) or exc.code)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(exc.code or 500, code, exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an internal error occurred")
