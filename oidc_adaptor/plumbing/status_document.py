"""An event's status document: what every waiting visitor polls, the same bytes for all of them.

``GET /events/<event_id>/status`` answers, as JSON::

    {"event_id": "spring-sale", "serving_counter": 1200, "last_position": 5300, "waiting": 4100,
     "admission_rate": 5.0, "paused": false, "start_at": null, "end_at": null,
     "message": {"text": "Tickets for Friday are sold out.", "expires_at": 1767229200},
     "opens_at": null, "queueing": "fifo", "draw_state": "none", "pre_queue_size": null,
     "server_time": 1767225600}

``admission_rate`` is visitors admitted per second over the last five minutes (what the waiting
page's estimate divides by; 0 when nobody was admitted lately); ``start_at``/``end_at`` are the
admission window of a periodic policy in Unix seconds, or null; ``server_time`` (Unix seconds)
is when this copy was rendered, so a page can tell how old it is and how its own clock is off.
``opens_at`` is the event's opening time (Unix seconds, rounded up to the whole second; null
without one), ``queueing`` ``"fifo"`` or ``"random_before_opening"``, ``draw_state`` ``"none"``
(no opening time), ``"pre_queue"`` (nobody is admitted before the opening; in a random event the
order is drawn then) or ``"open"``, and ``pre_queue_size`` the places taken before the opening
(null when not known: no opening time, or a fifo event after it); see :mod:`core.opening`.
``message`` is the operator's notice to the line (:mod:`core.messages`; plain text, at most 500
characters, ``expires_at`` in Unix seconds or null), or null when there is none or it expired:
it reaches every visitor with the poll they make anyway.

The document depends on the event only: no cookie is read and none is set. It is served with
``Cache-Control: public, max-age=N, s-maxage=N`` (``[server] status_max_age``), a strong
``ETag`` and ``304 Not Modified`` for a matching ``If-None-Match`` (RFC 9110, sections 8.8.3 and
13.1.2; RFC 9111, section 5.2.2), so browsers, the nginx front (``deploy/nginx``) and CloudFront
answer the polls and the origin renders it once per event and window. Each worker renders it at
most once per window too (:meth:`oidc_adaptor.plumbing.counter_cache.CounterCache.document`).

Nothing is granted from it: a page that sees the serving counter reach its place goes back to
``/authorize``, which asks the store.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Response, request

from core.messages import OperatorMessage, shown
from core.model import AdmissionPolicy, Counters
from core.opening import Opening, OpeningState

from . import counter_cache
from .compact_json import json_bytes
from .services import services


def document(event_id: str, counters: Counters, admission_rate: float, policy: AdmissionPolicy, paused: bool,
             now: float, message: OperatorMessage | None = None, opening: Opening | None = None) -> dict[str, Any]:
    """The status document of one event as a JSON object (see the module docstring for the fields)."""
    opens_at = None if opening is None or opening.opens_at is None else math.ceil(opening.opens_at)
    return {
        "event_id": event_id,
        "serving_counter": counters.serving,
        "last_position": counters.last_position,
        "waiting": counters.waiting,
        "admission_rate": round(admission_rate, 4),
        "paused": paused,
        "start_at": None if policy.start_at is None else int(policy.start_at),
        "end_at": None if policy.end_at is None else int(policy.end_at),
        "message": _message_body(shown(message, now)),
        "opens_at": opens_at,
        "queueing": "fifo" if opening is None else opening.queueing.value,
        "draw_state": (OpeningState.NONE if opening is None else opening.state).value,
        "pre_queue_size": None if opening is None else opening.pre_queue_size,
        "server_time": int(now),
    }


def _message_body(message: OperatorMessage | None) -> dict[str, Any] | None:
    return None if message is None else message.as_dict()


def render(event_id: str) -> bytes:
    """The event's document from this worker's counter cache. Raises ``UnknownEvent`` (404)."""
    cache = counter_cache.for_app()
    counters = cache.counters(event_id)
    state = cache.event_state(event_id)
    body = document(event_id, counters, cache.admission_rate(event_id), state.policy, state.paused,
                    services().clock.now(), state.message, services().room.opening(event_id))
    return json_bytes(body)


def current(event_id: str) -> counter_cache.Rendered:
    """The event's document as this worker last rendered it, at most ``status_max_age`` seconds old."""
    return counter_cache.for_app().document(event_id, services().settings.server.status_max_age, render)


def cacheable_response(rendered: counter_cache.Rendered, max_age: int | None = None) -> Response:
    """``rendered`` as a public JSON answer any cache may keep for ``max_age`` seconds (default
    ``[server] status_max_age``), or ``304 Not Modified`` (no body) when the request's
    ``If-None-Match`` names it."""
    if max_age is None:
        max_age = services().settings.server.status_max_age
    etag = f'"{rendered.etag}"'
    headers = {"Cache-Control": f"public, max-age={max_age}, s-maxage={max_age}", "ETag": etag}
    if "If-None-Match" in request.headers and request.if_none_match.contains_weak(rendered.etag):
        return Response(status=304, headers=headers)
    return Response(rendered.body, mimetype="application/json", headers=headers)
