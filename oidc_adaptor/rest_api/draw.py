"""An event's public draw document: ``GET /events/<event_id>/draw``.

The document (:meth:`core.room.WaitingRoom.draw_document`) holds what anyone needs to check a
random draw: the commitment published before the opening, and from the opening on the revealed
secret, the draw's size and the public ticket ids of the pre-queue in arrival order (never a
request id). ``waitingroom verify-draw`` and the visitors' check page
(``/events/<event_id>/draw/verify``) recompute every position from it.

It is public and the same for everyone, so caches keep it: a short ``max-age`` before the
opening (``[server] status_max_age``: the opening time may still move), a long one after it,
when it no longer changes until the event is reset. A strong ``ETag`` and ``304`` on
``If-None-Match`` (RFC 9110, sections 8.8.3 and 13.1.2) spare the list's bytes on revalidation.
Each worker serialises an open draw's list once and keeps the bytes while the draw stays the
same (a draw of a million places is about 30 MB of JSON). 404 for an unknown event; an event
without a draw answers ``"state": "none"`` (fifo, no opening time) with null draw fields.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Response, current_app

from oidc_adaptor.plumbing import params, status_document
from oidc_adaptor.plumbing.compact_json import json_bytes
from oidc_adaptor.plumbing.counter_cache import Rendered
from oidc_adaptor.plumbing.services import services

from .views import blueprint

OPEN_MAX_AGE = 3600
"""Seconds caches keep an open draw's document: it changes only when an operator resets the event."""
EXTENSION = "waitingroom_draw_documents"
_BUILDING = threading.Lock()
"""One document built at a time per worker: the first requests after an opening all miss the
cache, and a million-place list built by each of them at once would multiply its memory."""


def _cache() -> dict[str, tuple[Any, Rendered]]:
    cache: dict[str, tuple[Any, Rendered]] = current_app.extensions.setdefault(EXTENSION, {})
    return cache


def rendered(event_id: str) -> tuple[Rendered, bool]:
    """The event's draw document as bytes and whether the draw is open. Kept per worker while the
    opening's state (state, opening time, commitment, opening instant) stays the same, which
    one store read tells; raises ``UnknownEvent`` (404)."""
    room = services().room
    opening = room.opening(event_id)
    key = (opening.state, opening.opens_at, opening.commitment, opening.opened_at)
    kept = _cache().get(event_id)
    if kept is None or kept[0] != key:
        with _BUILDING:
            kept = _cache().get(event_id)
            if kept is None or kept[0] != key:
                kept = _cache()[event_id] = (key, Rendered.of(json_bytes(room.draw_document(event_id))))
    return kept[1], opening.state == "open"


@blueprint.get("/events/<event_id>/draw")
def event_draw(event_id: str) -> Response:
    """The event's public draw document (see the module docstring), cacheable, with an ETag."""
    body, is_open = rendered(params.event_id_from(event_id, "event id in the path"))
    return status_document.cacheable_response(body, OPEN_MAX_AGE if is_open else None)
