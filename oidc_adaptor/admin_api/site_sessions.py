"""Sessions seen from a site, which knows a visitor only by their token's ``jti``.

A site behind the waiting room (an OIDC relying party, an API behind the gate) never learns
the secret request id that ``update_session`` takes; it has the access token. After a checkout
it calls::

    POST {admin_prefix}/sessions/end   Authorization: Bearer <admin key>
    {"event_id": "spring-sale", "jti": "<the token's jti>", "status": "completed"}

``200 {"event_id", "status"}`` once; ``409`` if the session already ended; ``404`` for an
unknown or expired session. With the authorizer's session check on, the token stops working.

That check (``WAITINGROOM_SESSION_STATUS_URL`` of the authorizer and the site gate) asks::

    GET /session_status?event_id={event_id}&jti={jti}
    200 {"event_id", "status": "issued" | "completed" | ..., "active": true | false}
    404 unknown session (never issued, or its token expired long ago)

It needs no key: the ``jti`` is random (128 bits) and known only to the token's holder and the
sites it was shown to, and the answer reveals nothing but whether that session still runs.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, g, jsonify, request

from core.model import Status
from oidc_adaptor.plumbing import params
from oidc_adaptor.plumbing.auth import body_field, require_event_admin
from oidc_adaptor.plumbing.services import services

blueprint = Blueprint("site_sessions", __name__)
public_blueprint = Blueprint("session_status", __name__)
log = logging.getLogger("waitingroom.admin")


@blueprint.post("/sessions/end")
@require_event_admin(body_field("event_id"))
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


@public_blueprint.get("/session_status")
def session_status() -> Response:
    event_id = params.event_id_from(request.args.get("event_id"))
    ticket = services().room.session_ticket(event_id, request.args.get("jti", ""))
    response = jsonify(event_id=event_id, status=ticket.status.value, active=ticket.status is Status.ISSUED)
    response.headers["Cache-Control"] = "no-store"
    return response
