"""Admin endpoint for sites: end a visitor's session knowing only their token's ``jti``.

A site behind the waiting room (an OIDC relying party, an API behind the gate) never learns
the secret request id that ``update_session`` takes; it has the access token. After a checkout
it calls::

    POST {admin_prefix}/sessions/end   Authorization: Bearer <admin key>
    {"event_id": "spring-sale", "jti": "<the token's jti>", "status": "completed"}

``200 {"event_id", "status"}`` once; ``409`` if the session already ended; ``404`` for an
unknown or expired session. With the authorizer's session check on, the token stops working.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, g, jsonify

from core.model import Status

from . import params
from .auth import require_admin
from .services import services

blueprint = Blueprint("site_sessions", __name__)
log = logging.getLogger("waitingroom.admin")


@blueprint.post("/sessions/end")
@require_admin
def end_session() -> Response:
    body = params.json_object()
    event_id = params.event_id_from(body.get("event_id"))
    jti = params.body_string(body, "jti")
    assert jti is not None
    status = body.get("status", Status.COMPLETED.value)
    if status not in (Status.COMPLETED.value, Status.ABANDONED.value):
        raise params.BadRequest("'status' must be 'completed' or 'abandoned'")
    ticket = services().room.end_session_by_jti(event_id, jti, status)
    log.info(
        "admin end_session on %s",
        event_id,
        extra={"admin_key": f"#{g.get('admin_key_index')}", "action": "end_session", "event_id": event_id,
               "status": ticket.status.value},
    )
    return jsonify(event_id=event_id, status=ticket.status.value)
