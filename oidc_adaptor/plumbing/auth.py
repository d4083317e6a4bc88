"""Admin authentication: bearer API keys from the configuration, compared in constant time.

``[server] admin_keys`` act on every event; ``[events.X] admin_keys`` act on event X only.
Keys are never logged: admin actions are logged with the key's label (its index).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
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


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def admin_key_labels() -> list[tuple[str, str | None, str]]:
    """(label, event scope or None, key) of every configured admin key.

    Labels name a key without revealing it: ``0``, ``1`` ... for ``[server] admin_keys`` (valid
    for every event), ``EVENT/0`` ... for ``[events.EVENT] admin_keys`` (valid for that event only).
    """
    settings = services().settings
    keys: list[tuple[str, str | None, str]] = [(str(i), None, k) for i, k in enumerate(settings.server.admin_keys)]
    for event_id, event_keys in settings.event_admin_keys.items():
        keys += [(f"{event_id}/{i}", event_id, k) for i, k in enumerate(event_keys)]
    return keys


def match_admin_key(presented: str | None) -> tuple[str, str | None] | None:
    """(label, event scope) of the configured admin key equal to ``presented``, or None.

    Constant time: SHA-256 digests (equal length whatever was sent) are compared with
    :func:`hmac.compare_digest`, against every configured key with no early exit, so timing
    reveals neither which key matched, nor how long the keys are, nor how many characters did.
    """
    if not presented:
        return None
    found = None
    candidate = _digest(presented)
    for label, scope, key in admin_key_labels():
        if hmac.compare_digest(candidate, _digest(key)) and found is None:
            found = (label, scope)
    return found


def matching_admin_key(presented: str | None) -> int | None:
    """Index of the matching ``[server] admin_keys`` entry (valid for every event), or None."""
    found = match_admin_key(presented)
    if found is None or found[1] is not None:
        return None
    return int(found[0])


def requested_event_ids() -> set[str]:
    """Every event id the request names: in the path, the query string or a JSON body."""
    named: set[str] = set()
    view_args = request.view_args or {}
    if isinstance(view_args.get("event_id"), str):
        named.add(view_args["event_id"])
    named.update(request.args.getlist("event_id"))
    if request.content_length or request.headers.get("Transfer-Encoding"):
        try:
            body = json.loads(request.get_data(cache=True) or b"null")
        except (ValueError, RecursionError):
            body = None
        if isinstance(body, dict):
            for name in ("event_id", "event"):
                if name in body:
                    named.add(body[name] if isinstance(body[name], str) else repr(body[name]))
    return named


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
        if not admin_key_labels():
            return unauthorized("the admin API is disabled: no admin_keys are configured")
        found = match_admin_key(bearer_token())
        if found is None:
            log.warning("admin request refused: no valid key",
                        extra={"path": request.path, "method": request.method, "remote": request.remote_addr})
            return unauthorized("a valid admin key is required")
        label, scope = found
        if scope is not None and requested_event_ids() != {scope}:
            # An event's key acts on that event only, and never on deployment-wide endpoints.
            log.warning("admin request refused: key for another event",
                        extra={"admin_key": f"#{label}", "path": request.path, "method": request.method})
            return unauthorized("this admin key is not valid for this request")
        g.admin_key_index = label
        log.info("admin action", extra={"admin_key": f"#{label}", "path": request.path, "method": request.method})
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
