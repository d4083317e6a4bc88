"""Admin authentication: bearer API keys from the configuration, compared in constant time.

``[server] admin_keys`` act on every event; ``[events.X] admin_keys`` act on event X only.
Keys are never logged: admin actions are logged with the key's label (its index). After
``failed_auth.LIMITS["admin-address"]`` wrong keys from one address in a minute, that address
gets 429 with ``Retry-After`` without its key being compared (:mod:`.failed_auth`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, g, request

from . import failed_auth
from .errors import error_response
from .params import json_object
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


ActsOn = Callable[[dict[str, Any]], list[object]]
"""What an admin request acts on: given the view's keyword arguments (its path variables), the
event ids the view will read or change, taken from the same place and by the same parsing the
view uses. Anything but exactly the key's own event refuses an event-scoped key."""


def path_event(view_args: dict[str, Any]) -> list[object]:
    """The ``<event_id>`` in the path."""
    return [view_args.get("event_id")]


def query_event(_view_args: dict[str, Any]) -> list[object]:
    """Every ``event_id`` in the query string (a repeated one acts on more than one event)."""
    return list(request.args.getlist("event_id"))


def body_field(name: str) -> ActsOn:
    """The ``name`` field of the JSON body (parsed as :func:`params.json_object` parses it)."""

    def acts_on(_view_args: dict[str, Any]) -> list[object]:
        return [json_object().get(name)]

    return acts_on


def unauthorized(message: str) -> Response:
    response = error_response(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="waitingroom-admin"'
    return response


def require_admin(view: F) -> F:
    """Let the request through only with ``Authorization: Bearer <deployment-wide admin key>``.

    For endpoints that act on the whole deployment (listings, settings of every event): an
    event's own key is refused. Endpoints acting on one event use :func:`require_event_admin`.
    """
    return _admin_guard(view, None)


def require_event_admin(acts_on: ActsOn) -> Callable[[F], F]:
    """Like :func:`require_admin`, and an ``[events.X] admin_keys`` key may act on event X.

    ``acts_on`` names what the request acts on (see :data:`ActsOn`): the scope check looks at the
    event the view will touch (the path's event, the body's ``event_id``, the event of the
    client being deleted), never at whatever else the request names.
    """
    return lambda view: _admin_guard(view, acts_on)


def _admin_guard(view: F, acts_on: ActsOn | None) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not admin_key_labels():
            return unauthorized("the admin API is disabled: no admin_keys are configured")
        throttle, now = failed_auth.throttle(), failed_auth.now()
        address = ("admin-address", failed_auth.address())
        retry_after = throttle.retry_after(now, address)
        if retry_after:  # too many wrong keys from this address: not even compared
            response = error_response(429, "too_many_failures",
                                      f"too many failed admin authentications; try again in {retry_after} s")
            response.headers["Retry-After"] = str(retry_after)
            return response
        presented = bearer_token()
        found = match_admin_key(presented)
        if found is None:
            if presented:  # a guess; a request without any key guesses nothing
                throttle.failed(now, address)
            log.warning("admin request refused: no valid key",
                        extra={"path": request.path, "method": request.method, "remote": request.remote_addr})
            return unauthorized("a valid admin key is required")
        label, scope = found
        if scope is not None and (acts_on is None or acts_on(kwargs) != [scope]):
            log.warning("admin request refused: key for another event",
                        extra={"admin_key": f"#{label}", "path": request.path, "method": request.method})
            return unauthorized("this admin key is not valid for this request")
        g.admin_key_index = label
        log.info("admin action", extra={"admin_key": f"#{label}", "path": request.path, "method": request.method})
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
