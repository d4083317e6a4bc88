"""Admin authentication: bearer API keys from the configuration, compared in constant time."""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, g, request

from .errors import error_response
from .services import services

log = logging.getLogger("waitingroom.admin")

F = TypeVar("F", bound=Callable[..., Any])


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def matching_admin_key(presented: str | None) -> int | None:
    """Index of the configured admin key equal to ``presented``, or None.

    Every configured key is compared (no early exit) so timing reveals neither which key
    matched nor how many characters did.
    """
    if not presented:
        return None
    found = None
    candidate = presented.encode()
    for index, key in enumerate(services().settings.server.admin_keys):
        if hmac.compare_digest(candidate, key.encode()) and found is None:
            found = index
    return found


def unauthorized(message: str) -> Response:
    response = error_response(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="waitingroom-admin"'
    return response


def require_admin(view: F) -> F:
    """Let the request through only with ``Authorization: Bearer <admin key>``.

    The key itself is never logged: admin actions are logged with the key's index.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not services().settings.server.admin_keys:
            return unauthorized("the admin API is disabled: no admin_keys are configured")
        index = matching_admin_key(bearer_token())
        if index is None:
            return unauthorized("a valid admin key is required")
        g.admin_key_index = index
        log.info("admin action", extra={"admin_key": f"#{index}", "path": request.path, "method": request.method})
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
