"""An event's status document: what every waiting visitor polls, the same bytes for all of them.

``GET /events/<event_id>/status`` answers, as JSON::

    {"event_id": "spring-sale", "serving_counter": 1200, "last_position": 5300, "waiting": 4100,
     "admission_rate": 5.0, "paused": false, "start_at": null, "end_at": null,
     "server_time": 1767225600}

``admission_rate`` is visitors admitted per second over the last five minutes (what the waiting
page's estimate divides by; 0 when nobody was admitted lately); ``start_at``/``end_at`` are the
admission window of a periodic policy in Unix seconds, or null; ``server_time`` (Unix seconds)
is when this copy was rendered, so a page can tell how old it is and how its own clock is off.

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

from typing import Any

from flask import Response, request

from core.model import AdmissionPolicy, Counters

from . import counter_cache
from .compact_json import json_bytes
from .services import services


def document(event_id: str, counters: Counters, admission_rate: float, policy: AdmissionPolicy, paused: bool,
             now: float) -> dict[str, Any]:
    """The status document of one event as a JSON object (see the module docstring for the fields)."""
    return {
        "event_id": event_id,
        "serving_counter": counters.serving,
        "last_position": counters.last_position,
        "waiting": counters.waiting,
        "admission_rate": round(admission_rate, 4),
        "paused": paused,
        "start_at": None if policy.start_at is None else int(policy.start_at),
        "end_at": None if policy.end_at is None else int(policy.end_at),
        "server_time": int(now),
    }


def render(event_id: str) -> bytes:
    """The event's document from this worker's counter cache. Raises ``UnknownEvent`` (404)."""
    cache = counter_cache.for_app()
    counters = cache.counters(event_id)
    policy, paused = cache.admission_state(event_id)
    body = document(event_id, counters, cache.admission_rate(event_id), policy, paused, services().clock.now())
    return json_bytes(body)


def current(event_id: str) -> counter_cache.Rendered:
    """The event's document as this worker last rendered it, at most ``status_max_age`` seconds old."""
    return counter_cache.for_app().document(event_id, services().settings.server.status_max_age, render)


def cacheable_response(rendered: counter_cache.Rendered) -> Response:
    """``rendered`` as a public JSON answer any cache may keep for ``[server] status_max_age``
    seconds, or ``304 Not Modified`` (no body) when the request's ``If-None-Match`` names it."""
    max_age = services().settings.server.status_max_age
    etag = f'"{rendered.etag}"'
    headers = {"Cache-Control": f"public, max-age={max_age}, s-maxage={max_age}", "ETag": etag}
    if "If-None-Match" in request.headers and request.if_none_match.contains_weak(rendered.etag):
        return Response(status=304, headers=headers)
    return Response(rendered.body, mimetype="application/json", headers=headers)
