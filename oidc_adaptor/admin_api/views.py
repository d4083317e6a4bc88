"""The admin REST API (under ``[server] admin_prefix``, default ``/admin``).

Every view requires ``Authorization: Bearer <admin key>`` (:func:`oidc_adaptor.plumbing.auth.require_admin`).
The first six endpoints keep the paths and field names of the AWS solution's authenticated API;
the ``/events`` endpoints are the operator's view of each event. Every change is logged with the
index of the admin key used, never the key, a token or a request id.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, g, jsonify

from core.admission import OVERRIDABLE
from core.messages import OperatorMessage, shown
from core.model import AdmissionPolicy, Status
from core.room import MAX_INCREMENT, WaitingRoom
from oidc_adaptor.plumbing import counter_cache, params
from oidc_adaptor.plumbing.auth import body_field, path_event, query_event, require_admin, require_event_admin
from oidc_adaptor.plumbing.services import services

blueprint = Blueprint("admin", __name__)
log = logging.getLogger("waitingroom.admin")

MAX_EXPIRED_LIST = 10_000
_BODY_EVENT = body_field("event_id")
MAX_UNIX_SECONDS = 2**40
"""Bound of a time given in Unix seconds (a finite number a float holds exactly)."""
AWS_SESSION_STATUS = {1: Status.COMPLETED, -1: Status.ABANDONED}
"""The AWS solution's numeric session statuses, still accepted by update_session."""


def _audit(action: str, event_id: str, **details: Any) -> None:
    log.info(
        "admin %s on %s",
        action,
        event_id,
        extra={"admin_key": f"#{g.get('admin_key_index')}", "action": action, "event_id": event_id, **details},
    )


def _room() -> WaitingRoom:
    return services().room


def _policy_body(policy: AdmissionPolicy) -> dict[str, Any]:
    return {
        "strategy": policy.strategy.value,
        "increment_by": policy.increment_by,
        "every": policy.every,
        "max_active": policy.max_active,
        "start_at": policy.start_at,
        "end_at": policy.end_at,
    }


# -- AWS-compatible endpoints --------------------------------------------------------------------


@blueprint.post("/increment_serving_counter")
@require_event_admin(_BODY_EVENT)
def increment_serving_counter() -> Response:
    """Move the serving counter by ``increment_by`` (may be negative); bounded to [0, last position]."""
    body = params.json_object()
    event_id = params.event_id_from(body.get("event_id"))
    by = params.body_int(body, "increment_by", minimum=-MAX_INCREMENT, maximum=MAX_INCREMENT)
    assert by is not None
    serving = _room().advance(event_id, by)
    counter_cache.for_app().counters_changed(event_id)
    _audit("increment_serving_counter", event_id, increment_by=by, serving_counter=serving)
    return jsonify(event_id=event_id, serving_num=serving, serving_counter=serving)


@blueprint.post("/update_session")
@require_event_admin(_BODY_EVENT)
def update_session() -> Response:
    """End an issued session as ``completed`` or ``abandoned`` (AWS: 1 / -1), once; 409 otherwise."""
    body = params.json_object()
    event_id = params.event_id_from(body.get("event_id"))
    request_id = params.request_id_from(body.get("request_id"))
    raw = body.get("status")
    status: Status | str
    if isinstance(raw, int) and not isinstance(raw, bool) and raw in AWS_SESSION_STATUS:
        status = AWS_SESSION_STATUS[raw]
    elif isinstance(raw, str) and raw in (Status.COMPLETED.value, Status.ABANDONED.value):
        status = raw
    else:
        raise params.BadRequest("'status' must be 'completed' or 'abandoned' (or 1 / -1)")
    ticket = _room().end_session(event_id, request_id, status)
    _audit("update_session", event_id, status=ticket.status.value)
    return jsonify(event_id=event_id, request_id=request_id, status=ticket.status.value)


@blueprint.get("/expired_tokens")
@require_event_admin(query_event)
def expired_tokens() -> Response:
    """Request ids of expired places and timed-out sessions, oldest first (a JSON array, as in AWS)."""
    event_id = params.query_event_id()
    return jsonify(_room().expired_request_ids(event_id, MAX_EXPIRED_LIST))


@blueprint.get("/num_active_tokens")
@require_event_admin(query_event)
def num_active_tokens() -> Response:
    """Sessions holding a slot: admitted and not yet expired, or issued and not ended or timed out."""
    event_id = params.query_event_id()
    counters = _room().counters(event_id)
    return jsonify(event_id=event_id, active_tokens=counters.active)


@blueprint.post("/reset_initial_state")
@require_event_admin(_BODY_EVENT)
def reset_initial_state() -> Response:
    """Forget everything of the event (:meth:`core.room.WaitingRoom.reset`). An optional
    ``opens_at`` (POSIX seconds or an ISO 8601 date-time with an offset, as the opening endpoint
    takes; for a ``random_before_opening`` event, in the future, else 400) starts the event again
    with that opening time, in the same step: a random event is back in its pre-queue with a new
    commitment even when its configured opening has passed."""
    body = params.json_object()
    event_id = params.event_id_from(body.get("event_id"))
    opens_at = params.body_instant(body, "opens_at")
    _room().reset(event_id, opens_at)
    counter_cache.for_app().forget(event_id)
    _audit("reset_initial_state", event_id, opens_at=opens_at)
    return jsonify(event_id=event_id, message="Reset completed")


@blueprint.post("/generate_token")
@require_event_admin(_BODY_EVENT)
def generate_token() -> Response:
    """Tokens for an admitted visitor, optionally with a custom ``validity_period`` (seconds)."""
    body = params.json_object()
    event_id = params.event_id_from(body.get("event_id"))
    request_id = params.request_id_from(body.get("request_id"))
    validity = params.body_int(body, "validity_period", required=False, minimum=1, maximum=7 * 24 * 3600)
    issued = _room().issue_tokens(event_id, request_id, validity)
    _audit("generate_token", event_id, validity_period=validity)
    return jsonify(issued.as_dict())


# -- operator endpoints ---------------------------------------------------------------------------


@blueprint.get("/events")
@require_admin
def list_events() -> Response:
    """Every event with its configured admission and what applies now: ``effective_admission``
    (the configured policy with the operators' ``overrides`` applied) and ``paused``."""
    room = _room()
    events = []
    for settings in room.events.values():
        overrides = room.overrides(settings.event_id)
        events.append({
            "event_id": settings.event_id,
            "name": settings.display_name,
            "token_validity": settings.token_validity,
            "queue_position_expiry": settings.queue_position_expiry,
            "incr_serving_on_expiry": settings.incr_serving_on_expiry,
            "admission": _policy_body(settings.admission),
            "effective_admission": _policy_body(room.policy(settings.event_id)),
            "overrides": overrides,
            "paused": room.is_paused(settings.event_id),
            "opens_at": settings.opens_at,
            "queueing": settings.queueing.value,
            "opening": room.opening(settings.event_id).as_dict(),
        })
    return jsonify(events=events)


def _path_event(event_id: str) -> str:
    event_id = params.event_id_from(event_id, "event id in the path")
    _room().event(event_id)
    return event_id


@blueprint.get("/events/<event_id>/counts")
@require_event_admin(path_event)
def event_counts(event_id: str) -> Response:
    """Every counter of one event, its admission rate over 5 minutes, pause state, effective policy
    and the operator message visitors see (or null)."""
    event_id = _path_event(event_id)
    room = _room()
    state = room.event_state(event_id)
    return jsonify(
        event_id=event_id,
        **room.counters(event_id).as_dict(),
        admission_rate=round(room.admission_rate(event_id), 3),
        paused=state.paused,
        policy=_policy_body(state.policy),
        configured_policy=_policy_body(room.event(event_id).admission),
        overrides=room.overrides(event_id),
        message=_message_body(shown(state.message, services().clock.now())),
        opening=room.opening(event_id).as_dict(),
    )


def _message_body(message: OperatorMessage | None) -> dict[str, Any] | None:
    return None if message is None else message.as_dict()


@blueprint.post("/events/<event_id>/pause")
@require_event_admin(path_event)
def pause(event_id: str) -> Response:
    """Stop automatic admission (the admin API can still move the counter)."""
    return _set_paused(event_id, True)


@blueprint.post("/events/<event_id>/resume")
@require_event_admin(path_event)
def resume(event_id: str) -> Response:
    return _set_paused(event_id, False)


def _set_paused(event_id: str, paused: bool) -> Response:
    event_id = _path_event(event_id)
    _room().set_paused(event_id, paused)
    counter_cache.for_app().counters_changed(event_id)  # the status document shows the pause at once here
    _audit("pause" if paused else "resume", event_id)
    return jsonify(event_id=event_id, paused=paused)


@blueprint.post("/events/<event_id>/admission")
@require_event_admin(path_event)
def set_admission(event_id: str) -> Response:
    """Change the admission policy at run time; a field set to null returns to the configured value.

    ``start_at`` / ``end_at`` take an ISO 8601 date-time with an offset or POSIX seconds, or ``""``
    to run without that bound whatever the configuration says."""
    event_id = _path_event(event_id)
    body = params.json_object()
    allowed = OVERRIDABLE
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise params.BadRequest(f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    if not body:
        raise params.BadRequest(f"give at least one of: {', '.join(allowed)}")
    values: dict[str, int | float | str | None] = {}
    if "strategy" in body:
        values["strategy"] = params.body_string(body, "strategy", required=False)
    for name in ("increment_by", "max_active"):
        if name in body:
            values[name] = params.body_int(body, name, required=False, minimum=0, maximum=MAX_INCREMENT)
    if "every" in body:
        values["every"] = params.body_number(body, "every")
    for name in ("start_at", "end_at"):
        if name in body:
            values[name] = params.body_instant(body, name)
    policy = _room().set_rate(event_id, **values)
    _audit("set_admission", event_id, changes={k: v for k, v in values.items()})
    return jsonify(event_id=event_id, policy=_policy_body(policy))


@blueprint.post("/events/<event_id>/message")
@require_event_admin(path_event)
def set_message(event_id: str) -> Response:
    """Show a message to everyone waiting for the event: ``{"text": str, "expires_at": Unix
    seconds | null}``; an empty ``text`` clears it. Stored in the store, so every worker's status
    document carries it within ``[server] status_max_age`` seconds. 400 for text over 500
    characters, control characters, or an expiry not in the future."""
    event_id = _path_event(event_id)
    body = params.json_object()
    unknown = sorted(set(body) - {"text", "expires_at"})
    if unknown:
        raise params.BadRequest(f"unknown field(s): {', '.join(unknown)}; allowed: text, expires_at")
    text = params.body_string(body, "text")
    assert text is not None
    expires_at = params.body_int(body, "expires_at", required=False, minimum=0, maximum=MAX_UNIX_SECONDS)
    message = _room().set_message(event_id, text, expires_at)
    counter_cache.for_app().counters_changed(event_id)  # this worker's status document shows it at once
    # The text is the operator's own words for the public page; the audit notes only its size.
    _audit("set_message", event_id, cleared=message is None, length=0 if message is None else len(message.text),
           expires_at=None if message is None else message.expires_at)
    return jsonify(event_id=event_id, message=_message_body(message))


@blueprint.post("/events/<event_id>/opening")
@require_event_admin(path_event)
def move_opening(event_id: str) -> Response:
    """Move the opening time (:meth:`core.room.WaitingRoom.set_opens_at`): ``{"opens_at": ISO
    8601 date-time with an offset | POSIX seconds | "" (a fifo event: no opening time) | null
    (back to the configured time)}``. 409 once the event has opened (a draw's secret is out)."""
    event_id = _path_event(event_id)
    body = params.json_object()
    if set(body) != {"opens_at"}:
        raise params.BadRequest("give exactly one field: opens_at (a date-time, POSIX seconds, \"\" or null)")
    opening = _room().set_opens_at(event_id, params.body_instant(body, "opens_at"))
    counter_cache.for_app().counters_changed(event_id)  # this worker's status document shows it at once
    _audit("set_opens_at", event_id, opens_at=opening.opens_at)
    return jsonify(event_id=event_id, opening=opening.as_dict())


@blueprint.post("/events/<event_id>/open")
@require_event_admin(path_event)
def open_now(event_id: str) -> Response:
    """Open the event now (:meth:`core.room.WaitingRoom.open_now`): the opening time becomes now
    and a random event's draw happens at once, one store write. Idempotent: an event already
    open answers its opening unchanged. 409 when the draw cannot open (places were admitted in
    arrival order before it)."""
    event_id = _path_event(event_id)
    opening = _room().open_now(event_id)
    counter_cache.for_app().counters_changed(event_id)
    _audit("open_now", event_id, pre_queue_size=opening.pre_queue_size)
    return jsonify(event_id=event_id, opening=opening.as_dict())
