"""The public REST API, on the paths of the "Virtual Waiting Room on AWS" solution.

Field names follow that solution so its clients keep working; the semantics are fixed: numbers
are JSON numbers, a place is assigned synchronously unless entry goes through a queue (then, as
on AWS, ``GET /queue_num`` answers 202 until the queued entry is in line), and errors are 4xx
with ``{"error", "message"}``. Each view parses its input, calls one use case of
:class:`core.room.WaitingRoom`, and serialises the result. The request id in a response is the
secret that proves a place in line; it is never logged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, jsonify, request

from core.errors import PositionExpired, UnknownRequest
from core.model import Counters, PositionView, Queueing, Status
from oidc_adaptor.background import queued_entry
from oidc_adaptor.plumbing import cors, counter_cache, params, ratelimit, status_document
from oidc_adaptor.plumbing.compact_json import json_bytes, json_response
from oidc_adaptor.plumbing.services import services

blueprint = Blueprint("api", __name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"


def _position_body(view: PositionView) -> dict[str, Any]:
    return {
        "event_id": view.event_id,
        "queue_number": view.position,
        "serving_counter": view.serving,
        "ahead": view.ahead,
        "status": view.status.value,
        "entry_time": int(view.entered_at),
    }


@blueprint.post("/assign_queue_num")
def assign_queue_num() -> Response:
    """Enter the line. A retry with the same idempotency key returns the same place and request id."""
    body = params.json_object()
    event_id = params.event_id_from(body.get("event_id"))
    header_key = request.headers.get(IDEMPOTENCY_HEADER)
    body_key = params.body_string(body, "idempotency_key", required=False)
    if header_key is not None and body_key is not None and header_key != body_key:
        raise params.BadRequest("the Idempotency-Key header and the idempotency_key field differ")
    key = header_key if header_key is not None else body_key
    services().room.check_enter(event_id, key)  # 404/400 before the entry is counted
    ratelimit.check_entry()  # only an entry that could take a place counts ([server] enter_rate_limit)
    queue = queued_entry.enqueuer()
    if queue is not None:
        # 200 with the request id, as the AWS solution's API answers: its clients accept nothing else.
        request_id = queued_entry.enter_via_queue(queue, services().room, services().store, event_id, key)
        return jsonify(api_request_id=request_id, request_id=request_id, event_id=event_id, status="queued")
    room = services().room
    ticket = room.enter(event_id, key)
    if room.event(event_id).queueing is Queueing.RANDOM_BEFORE_OPENING:
        # Whether the place is in the pre-queue is known only after the store's step (the draw
        # may open between two steps): the place's view says, read after the opening's state.
        view = room.position(event_id, ticket.request_id)
        if view.pre_queue:
            return json_response({
                "api_request_id": ticket.request_id,
                "request_id": ticket.request_id,
                "event_id": event_id,
                "status": PRE_QUEUE,
                "opens_at": _opens_at(view),
                "arrival": view.arrival,
                "entry_time": int(ticket.entered_at),
            })
        ticket = replace(ticket, position=view.position, status=view.status)
    return json_response({
        "api_request_id": ticket.request_id,
        "request_id": ticket.request_id,
        "event_id": event_id,
        "queue_number": ticket.position,
        "entry_time": int(ticket.entered_at),
        "status": ticket.status.value,
    })


PRE_QUEUE = "pre_queue"
"""The REST status of a place in a random event's pre-queue: no position until the draw."""
MAX_PRE_QUEUE_RETRY_AFTER = 60
"""The longest Retry-After for a pre-queue place: the opening may be brought forward."""


def _opens_at(view: PositionView) -> int | None:
    """The opening time in whole Unix seconds, rounded up as the status document rounds it."""
    return None if view.opens_at is None else math.ceil(view.opens_at)


def _pre_queue_answer(view: PositionView, request_id: str, now: float) -> Response:
    """202 for a place in the pre-queue, the shape of a queued entry's answer (which clients of
    the AWS solution already handle by asking again later) with ``opens_at``; Retry-After runs
    to the opening, at most :data:`MAX_PRE_QUEUE_RETRY_AFTER` seconds."""
    opens_at = view.opens_at
    wait = QUEUED_RETRY_AFTER if opens_at is None else int(min(MAX_PRE_QUEUE_RETRY_AFTER, max(1, opens_at - now + 1)))
    response = json_response({
        "event_id": view.event_id,
        "request_id": request_id,
        "status": PRE_QUEUE,
        "opens_at": _opens_at(view),
        "arrival": view.arrival,
        "entry_time": int(view.entered_at),
        "message": "the place is in the pre-queue: its position is drawn at the opening; ask again after it",
    })
    response.status_code = 202
    response.headers["Retry-After"] = str(wait)
    return response


QUEUED_RETRY_AFTER = 1
"""Seconds a client should wait before asking again about a queued entry."""


@blueprint.get("/queue_num")
def queue_num() -> Response:
    """The visitor's place; 202 ``{"status": "queued"}`` while a queued entry is not in line yet."""
    event_id = params.query_event_id()
    request_id = params.query_request_id()
    try:
        view = counter_cache.for_app().position(event_id, request_id)
    except UnknownRequest:
        room = services().room
        if not queued_entry.is_queued(services().store, event_id, request_id, room.clock.now()):
            raise
        response = jsonify(event_id=event_id, request_id=request_id, status="queued",
                           message="the entry is queued and not in line yet: ask again shortly")
        response.status_code = 202
        response.headers["Retry-After"] = str(QUEUED_RETRY_AFTER)
        return response
    if view.pre_queue:
        return _pre_queue_answer(view, request_id, services().clock.now())
    return json_response(_position_body(view))


def _counter_answer(field: str, value: Callable[[Counters], int]) -> Response:
    """``{"event_id": ..., field: value(counters)}`` from the per-worker cache, serialised once per
    cache window (``field`` names the cached body), with the status document's cache headers:
    every client of one event asks the same URL and gets the same bytes."""
    event_id = params.query_event_id()
    rendered = counter_cache.for_app().rendered(
        event_id, field, lambda counters: json_bytes({"event_id": event_id, field: value(counters)}))
    return status_document.cacheable_response(rendered)


@blueprint.get("/events/<event_id>/status")
def event_status(event_id: str) -> Response:
    """The event's status document (:mod:`oidc_adaptor.plumbing.status_document`): what waiting
    pages and clients poll, publicly cacheable, with an ``ETag`` and ``304`` on ``If-None-Match``."""
    return status_document.cacheable_response(status_document.current(params.event_id_from(event_id)))


@blueprint.get("/serving_num")
def serving_num() -> Response:
    return _counter_answer("serving_counter", lambda counters: counters.serving)


@blueprint.get("/waiting_num")
def waiting_num() -> Response:
    return _counter_answer("waiting_num", lambda counters: counters.waiting)


@blueprint.get("/queue_pos_expiry")
def queue_pos_expiry() -> Response:
    """Seconds left for an admitted visitor to claim tokens before the place expires.

    ``expires_in`` is null while the visitor still waits, once tokens are issued, and when the
    event has expiry turned off. An expired place answers 410.
    """
    event_id = params.query_event_id()
    request_id = params.query_request_id()
    room = services().room
    view = room.position(event_id, request_id)
    period = room.event(event_id).queue_position_expiry
    deadline = room.claim_deadline(event_id)  # what the token step enforces (period + clock skew)
    expires_at: float | None = None
    if view.status is Status.EXPIRED:
        raise _expired()
    if view.status is Status.ADMITTED and deadline > 0 and view.admitted_at is not None:
        expires_at = view.admitted_at + deadline
        if expires_at <= room.clock.now():
            raise _expired()
    return jsonify(
        event_id=event_id,
        status=view.status.value,
        expires_in=None if expires_at is None else max(0, int(expires_at - room.clock.now())),
        expires_at=None if expires_at is None else int(expires_at),
        queue_position_expiry=period,
    )


def _expired() -> PositionExpired:
    return PositionExpired("this place in line expired before its tokens were claimed")


@blueprint.get("/public_key")
def public_key() -> Response:
    """The current signing key as a JWK (the AWS solution's shape), or PEM with ``format=pem``."""
    event_id = params.query_string("event_id", required=False)
    if event_id is not None:
        services().room.event(params.event_id_from(event_id))
    fmt = params.query_string("format", required=False) or "jwk"
    signer = services().signer
    if fmt == "pem":
        return Response(signer.current_public_pem(), mimetype="application/x-pem-file")
    if fmt != "jwk":
        raise params.BadRequest("'format' must be 'jwk' or 'pem'")
    return jsonify(services().keys().current(services().clock.now()).public_jwk)


@blueprint.post("/generate_token")
def generate_token() -> Response:
    """Tokens for an admitted visitor: 403 while waiting, 410 once expired or ended. Idempotent."""
    body = params.json_object()
    event_id = params.event_id_from(body.get("event_id"))
    request_id = params.request_id_from(body.get("request_id"))
    issued = services().room.issue_tokens(event_id, request_id)
    return jsonify(issued.as_dict())


@blueprint.get("/.well-known/jwks.json")
def jwks() -> Response:
    """The signing keys (RFC 7517), the OpenID provider's ``jwks_uri``: readable from every
    origin, as discovery is, for relying parties that check id tokens in the browser."""
    response = jsonify(services().signer.jwks())
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return cors.allow_public_clients(request, response)
